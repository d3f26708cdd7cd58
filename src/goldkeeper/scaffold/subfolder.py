"""The workflows of a goldkeeper project in a subfolder of its repository (a monorepo's ``services/rag/``).

GitHub runs only the workflows in the repository's top ``.github/workflows/``: written into the subfolder they
never ran. ``init`` writes them at the top instead, with every ``run:`` step in the subfolder
(``defaults.run.working-directory``) and every path GitHub itself reads (the ``paths:`` filter, ``hashFiles``,
the cache, the uploaded artifacts, the PR comment's file) prefixed with it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from goldkeeper.errors import ConfigError, UsageError

#: the folder names the workflows can hold as they are: inside quotes, in a `paths:` glob and in `hashFiles('...')`
_SAFE = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")

#: per workflow template, the texts naming a path of the project (relative to its root) that GitHub reads from the
#: top of the checkout; ``{p}`` is the subfolder. Each must be in the template: a template edit that drops one
#: fails here, never leaves a path pointing at the top.
_PATHS: dict[str, list[tuple[str, str]]] = {
    "workflows/goldkeeper-pr.yml": [
        *[(f'      - "{path}"\n', f'      - "{{p}}/{path}"\n') for path in ("golden/**", "golden.dvc", "params.yaml")],
        *[(f'      - "{path}"\n', f'      - "{{p}}/{path}"\n') for path in ("dvc.yaml", "dvc.lock", "config/**")],
        ('      - "baselines/**"\n', '      - "{p}/baselines/**"\n'),
        ("hashFiles('golden.dvc')", "hashFiles('{p}/golden.dvc')"),
        ("path: .goldkeeper/embedding-cache\n", "path: {p}/.goldkeeper/embedding-cache\n"),
        (
            "hashFiles('params.yaml', 'golden.dvc', 'golden/**')",
            "hashFiles('{p}/params.yaml', '{p}/golden.dvc', '{p}/golden/**')",
        ),
        ("hashFiles('reports/dataset-diff.md')", "hashFiles('{p}/reports/dataset-diff.md')"),
        ("readFileSync('reports/dataset-diff.md'", "readFileSync('{p}/reports/dataset-diff.md'"),
        (
            "            artifacts/evals\n            reports\n            metrics\n",
            "            {p}/artifacts/evals\n            {p}/reports\n            {p}/metrics\n",
        ),
    ],
    "workflows/goldkeeper-backup.yml": [("hashFiles('golden.dvc')", "hashFiles('{p}/golden.dvc')")],
}


def subfolder_of(root: Path, toplevel: Path) -> str:
    """``root`` relative to the repository's top (``""`` at the top); a name the workflows cannot hold as it is
    (a quote, a glob character, a space) is refused before anything is written."""
    if root == toplevel:
        return ""
    prefix = root.relative_to(toplevel).as_posix()
    if not _SAFE.fullmatch(prefix):
        raise UsageError(
            f"{prefix}: init in a subfolder writes its path into the GitHub workflows, which take only letters, "
            "digits, '.', '_', '-' and '/' there: run init in a folder named so"
        )
    return prefix


def workflow_target(root: Path, toplevel: Path, relpath: str) -> Path:
    """Where a template file goes: the workflows at the top of the repository (the only ones GitHub runs)."""
    return toplevel / relpath if relpath.startswith(".github/") else root / relpath


def shown_path(root: Path, toplevel: Path, relpath: str) -> str:
    """Where a template file goes, as a path from ``root`` (``../../.github/workflows/...`` in a subfolder)."""
    return Path(os.path.relpath(workflow_target(root, toplevel, relpath), root)).as_posix()


def in_subfolder(name: str, text: str, prefix: str) -> str:
    """A workflow template run in the subfolder ``prefix`` (the other templates, and ``""``, unchanged)."""
    if not prefix or name not in _PATHS:
        return text
    for old, new in _PATHS[name]:
        if old not in text:
            raise ConfigError(f"{name} template: no {old.strip()!r} to put in the subfolder")
        text = text.replace(old, new.replace("{p}", prefix))
    defaults = (
        f"defaults:\n  run:\n    # the goldkeeper project's folder\n    working-directory: {json.dumps(prefix)}\n\n"
    )
    if "\njobs:\n" not in text:
        raise ConfigError(f"{name} template: no jobs: to run in the subfolder")
    header = f"# the goldkeeper project in {prefix}/ (`goldkeeper init` there): its steps run there.\n"
    return header + text.replace("\njobs:\n", "\n" + defaults + "jobs:\n", 1)
