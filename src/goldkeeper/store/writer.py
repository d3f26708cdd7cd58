"""Write a golden store: streaming, sharded, canonical, and atomic as a whole.

Records must arrive in ascending id order (the database reads them ``ORDER BY
id``); each goes straight to its shard file, so memory holds one record, not
the dataset. On success the manifest is written last and the staging
directory replaces the old store in one step; on any error the old store is
untouched and the staging directory is removed. An OSError (full disk, file
size limit, permission denied) is a :class:`~goldkeeper.errors.FileError`
naming the path.

Nothing of the user's is deleted: the writer refuses (before writing anything)
a non-empty target without a goldkeeper ``manifest.json``, and a store whose
``analyses/`` or ``queries/`` hold a file the manifest does not list (see
:mod:`goldkeeper.store.guard`); other top-level entries are carried over. A
symlinked target is written through: the real directory is replaced, the
link stays a link.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from goldkeeper.errors import DataIntegrityError, UsageError
from goldkeeper.fileio import file_error, fsync_path, stale_temporary
from goldkeeper.models import ENTITIES, Analysis, Manifest, Query, ShardEntry, StoreScope, count_records
from goldkeeper.store.atomic import recover_interrupted_swap, replace_directory, staging_dir_for, store_lock
from goldkeeper.store.canonical import array_element_bytes, canonical_bytes
from goldkeeper.store.guard import MANAGED, MANIFEST, check_target
from goldkeeper.store.sharding import shard_index, shard_name


@contextmanager
def _os_errors(shown: Path | str, target: Path) -> Iterator[None]:
    """An OSError becomes a one-line FileError naming ``shown`` (the staging directory is removed after)."""
    try:
        yield
    except OSError as exc:
        raise file_error(exc, shown, "write", f"; nothing was written ({target} is unchanged)") from exc


#: shards fsynced at once when the store is complete (see StoreWriter._finish)
_FSYNC_THREADS = 8

#: bytes a shard takes before the kernel is asked to start writing them out (see _OpenShard.write)
_WRITEBACK_EVERY = 1 << 20


@dataclass
class _OpenShard:
    path: str
    handle: BinaryIO
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    records: int = 0
    unflushed: int = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.unflushed += len(data)
        if self.unflushed >= _WRITEBACK_EVERY:
            self.start_writeback()

    def start_writeback(self) -> None:
        """Ask the kernel to start writing what the shard holds so far (Linux: POSIX_FADV_DONTNEED starts
        an asynchronous writeback and drops pages already written), so the closing fsync waits for the
        last megabyte instead of the whole file. Durability still comes from that fsync alone."""
        self.unflushed = 0
        if hasattr(os, "posix_fadvise"):
            self.handle.flush()
            try:
                os.posix_fadvise(self.handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:  # advice only: a file system that refuses it is written as before
                pass


class StoreWriter:
    """Context manager that writes a complete store into ``target``.

    >>> with StoreWriter(Path("golden"), "my-dataset", {"analyses": 8, "queries": 16}) as w:
    ...     for analysis in analyses_sorted_by_id: w.add_analysis(analysis)
    ...     for query in queries_sorted_by_id: w.add_query(query)
    """

    def __init__(
        self,
        target: Path,
        dataset: str,
        shard_counts: dict[str, int],
        scope: StoreScope | None = None,
        *,
        per_shard_order: bool = False,
        before_swap: Callable[[bytes], None] | None = None,
    ) -> None:
        for entity in ENTITIES:
            if shard_counts.get(entity, 0) < 1:
                raise UsageError(f"shard count for {entity} must be >= 1")
        #: what the user named (shown in messages); a symlink stays a link: the writer replaces what it points at
        self.shown = Path(target)
        self.target = self.shown.resolve() if self.shown.is_symlink() else self.shown
        self.dataset = dataset
        self.scope = scope
        self.shard_counts = {entity: int(shard_counts[entity]) for entity in ENTITIES}
        self._staging: Path | None = None
        self._shards: dict[str, _OpenShard] = {}
        self._by_index: dict[tuple[str, int], _OpenShard] = {}
        #: ids must ascend per entity (a dump reads ``ORDER BY id``), or with ``per_shard_order`` only
        #: inside each shard (``fmt`` writes shard by shard); equal ids share a shard, so both catch duplicates
        self.per_shard_order = per_shard_order
        self._last_id: dict[str, str] = {}
        self._counts = count_records([], [])
        self._lock = ExitStack()
        self.manifest: Manifest | None = None
        self.manifest_bytes: bytes | None = None
        #: called with the new manifest's bytes before anything replaces the target; raising keeps the target
        self.before_swap = before_swap

    def __enter__(self) -> StoreWriter:
        with _os_errors(self.shown, self.shown):
            self._lock.enter_context(store_lock(self.target))  # held until __exit__: see store_lock
        try:
            with _os_errors(self.shown, self.shown):
                recover_interrupted_swap(self.target)
                check_target(self.target, self.shown)
                self._staging = staging_dir_for(self.target)
        except BaseException:
            self._lock.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            for shard in self._shards.values():
                if not shard.handle.closed:
                    try:
                        shard.handle.close()
                    except OSError:  # flushing the rest of an abandoned shard (a full disk): it is removed below
                        pass
            if self._staging is not None and self._staging.exists():
                shutil.rmtree(self._staging, ignore_errors=True)
            self._lock.close()

    def add_analysis(self, analysis: Analysis) -> None:
        analysis = analysis.canonical()
        self._add("analyses", str(analysis.id), analysis)
        self._counts["analyses"] += 1
        self._counts["chunks"] += len(analysis.chunks)
        self._counts["findings"] += len(analysis.findings)
        self._counts["artifacts"] += analysis.artifact is not None

    def add_query(self, query: Query) -> None:
        query = query.canonical()
        self._add("queries", query.id, query)
        self._counts["queries"] += 1

    def add_analysis_document(self, document: dict[str, Any]) -> None:
        """An analysis as ``analysis.canonical().model_dump(mode="json")`` gives it (the dump's fast path:
        :mod:`goldkeeper.db.documents` says why its dicts are that); written as :meth:`add_analysis` writes it."""
        self._add("analyses", document["id"], document)
        self._counts["analyses"] += 1
        self._counts["chunks"] += len(document["chunks"])
        self._counts["findings"] += len(document["findings"])
        self._counts["artifacts"] += document["artifact"] is not None

    def add_query_document(self, document: dict[str, Any]) -> None:
        """A query as ``query.canonical().model_dump(mode="json")`` gives it; see :meth:`add_analysis_document`."""
        self._add("queries", document["id"], document)
        self._counts["queries"] += 1

    def _add(self, entity: str, record_id: str, record: Analysis | Query | dict[str, Any]) -> None:
        shard = self._shard_for(entity, record_id)
        key = shard.path if self.per_shard_order else entity
        last = self._last_id.get(key)
        if last is not None and record_id <= last:
            problem = "duplicate id" if record_id == last else f"out of order (after {last})"
            raise DataIntegrityError(f"{entity} record {record_id}: {problem}; records must be unique and sorted by id")
        self._last_id[key] = record_id
        data = array_element_bytes(record)
        try:
            shard.write(b"[\n" if shard.records == 0 else b",\n")
            shard.write(data)
        except OSError:
            with _os_errors(self.shown / shard.path, self.shown):  # the path is built only for the message
                raise
        shard.records += 1

    def _shard_for(self, entity: str, record_id: str) -> _OpenShard:
        count = self.shard_counts[entity]
        index = shard_index(record_id, count)
        shard = self._by_index.get((entity, index))
        if shard is not None:
            return shard
        path = f"{entity}/{shard_name(index, count)}"
        shard = self._shards.get(path)
        if shard is None:
            assert self._staging is not None
            full = self._staging / path
            with _os_errors(self.shown / path, self.shown):
                full.parent.mkdir(parents=True, exist_ok=True)
                shard = _OpenShard(path=path, handle=open(full, "wb"))
            self._shards[path] = shard
        self._by_index[(entity, index)] = shard
        return shard

    def _carry_over_unmanaged_files(self) -> None:
        assert self._staging is not None
        if not self.target.is_dir():
            return
        for entry in self.target.iterdir():
            if entry.name in MANAGED or stale_temporary(entry.name):  # a killed sidecar write's leftover: dropped
                continue
            destination = self._staging / entry.name
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, destination, symlinks=True)
            else:
                shutil.copy2(entry, destination, follow_symlinks=False)

    def _close_shard(self, path: str) -> None:
        shard = self._shards[path]
        with _os_errors(self.shown / path, self.shown):
            shard.write(b"\n]\n")
            shard.handle.flush()
            os.fsync(shard.handle.fileno())
            shard.handle.close()

    def _finish(self) -> None:
        assert self._staging is not None
        paths = sorted(self._shards)
        # the fsyncs at once, each in a thread (os.fsync lets go of the GIL): the file system writes the
        # shards' last pages together instead of waiting for the disk once per shard
        with ThreadPoolExecutor(min(len(paths), _FSYNC_THREADS) or 1) as pool:
            for _ in pool.map(self._close_shard, paths):
                pass
        entries = []
        for path in paths:
            shard = self._shards[path]
            entity = path.split("/", 1)[0]
            entries.append(ShardEntry(path=path, entity=entity, records=shard.records, sha256=shard.digest.hexdigest()))
        self.manifest = Manifest(
            dataset=self.dataset,
            counts=dict(self._counts),
            shard_counts=dict(self.shard_counts),
            shards=entries,
            scope=self.scope,
        )
        self.manifest_bytes = canonical_bytes(self.manifest)
        if self.before_swap is not None:
            self.before_swap(self.manifest_bytes)
        with _os_errors(self._staging, self.shown):
            self._carry_over_unmanaged_files()  # last: a top-level file edited during the dump is carried as it is now
        with _os_errors(self.shown / MANIFEST, self.shown):
            for entity in ENTITIES:
                if (self._staging / entity).is_dir():
                    fsync_path(self._staging / entity)
            with open(self._staging / MANIFEST, "wb") as handle:
                handle.write(self.manifest_bytes)
                handle.flush()
                os.fsync(handle.fileno())
            fsync_path(self._staging)
        with _os_errors(self.shown, self.shown):
            replace_directory(self._staging, self.target)


def write_store(
    target: Path,
    dataset: str,
    analyses: Iterable[Analysis],
    queries: Iterable[Query],
    shard_counts: dict[str, int],
    scope: StoreScope | None = None,
) -> Manifest:
    """Write records given in any order (sorted here, in memory): for small data and tests."""
    with StoreWriter(target, dataset, shard_counts, scope) as writer:
        for analysis in sorted(analyses, key=lambda a: str(a.id)):
            writer.add_analysis(analysis)
        for query in sorted(queries, key=lambda q: q.id):
            writer.add_query(query)
    assert writer.manifest is not None
    return writer.manifest
