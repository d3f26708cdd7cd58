"""``goldkeeper show`` recalls a params.yaml and a manifest that validated before (goldkeeper.dataset.known).

Each show runs in a fresh interpreter (``python -c``), as a user's would, so the imports it makes are
its own: the first run validates with pydantic and remembers, the second needs neither pydantic nor
yaml. Whatever did not validate before is validated again, with the errors it always had.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diff_support import commit_all, dataset, git, init_repo, write
from goldkeeper.config import DATABASE_URL_ENV, DEFAULT_PARAMS_FILE
from goldkeeper.config.settings import DIFF_BASE_ENV
from goldkeeper.dataset.known import ENV_NAMES, ENV_PREFIX, PARAMS_FILE, Memo, ParamsInputs

SRC = Path(__file__).resolve().parents[1] / "src"
#: not needed by a show whose params.yaml and manifest validated before
NOT_WHEN_KNOWN = ("pydantic", "yaml", "goldkeeper.config", "goldkeeper.models", "goldkeeper.project")

# Runs `goldkeeper ARGV` and prints, after its output, a JSON line: the exit code and which of WATCHED it imported.
PROBE = """
import json, sys
import goldkeeper.cli
code = 0
try:
    goldkeeper.cli.main(ARGV)
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"code": code, "imported": [m for m in WATCHED if m in sys.modules]}))
"""


def show(repo: Path, home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr, the modules of NOT_WHEN_KNOWN imported) of ``goldkeeper -C repo show ARGS``."""
    probe = PROBE.replace("ARGV", repr(["-C", str(repo), "show", *args])).replace("WATCHED", repr(NOT_WHEN_KNOWN))
    run_env = {k: v for k, v in os.environ.items() if k not in DATABASE_URL_ENV and not k.startswith("GOLDKEEPER_")}
    run_env |= {"PYTHONPATH": str(SRC), "GOLDKEEPER_HOME": str(home), **(env or {})}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=run_env, timeout=120)
    out, _, last = done.stdout.rstrip("\n").rpartition("\n")
    result = json.loads(last)
    return result["code"], out, done.stderr, result["imported"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    init_repo(path)
    analyses, queries = dataset(3, 4)
    write(path, analyses, queries)
    (path / "params.yaml").write_text("dataset:\n  name: known\nembedding:\n  workers: 1\n")
    commit_all(path, "golden v1")
    return path


def test_the_second_show_needs_no_pydantic_and_prints_the_same(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, first, err, imported = show(repo, home, "--json")
    assert code == 0, err
    assert "pydantic" in imported and "goldkeeper.config" in imported  # validated, then remembered
    assert {p.name for p in (home / "cache").iterdir()} >= {"known-params.json", "known-manifests.json"}
    code, second, err, imported = show(repo, home, "--json")
    assert code == 0 and imported == [], err
    assert second == first and json.loads(second)["version"] == json.loads(first)["version"]
    code, text, _, imported = show(repo, home)
    assert code == 0 and imported == [] and f"version         {json.loads(first)['version']}" in text
    code, worktree, err, imported = show(repo, home, "--rev", "WORKTREE", "--json")  # a directory: full settings
    assert code == 0 and "pydantic" in imported, err
    assert {k: v for k, v in json.loads(worktree).items() if k not in ("rev", "commit")} == {
        k: v for k, v in json.loads(first).items() if k not in ("rev", "commit")
    }


def test_an_edited_params_yaml_is_validated_again_with_its_error(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert show(repo, home)[0] == 0
    assert show(repo, home)[3] == []
    # a section show never reads
    (repo / "params.yaml").write_text("dataset:\n  name: known\nembedding:\n  workers: 0\n")
    code, out, err, imported = show(repo, home)
    assert code == 3 and out == "" and "pydantic" in imported
    assert err.strip() == "error: params: embedding.workers: should be auto or a number of processes (1 or more), not 0"
    (repo / "params.yaml").write_text("dataset:\n  name: known\nstore:\n  path: golden\n  shard: 3\n")
    code, _, err, _ = show(repo, home)
    assert code == 3 and err.startswith("error: params: store.shard: Extra inputs are not permitted")
    code, _, err, _ = show(repo, home, env={"GOLDKEEPER_DIFF_BASE": "main"})  # other inputs: validated again too
    assert code == 3 and "store.shard" in err


def test_another_environment_or_params_file_is_validated_again(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert show(repo, home)[0] == 0
    code, _, err, imported = show(repo, home, env={"GOLDKEEPER_DATABASE_URL": "postgresql://localhost/other"})
    assert code == 0 and "pydantic" in imported, err
    other = tmp_path / "other.yaml"
    other.write_text("store:\n  path: elsewhere\n")
    code, _, err, imported = show(repo, home, "--params", str(other))
    assert code != 0 and "pydantic" in imported and "HEAD:elsewhere: no golden store at revision HEAD" in err
    code, _, err, _ = show(repo, home, "--params", str(other))  # remembered: the same store path, the same error
    assert code != 0 and "HEAD:elsewhere: no golden store at revision HEAD" in err


def test_a_manifest_not_seen_before_is_validated(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert show(repo, home)[0] == 0
    manifest = json.loads((repo / "golden" / "manifest.json").read_text())
    manifest["format_version"] = 99
    (repo / "golden" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    git(repo, "commit", "-qam", "a manifest from the future")
    code, out, err, imported = show(repo, home)
    assert code == 5 and out == "" and "pydantic" in imported
    assert "format_version 99 is newer than this goldkeeper understands" in err
    assert show(repo, home, "--rev", "HEAD~1")[3] == []  # the first manifest is still known


def test_a_corrupt_memo_is_empty(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, first, _, _ = show(repo, home, "--json")
    for name, junk in (("known-params.json", {"store_path": 5}), ("known-manifests.json", {"dataset": "forged"})):
        memo = json.loads((home / "cache" / name).read_text())  # the right code, entries not of our making
        memo["entries"] = {key: junk for key in memo["entries"]}
        (home / "cache" / name).write_text(json.dumps(memo))
    code, again, err, imported = show(repo, home, "--json")
    assert code == 0 and again == first and "pydantic" in imported, err
    for name in ("known-params.json", "known-manifests.json"):
        (home / "cache" / name).write_text('{"version": 1, "code": "x", "entries": [')
    code, again, err, imported = show(repo, home, "--json")
    assert code == 0 and again == first and "pydantic" in imported, err
    assert show(repo, home, "--json")[1:] == (first, "", [])  # written anew


def test_a_project_directory_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    run_env = {k: v for k, v in os.environ.items() if k not in DATABASE_URL_ENV and not k.startswith("GOLDKEEPER_")}
    done = subprocess.run(
        [sys.executable, "-c", "import goldkeeper.cli; goldkeeper.cli.main(['-C', 'typo', 'show'])"],
        cwd=tmp_path,
        env=run_env | {"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "typo: no such directory" in done.stderr
    assert not missing.exists()


def test_a_memo_holds_only_for_the_code_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "memo.json"
    Memo(path, "code-1").put("key", {"store_path": "golden"})
    assert Memo(path, "code-1").get("key") == {"store_path": "golden"}
    assert Memo(path, "code-2").get("key") is None
    inputs = ParamsInputs.of(tmp_path, None, None, env={})
    assert inputs.key is not None and inputs.home_path == tmp_path.resolve() / ".goldkeeper"
    assert inputs.recall(Memo(path, "code-1")) is None  # another key


def test_the_memo_key_covers_what_load_settings_reads() -> None:
    assert PARAMS_FILE == DEFAULT_PARAMS_FILE
    for name in (*DATABASE_URL_ENV, DIFF_BASE_ENV, "GOLDKEEPER_HOME"):
        assert name.startswith(ENV_PREFIX) or name in ENV_NAMES, name
