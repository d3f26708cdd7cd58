"""`.pre-commit-hooks.yaml`: the hook definitions parse, and their entries do what they say on a real store."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from golden_support import store_bytes
from verify_helpers import build_store, locate

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _hooks() -> dict[str, dict[str, Any]]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    return {hook["id"]: hook for hook in hooks}


def _run_entry(hook: dict[str, Any], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the hook as pre-commit does with ``pass_filenames: false``: the entry alone, in the repository root."""
    argv = shlex.split(hook["entry"])
    argv[0] = str(BIN / argv[0])  # the console script installed with goldkeeper
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_hook_definitions() -> None:
    hooks = _hooks()
    assert set(hooks) == {"goldkeeper-fmt", "goldkeeper-fmt-check"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["pass_filenames"] is False and hook["language"] == "python"
        assert re.search(hook["files"], "golden/queries/03.json")
        assert not re.search(hook["files"], "src/app.py") and not re.search(hook["files"], "docs/golden/x.json")
    assert shlex.split(hooks["goldkeeper-fmt"]["entry"]) == ["goldkeeper", "fmt"]
    assert shlex.split(hooks["goldkeeper-fmt-check"]["entry"]) == ["goldkeeper", "fmt", "--check"]


def test_hook_entries_on_a_hand_edited_store(project: Path) -> None:
    store = build_store(project)
    relpath = locate(store, "queries", "q0002")
    shard = store / relpath
    shard.write_bytes(shard.read_bytes().replace(b"article 2 say", b"article two say"))
    hooks = _hooks()

    check = _run_entry(hooks["goldkeeper-fmt-check"], project)
    assert check.returncode == 10, check.stdout + check.stderr
    assert "manifest.json" in check.stdout
    edited = store_bytes(store)

    fmt = _run_entry(hooks["goldkeeper-fmt"], project)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert store_bytes(store) != edited and b"article two say" in shard.read_bytes()

    again = _run_entry(hooks["goldkeeper-fmt-check"], project)
    assert again.returncode == 0, again.stdout + again.stderr
    shard.write_bytes(b"[not json\n")
    refused = _run_entry(hooks["goldkeeper-fmt"], project)
    assert refused.returncode == 5 and "[shard.invalid_json]" in refused.stdout
