"""The DVC project a goldkeeper pipeline lives in: the ``dvc`` CLI that ``init`` runs, and the project enclosing a
folder (``init`` in ``services/rag/`` of a repository that has its own DVC project joins that project)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from goldkeeper.errors import GoldkeeperError


class InitError(GoldkeeperError):
    """init cannot proceed (not a git repository, dvc failed)."""

    exit_code = 2


def dvc_executable() -> str:
    """The ``dvc`` of this Python environment (next to sys.executable), else the one on PATH."""
    beside = Path(sys.executable).parent / "dvc"
    if beside.exists():
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise InitError("dvc is not installed: pip install dvc (it comes with goldkeeper)")
    return found


def run_dvc(args: list[str], cwd: Path) -> str:
    """Run the dvc CLI; a failure becomes an InitError with dvc's own last line."""
    cmd = [dvc_executable(), *args]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise InitError(f"`dvc {' '.join(args)}` failed in {cwd}: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return proc.stdout


def enclosing_dvc_project(root: Path, toplevel: Path) -> Path | None:
    """The nearest folder from ``root`` up to the git top level holding a ``.dvc/`` folder (a DVC project)."""
    for folder in (root, *root.parents):
        if (folder / ".dvc").is_dir():
            return folder
        if folder == toplevel:
            break
    return None


def foreign_pipeline(dvc_yaml: Path) -> bool:
    """``dvc_yaml`` is a pipeline without a stage running goldkeeper (the user's own, which init keeps): then
    `dvc repro` runs none of goldkeeper's stages, which init must say rather than list `dvc repro` as the next step."""
    try:
        stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")).get("stages") or {}
        commands = [str(stage.get("cmd", "")) for stage in stages.values()]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return True  # unreadable or not a pipeline: not goldkeeper's either
    return not any(re.match(r"\s*goldkeeper\s", command) for command in commands)
