"""What a store writer may replace: nothing it did not write.

A dump replaces ``manifest.json``, ``analyses/`` and ``queries/`` of its target
as a whole (every other top-level entry is carried over). Before anything is
written, :func:`check_target` refuses (``DataIntegrityError``, exit 5):

- a target that exists but is not a directory;
- a directory holding a git repository's ``.git`` (``store.path: .`` at the repository's root): the
  repository would be copied and its directory replaced under every shell and editor that has it open.
  A ``.git`` file (the root of a git worktree or a submodule) is refused the same way;
- a non-empty directory without a ``manifest.json`` (not a goldkeeper store:
  ``dump --out ~/Documents`` must not touch it);
- a ``manifest.json`` that is not a goldkeeper manifest (no list of shards);
- any file, directory or link under ``analyses/`` or ``queries/`` that the old
  manifest does not list as a shard (an editor's ``.DS_Store``, a ``.gitkeep``): the write would
  delete it. The user moves it out (or deletes it) and runs ``dump`` or ``fmt`` again.

:func:`refuse_inside_store` keeps every other output (a diff, an export, eval metrics, the gate's
result, the report) out of the store: written there it would replace a shard or add a file that
every later dump, fmt and verify trips over.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from goldkeeper.errors import DataIntegrityError, UsageError
from goldkeeper.fileio import UTF8_BOM
from goldkeeper.models import ENTITIES
from goldkeeper.store.source import MANIFEST

#: Paths inside a store that a dump owns; anything else (CHANGELOG.json, a
#: .gitattributes, operator notes) is carried over unchanged.
MANAGED = {MANIFEST, *ENTITIES}
_SHOWN = 5


def check_target(target: Path, shown: Path) -> None:
    """Refuse to write over ``target`` when that could delete something goldkeeper did not write."""
    if not target.exists():
        return
    if not target.is_dir():
        raise DataIntegrityError(f"{shown} exists and is not a directory; dump writes a store directory")
    dot_git = target / ".git"
    if dot_git.exists() or dot_git.is_symlink():  # a worktree's or submodule's .git is a file
        raise DataIntegrityError(
            f"{shown} holds a git repository (.git): a store directory is replaced as a whole, so goldkeeper will "
            "not write there (keep the store in a directory of its own, e.g. store.path: golden)"
        )
    manifest = target / MANIFEST
    if not manifest.exists() and not manifest.is_symlink():
        if any(target.iterdir()):
            raise DataIntegrityError(
                f"{shown} is not empty and has no manifest.json: not a goldkeeper store, so dump will not write "
                "into it (use a new or empty directory)"
            )
        return
    listed = _listed_shards(manifest, shown)
    strays = sorted(_unlisted_entries(target, listed))
    if strays:
        more = f" and {len(strays) - _SHOWN} more" if len(strays) > _SHOWN else ""
        it = "it" if len(strays) == 1 else "them"
        # fmt and dump both get here: the message names neither, and says what to do
        raise DataIntegrityError(
            f"{shown}: {', '.join(strays[:_SHOWN])}{more} not listed in manifest.json; writing the store replaces "
            f"analyses/ and queries/ as a whole and would delete {it}, so nothing was written (move {it} out of "
            f"the store, or delete {it}, and run again)",
            paths=strays,
        )


def refuse_inside_store(output: Path, store: Path, shown: Path | str) -> None:
    """Refuse (UsageError, exit 2) an output path that is, or is inside, the store directory, links followed:
    goldkeeper never writes its outputs into the store it manages (``diff --out golden/queries/03.json``
    replaced a shard)."""
    target, root = output.resolve(), store.resolve()
    if target == root or target.is_relative_to(root):
        raise UsageError(
            f"{shown}: inside the golden store {store}; goldkeeper does not write its outputs into the store "
            "(name a path outside it)"
        )


def _listed_shards(manifest: Path, shown: Path) -> set[str]:
    """The shard paths ``manifest.json`` lists; a file that is not a goldkeeper manifest is refused."""
    problem = "is not a goldkeeper manifest (no list of shards)"
    try:
        raw = manifest.read_bytes() if manifest.is_file() and not manifest.is_symlink() else None
        # a Windows editor's byte order mark: still the manifest goldkeeper wrote (fmt drops the mark)
        data = orjson.loads(raw.removeprefix(UTF8_BOM)) if raw is not None else None
    except orjson.JSONDecodeError:
        data = None
        problem = "is not valid JSON"
    shards = data.get("shards") if isinstance(data, dict) else None
    if not isinstance(shards, list) or not all(isinstance(s, dict) and isinstance(s.get("path"), str) for s in shards):
        raise DataIntegrityError(
            f"{shown / MANIFEST} {problem}; dump will not replace a directory it cannot tell it wrote "
            "(restore manifest.json from git, or use a new directory)"
        )
    return {str(s["path"]) for s in shards}


def _unlisted_entries(target: Path, listed: set[str]) -> list[str]:
    """Entries under the entity directories that are not listed shard files (paths relative to ``target``)."""
    strays: list[str] = []
    for entity in ENTITIES:
        top = target / entity
        if top.is_symlink() or (top.exists() and not top.is_dir()):
            strays.append(entity)
            continue
        if not top.is_dir():
            continue
        for entry in top.rglob("*"):
            if entry.is_dir() and not entry.is_symlink():
                continue  # a folder holds nothing of its own: the files in it are checked
            rel = entry.relative_to(target).as_posix()
            if rel not in listed:  # a listed shard may be a link (DVC's symlink cache): replacing it deletes the link
                strays.append(rel)
    return strays


__all__ = ["MANIFEST", "MANAGED", "check_target", "refuse_inside_store"]
