"""The embedding cache as files (``embedding.cache: file``), for CI runners that keep a directory.

Layout: ``<cache_dir>/<model slug>-<sha256(model_id)[:12]>/``, one folder per
model identity (``model.json`` names it), holding segments. A segment is two
numpy files written atomically by :mod:`goldkeeper.fileio`:
``<name>.vectors.npy`` (n, dim) float32, then ``<name>.index.npy`` (n,) the
texts' sha256 hex. A segment exists once its index does (the vectors are
written first), so a reader, a crash or a concurrent writer (segment names are
unique) never sees half a segment. Vectors are memory-mapped, so a lookup
reads only the rows it needs, and float32 on disk is bit-for-bit what the model
produced.

New vectors are buffered and written as one segment by :meth:`flush` (every
``FLUSH_ROWS`` new vectors, and when an embedding run ends, even a failed one:
the vectors computed so far are kept). When a model's folder holds more than
``MAX_SEGMENTS`` segments they are merged into one. A segment that cannot be
read (or whose index and vectors disagree) is ignored: its texts are embedded again.
Deleting the directory empties the cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from goldkeeper.fileio import atomic_write_bytes, write_json

#: new vectors buffered before a segment is written.
FLUSH_ROWS = 16384
#: segments of one model before they are merged into one.
MAX_SEGMENTS = 32
_INDEX = ".index.npy"
_VECTORS = ".vectors.npy"


def model_folder_name(model_id: str) -> str:
    """A file-system-safe folder name for a model identity (readable, and unique by its hash)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60].strip("._") or "model"
    return f"{slug}-{hashlib.sha256(model_id.encode('utf-8')).hexdigest()[:12]}"


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@dataclass
class _Segment:
    name: str
    shas: np.ndarray
    vectors: np.ndarray


@dataclass
class _ModelCache:
    folder: Path
    model_id: str
    segments: list[_Segment] = field(default_factory=list)
    where: dict[str, tuple[int, int]] = field(default_factory=dict)
    pending: dict[str, np.ndarray] = field(default_factory=dict)

    def load(self) -> None:
        self.segments, self.where = [], {}
        if not self.folder.is_dir():
            return
        for index_file in sorted(self.folder.glob(f"*{_INDEX}")):
            segment = _read_segment(index_file)
            if segment is not None:
                self._add(segment)

    def _add(self, segment: _Segment) -> None:
        number = len(self.segments)
        self.segments.append(segment)
        for row, sha in enumerate(segment.shas.tolist()):
            self.where.setdefault(sha.decode("ascii"), (number, row))

    def get(self, sha: str) -> np.ndarray | None:
        vector = self.pending.get(sha)
        if vector is not None:
            return vector
        found = self.where.get(sha)
        if found is None:
            return None
        segment, row = found
        return np.array(self.segments[segment].vectors[row], dtype=np.float32)

    def write_segment(self, shas: list[str], vectors: np.ndarray) -> _Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        if not (self.folder / "model.json").exists():
            write_json(self.folder / "model.json", {"model_id": self.model_id})
        index = np.array([s.encode("ascii") for s in shas], dtype="S64")
        atomic_write_bytes(self.folder / f"{name}{_VECTORS}", _npy_bytes(np.ascontiguousarray(vectors, np.float32)))
        atomic_write_bytes(self.folder / f"{name}{_INDEX}", _npy_bytes(index))
        return _Segment(name, index, vectors)

    def flush(self) -> None:
        if not self.pending:
            return
        shas = list(self.pending)
        segment = self.write_segment(shas, np.stack([self.pending[s] for s in shas]))
        self.pending = {}
        self._add(segment)
        if len(self.segments) > MAX_SEGMENTS:
            self.compact()

    def compact(self) -> None:
        """Merge every segment into one (the new one is complete before the old ones go)."""
        old = [s.name for s in self.segments]
        shas = list(self.where)
        rows = [self.segments[number].vectors[row] for number, row in self.where.values()]
        vectors = np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), np.float32)
        merged = self.write_segment(shas, vectors)
        for name in old:
            (self.folder / f"{name}{_INDEX}").unlink(missing_ok=True)
            (self.folder / f"{name}{_VECTORS}").unlink(missing_ok=True)
        self.segments, self.where = [], {}
        self._add(merged)


def _read_segment(index_file: Path) -> _Segment | None:
    """A complete, consistent segment, or None (unreadable, or index and vectors disagree)."""
    name = index_file.name[: -len(_INDEX)]
    try:
        shas = np.load(index_file, allow_pickle=False)
        vectors = np.load(index_file.with_name(f"{name}{_VECTORS}"), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if shas.ndim != 1 or vectors.ndim != 2 or len(shas) != len(vectors) or vectors.dtype != np.float32:
        return None
    return _Segment(name, shas, vectors)


class FileEmbeddingCache:
    """The file embedding cache under ``directory``: lookup, buffered store, flush (see the module doc)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._models: dict[str, _ModelCache] = {}

    def _model(self, model_id: str) -> _ModelCache:
        cache = self._models.get(model_id)
        if cache is None:
            cache = _ModelCache(self.directory / model_folder_name(model_id), model_id)
            cache.load()
            self._models[model_id] = cache
        return cache

    def lookup(self, model_id: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of these text hashes (missing ones are absent)."""
        cache = self._model(model_id)
        found = {}
        for sha in shas:
            vector = cache.get(sha)
            if vector is not None:
                found[sha] = vector
        return found

    def store(self, model_id: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """Buffer new vectors; a segment is written every ``FLUSH_ROWS`` of them (and by :meth:`flush`)."""
        cache = self._model(model_id)
        for sha, vector in items:
            if sha not in cache.where:
                cache.pending[sha] = np.asarray(vector, dtype=np.float32)
        if len(cache.pending) >= FLUSH_ROWS:
            cache.flush()

    def flush(self) -> None:
        """Write every buffered vector (one segment per model)."""
        for cache in self._models.values():
            cache.flush()


__all__ = ["FileEmbeddingCache", "model_folder_name", "FLUSH_ROWS", "MAX_SEGMENTS"]
