"""Where a store's bytes come from: a directory, or (see ``versions``) a git tree."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Protocol

from goldkeeper.store.hash_cache import ShardHashes, read_with_status

#: the store's table of contents, at its top; its sha256 is the dataset version
MANIFEST = "manifest.json"


def as_committed(data: bytes) -> bytes:
    """A store file's bytes with CRLF line ends read as LF: the bytes dump wrote and git holds.

    Git for Windows checks text files out with CRLF (``core.autocrlf=true``, its default, also on
    Windows CI runners): every shard's sha256, and the manifest's (the dataset version), would then
    differ from what was dumped. A store file is canonical JSON, which holds no raw CR (a string
    escapes it as ``\\r``), so CRLF -> LF gives back exactly the committed bytes and changes no value.
    """
    return data.replace(b"\r\n", b"\n") if b"\r\n" in data else data


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
    """A store in a directory on disk; with ``hashes``, the sha256 of files already hashed (see ``hash_cache``)."""

    def __init__(self, root: Path, hashes: ShardHashes | None = None) -> None:
        self.root = Path(root)
        self.hashes = hashes
        self._read: dict[str, tuple[os.stat_result, int]] = {}  # relpath -> its status when last read, and when
        #: the files read that had CRLF line ends (read as LF): ``line_endings`` says which are not git's doing
        self.crlf: set[str] = set()

    def read_bytes(self, relpath: str) -> bytes:
        if self.hashes is None:
            return self._committed(relpath, (self.root / relpath).read_bytes())
        data, st, read_at = read_with_status(self.root / relpath)
        self._read[relpath] = (st, read_at)
        return self._committed(relpath, data)

    def _committed(self, relpath: str, data: bytes) -> bytes:
        if b"\r\n" in data:
            self.crlf.add(relpath)
        return as_committed(data)

    @cached_property
    def _resolved(self) -> str:
        return str(self.root.resolve())

    def _cache_key(self, relpath: str) -> str:
        return f"{self._resolved}/{relpath}"

    def known_sha256(self, relpath: str) -> str | None:
        """The sha256 of the file, when it was hashed before and has not changed since (no read)."""
        return self.hashes.known(self._cache_key(relpath)) if self.hashes is not None else None

    def remember_sha256(self, relpath: str, sha256: str) -> None:
        """Record the sha256 of the bytes :meth:`read_bytes` last returned for ``relpath``."""
        status = self._read.pop(relpath, None)
        if self.hashes is not None and status is not None:
            self.hashes.remember(self._cache_key(relpath), status[0], status[1], sha256)

    def linked(self, relpath: str) -> bool:
        """Whether the file, or a directory between the store's root and it, is a symbolic link (the root may be one)."""
        path = self.root
        for part in Path(relpath).parts:
            path = path / part
            if path.is_symlink():
                return True
        return False

    def list_files(self, reldir: str) -> list[str]:
        directory = self.root / reldir
        if not directory.is_dir():
            return []
        # scandir: the directory entries' types, without a stat per file (a diff lists about 640 shards)
        with os.scandir(directory) as entries:
            return sorted(f"{reldir}/{entry.name}" for entry in entries if entry.is_file())

    def describe(self, relpath: str) -> str:
        return str(self.root / relpath)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r})"
