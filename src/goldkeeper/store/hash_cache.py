"""The sha256 of shard files goldkeeper has already hashed, so a diff need not read them again.

A diff never trusts a manifest's checksums: it hashes each shard's bytes. At 1,000,000 chunks that
is about 850 MB per diff. :class:`ShardHashes` remembers the sha256 of each file it was told about,
keyed by what the file system says about the file when it was read: device, inode, size,
modification and status-change times (nanoseconds). A write to the file, a rename over it or a
``touch -d`` changes the status-change time, which no program can set back, so a file whose
status is unchanged holds the bytes that were hashed. (Git's index relies on the same facts.)

A file changed less than :data:`RACY_SECONDS` before it was read is not remembered: a second write
within the file system's timestamp granularity could leave its times unchanged. The cache is a
small JSON file (in the project's ``home``); a missing, unreadable or corrupt one is empty, and a
failure to write it is ignored: it only ever saves time.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from goldkeeper.errors import GoldkeeperError
from goldkeeper.fileio import atomic_write_bytes

#: a file whose times are this close to the moment it was read is not remembered (see the module doc)
RACY_SECONDS = 1.0
#: the most files remembered; past it, only those of the current run are kept
MAX_ENTRIES = 50_000
_VERSION = 1


def _key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class ShardHashes:
    """Remembered sha256 of files by path, valid while the file's status is unchanged."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, list[object]] = {}
        self._used: set[str] = set()
        self._dirty = False

    @classmethod
    def load(cls, path: Path) -> ShardHashes:
        """The cache kept in ``path`` (empty when the file is missing or not one of ours)."""
        cache = cls(path)
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return cache
        if isinstance(data, dict) and data.get("version") == _VERSION and isinstance(data.get("files"), dict):
            cache._entries = data["files"]
        return cache

    def known(self, file: Path | str) -> str | None:
        """The sha256 of ``file`` if it was hashed before and has not changed since, else None."""
        file = os.fspath(file)
        entry = self._entries.get(file)
        if not isinstance(entry, list) or len(entry) != 6:
            return None
        try:
            st = os.stat(file)
        except OSError:
            return None
        if entry[:5] != _key(st):
            return None
        self._used.add(file)
        return str(entry[5])

    def remember(self, file: Path | str, st: os.stat_result, read_at_ns: int, sha256: str) -> None:
        """Note that ``file``, whose status was ``st`` when it was read at ``read_at_ns``, hashes to ``sha256``."""
        if read_at_ns - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_SECONDS * 1e9:
            return  # changed too recently to rule out a second change within the same timestamp
        file = os.fspath(file)
        entry: list[object] = [*_key(st), sha256]
        self._used.add(file)
        if self._entries.get(file) != entry:
            self._entries[file] = entry
            self._dirty = True  # only something new is written: a diff of unchanged stores writes nothing

    def save(self) -> None:
        """Write the cache if something new was remembered; a failure is ignored (it is only a cache)."""
        if not self._dirty or self.path is None:
            return
        files = self._entries
        if len(files) > MAX_ENTRIES:
            files = {name: entry for name, entry in files.items() if name in self._used}
        data = json.dumps({"version": _VERSION, "files": files}, separators=(",", ":")).encode()
        try:
            atomic_write_bytes(self.path, data)
        except GoldkeeperError:
            return
        self._dirty = False


def read_with_status(file: Path) -> tuple[bytes, os.stat_result, int]:
    """The bytes of ``file``, its status taken before they were read, and when (``time.time_ns``)."""
    with open(file, "rb") as handle:
        read_at = time.time_ns()
        st = os.fstat(handle.fileno())
        return handle.read(), st, read_at


__all__ = ["RACY_SECONDS", "ShardHashes", "read_with_status"]
