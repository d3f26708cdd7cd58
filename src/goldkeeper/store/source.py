"""Where a store's bytes come from: a directory, or (see ``versions``) a git tree."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class StoreSource(Protocol):
    """Read-only access to the files of one golden store."""

    def read_bytes(self, relpath: str) -> bytes:
        """Bytes of a store-relative POSIX path; FileNotFoundError if absent."""
        ...

    def list_files(self, reldir: str) -> list[str]:
        """Store-relative paths of the files directly inside ``reldir`` (sorted)."""
        ...

    def describe(self, relpath: str) -> str:
        """How to name ``relpath`` in a message (``golden/analyses/00.json``, ``HEAD:golden/...``)."""
        ...


class DirectorySource:
    """A store in a directory on disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read_bytes(self, relpath: str) -> bytes:
        return (self.root / relpath).read_bytes()

    def list_files(self, reldir: str) -> list[str]:
        directory = self.root / reldir
        if not directory.is_dir():
            return []
        return sorted(f"{reldir}/{p.name}" for p in directory.iterdir() if p.is_file())

    def describe(self, relpath: str) -> str:
        return str(self.root / relpath)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r})"
