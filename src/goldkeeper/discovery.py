"""Which directory is the project: the nearest one holding params.yaml, found the way git finds ``.git``.

Standard library only: ``goldkeeper show`` finds the project before it decides whether it needs
pydantic (start-up, :mod:`goldkeeper.dataset.known`), so this cannot live in :mod:`goldkeeper.config`.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the file that marks a project's root (and holds its parameters)
PARAMS_FILE = "params.yaml"


def find_project_root(start: Path) -> Path:
    """The nearest directory holding params.yaml, from ``start`` (absolute) up to the top of its git repository;
    else ``start`` itself.

    Run from ``golden/`` or deeper, goldkeeper then reads the project's params.yaml and resolves its
    paths against the project, as git and dvc work from any subdirectory. The search stays inside the
    enclosing git repository (the nearest directory holding ``.git``, a directory or a worktree's file):
    a params.yaml above it belongs to something else. Outside any git repository there is no search
    (a stray params.yaml in /tmp or a home directory must not become every scratch directory's project).
    Nothing found: ``start``, where ``goldkeeper init`` creates one.
    A ``start`` that is no directory (``-C typo``) is not searched from: the command fails on it, as before,
    rather than running quietly on a project above it.
    """
    if not start.is_dir():
        return start
    top = _git_top(start)
    if top is None:
        return start
    for directory in (start, *start.parents):
        # lexists: an entry of that name decides, even when it is unreadable (loading it then says why)
        if os.path.lexists(directory / PARAMS_FILE):
            return directory
        if directory == top:
            break
    return start


def _git_top(start: Path) -> Path | None:
    """The nearest directory from ``start`` upwards holding ``.git``; None outside any git repository."""
    return next((d for d in (start, *start.parents) if os.path.lexists(d / ".git")), None)


__all__ = ["PARAMS_FILE", "find_project_root"]
