"""CRLF line ends in a store's files on disk: git's doing, or the files' own.

Every reader takes a store file's CRLF as LF (:func:`~goldkeeper.store.source.as_committed`), which changes
no value. In a git checkout with ``core.autocrlf=true`` (Git for Windows' default) the CRLF are git's: it
wrote them and takes them out again when the file is added, so the committed bytes are the dumped ones.
In a plain folder (a copy from a Windows machine, an unzipped archive), in a folder git ignores (a store
under DVC) or in a checkout that would commit them, the CRLF are the files' own: their bytes and sha256 are
not the ones dumped, and whatever stores or checks the files as they are (DVC, a checksum, another tool
reading the shards) sees other files. ``verify`` warns about those and ``fmt`` rewrites them with LF.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

from goldkeeper.store.source import as_committed


def kept_crlf(root: Path, relpaths: Iterable[str]) -> list[str]:
    """Those of ``relpaths`` (files under ``root`` holding CRLF) whose CRLF would be stored as they are:
    every one outside a git working tree; inside one, those git ignores or would not check in as LF."""
    paths = sorted(relpaths)
    if not paths or not _in_work_tree(root):
        return paths
    ignored = set(_git_lines(root, "check-ignore", "--", *paths))
    tracked = [p for p in paths if p not in ignored]
    # hash-object cleans each file as ``git add`` would (autocrlf, .gitattributes): LF blob = git's CRLF
    cleaned = _git_lines(root, "hash-object", "--", *tracked) if tracked else []
    if len(cleaned) != len(tracked):  # git failed: the files are what they are
        return paths
    return sorted(ignored | {p for p, oid in zip(tracked, cleaned, strict=True) if oid != _lf_blob_id(root / p)})


def _in_work_tree(root: Path) -> bool:
    return _git_lines(root, "rev-parse", "--is-inside-work-tree") == ["true"]


def _git_lines(root: Path, *args: str) -> list[str]:
    """The output lines of a git command run in ``root`` (a shard's name holds no newline); none when git
    fails or is not installed (the files are then judged as those of a plain folder)."""
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    except OSError:
        return []
    if done.returncode not in (0, 1):  # check-ignore: 1 when no path is ignored
        return []
    return [line for line in done.stdout.decode("utf-8", "replace").splitlines() if line]


def _lf_blob_id(path: Path) -> str:
    """The git object id of the file's bytes with CRLF read as LF (what dump wrote)."""
    data = as_committed(path.read_bytes())
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


__all__ = ["kept_crlf"]
