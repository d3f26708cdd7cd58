"""The root options (`--database-url`, `--params`, `-C/--project`, `--debug`) are accepted after the subcommand too."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli_support import run_cli as run
from goldkeeper.cli import _register_all
from goldkeeper.cli.main import cli
from verify_helpers import build_store

GLOBAL_FLAGS = {"--database-url", "--params", "-C", "--project", "--debug"}


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, f"{prefix}{name} "))
    return found


def test_every_command_takes_the_global_options() -> None:
    _register_all()
    commands = _commands(cli)
    assert {"verify", "fmt", "db url", "eval retrieval", "baseline record", "import squad"} <= set(commands)
    for name, command in commands.items():
        opts = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert GLOBAL_FLAGS <= opts, name
    _register_all()  # registering again (every main() call does) adds nothing twice
    command = _commands(cli)["verify"]
    assert sum("--debug" in getattr(p, "opts", []) for p in command.params) == 1


def test_database_url_after_the_subcommand(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["db", "url", "--database-url", "postgresql://gk:secret@db.internal:5433/golden"], capsys)
    assert code == 0, err
    assert out.strip() == "postgresql://gk:***@db.internal:5433/golden"
    before = run(["--database-url", "postgresql://a@h1/x", "db", "url"], capsys)[1]
    both = run(["--database-url", "postgresql://a@h1/x", "db", "url", "--database-url", "postgresql://b@h2/y"], capsys)
    assert before.strip() == "postgresql://a@h1/x" and both[1].strip() == "postgresql://b@h2/y"  # the later one wins


def test_params_and_project_after_the_subcommand(
    tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    build_store(project)
    (project / "strict.yaml").write_text("rubric:\n  min_domains: 9\n")
    assert run(["verify"], capsys)[0] == 0
    code, out, _ = run(["verify", "--params", "strict.yaml"], capsys)
    assert code == 5 and "[prompt.domain_diversity]" in out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run(["fmt", "--check", "-C", str(project)], capsys)
    assert code == 0 and f"{project / 'golden'}: already canonical" in out, err
    code, out, _ = run(["verify", "--project", str(project), "--json"], capsys)
    assert code == 0 and '"valid": true' in out


def test_debug_after_the_subcommand(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_store(project)
    code, out, err = run(["verify", "--debug"], capsys)
    assert code == 0 and "valid" in out, err
    (project / "empty").mkdir()
    code, _, err = run(["verify", "empty"], capsys)
    assert code == 5 and "Traceback" not in err
    code, _, err = run(["verify", "empty", "--debug"], capsys)  # --debug: the traceback, same exit code
    assert code == 5 and "Traceback" in err and "VerificationFailed" in err
