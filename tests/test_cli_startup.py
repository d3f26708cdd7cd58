"""The lazy root group: `--help` from the command table, each command's module imported when it runs.

Each check runs the command line in a fresh interpreter (``python -c``), since this test process has
long imported every command module; tests/test_architecture.py holds what `--help` may import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from goldkeeper.cli import _register_all
from goldkeeper.cli.main import COMMANDS, cli

SRC = Path(__file__).resolve().parents[1] / "src"

# Runs the command line with the arguments ARGV (after registering every command when LOAD_ALL), then
# prints a JSON line: the exit code and the goldkeeper.cli modules imported.
PROBE = """
import contextlib, json, sys
import goldkeeper.cli
if LOAD_ALL:
    goldkeeper.cli._register_all()
code = 0
try:
    goldkeeper.cli.main(ARGV)
except SystemExit as exc:
    code = exc.code
modules = sorted(name for name in sys.modules if name.startswith("goldkeeper.cli."))
print("\\n" + json.dumps({"code": code, "modules": modules}))
"""


def run_cli(argv: list[str], cwd: Path, *, load_all: bool = False) -> tuple[str, dict]:
    """(stdout before the probe's line, the probe's result) of the command line in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    probe = PROBE.replace("LOAD_ALL", str(load_all)).replace("ARGV", repr(argv))
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    out, _, last = result.stdout.rstrip("\n").rpartition("\n")
    return out, json.loads(last) | {"stderr": result.stderr}


def test_the_table_is_every_command_with_its_own_short_help() -> None:
    _register_all()
    assert set(cli.commands) == set(COMMANDS)
    for name, (_, short_help) in COMMANDS.items():
        assert cli.commands[name].get_short_help_str(limit=10_000) == short_help, name


def test_help_from_the_table_equals_help_with_every_command_loaded(tmp_path: Path) -> None:
    lazy, probe = run_cli(["--help"], tmp_path)
    loaded, _ = run_cli(["--help"], tmp_path, load_all=True)
    assert probe["code"] == 0 and lazy == loaded
    assert probe["modules"] == ["goldkeeper.cli.main"]  # no command module imported
    listed = lazy.split("Commands:", 1)[1]
    assert all(f"\n  {name} " in listed for name in COMMANDS)
    assert "Show what changed in the golden dataset between OLD and NEW." in listed


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    out, probe = run_cli(["schema", "manifest"], tmp_path)
    assert probe["code"] == 0 and json.loads(out)["title"], probe["stderr"]
    assert probe["modules"] == ["goldkeeper.cli.main", "goldkeeper.cli.output", "goldkeeper.cli.verify"]
    _, probe = run_cli(["eval", "--help"], tmp_path)  # eval's subcommands come from two modules
    assert {"goldkeeper.cli.evals", "goldkeeper.cli.grounded"} <= set(probe["modules"])
    assert "goldkeeper.cli.quality" not in probe["modules"]


def test_global_options_after_a_lazily_loaded_command(tmp_path: Path) -> None:
    out, probe = run_cli(["db", "url", "--database-url", "postgresql://gk:secret@db.internal/golden"], tmp_path)
    assert probe["code"] == 0, probe["stderr"]
    assert out.strip() == "postgresql://gk:***@db.internal/golden"


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    _, probe = run_cli(["nosuchcommand"], tmp_path)
    assert probe["code"] == 2 and "No such command 'nosuchcommand'" in probe["stderr"]
