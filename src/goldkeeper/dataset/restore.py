"""``restore``: golden store -> database, all or nothing.

1. Validate the whole store before touching the database: manifest, every
   shard's sha256, every record's schema, duplicate ids, and the references
   of queries to chunks / analyses (:func:`validate_store`). One pass, memory
   bounded by a shard plus the set of ids.
2. One transaction on one connection, under the golden advisory lock
   (:func:`restore_records`): ensure the schema, COPY the records into
   temporary tables in batches, classify each record against the golden rows
   (added / identical / different / absent), then

   - without ``replace``: identical records are skipped, new ones inserted;
     any record that exists with different content is a
     :class:`~goldkeeper.errors.ConflictError` listing the ids, and nothing
     changes (never a silent overwrite);
   - with ``replace``: rows that differ from the store or are absent from it
     are deleted and the store's records inserted, so the golden tables end
     up holding exactly the store (identical rows are kept with their
     embeddings). Only within the store's scope (:func:`replace_scope`): a
     store dumped with ``dump.statuses: [completed]`` replaces the completed
     analyses; drafts and other statuses are kept;
   - ``dry_run``: the same work, then a rollback: the report says what would
     be added, skipped, replaced, removed and what conflicts.

   Then the chunks are embedded with the configured model
   (:func:`goldkeeper.embed.fill.embed_chunks`, reusing the embedding cache)
   in the same transaction, and it commits. A failure anywhere (bad record,
   killed process, lost connection) leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.config import DEFAULT_LOCK_TIMEOUT
from goldkeeper.db.embedding_cache import count_stale_chunks
from goldkeeper.db.loader import Changes, GoldenLoader, golden_transaction
from goldkeeper.db.schema import hnsw_deferred
from goldkeeper.embed.base import Embedder
from goldkeeper.embed.fill import embed_chunks
from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.fileio import atomic_write_bytes
from goldkeeper.models import Analysis, Query, StoreScope
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import Store, StoreSource, canonical_bytes, open_store


@dataclass(frozen=True)
class EntityReport:
    """What a restore did (or would do) to one kind of record; ids in id order."""

    added: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RestoreReport:
    analyses: EntityReport
    queries: EntityReport
    replace: bool
    dry_run: bool
    chunks_embedded: int = 0
    embeddings_cached: int = 0
    embeddings_computed: int = 0
    model_id: str = ""
    source: str | None = None
    version: str | None = None
    staged: dict[str, int] = field(default_factory=dict)
    #: the analysis statuses a replace was limited to (the store's scope); None = the whole dataset
    scope: tuple[str, ...] | None = None

    @property
    def conflicts(self) -> int:
        return len(self.analyses.conflicts) + len(self.queries.conflicts)

    def to_json(self, *, ids: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dry_run": self.dry_run,
            "replace": self.replace,
            "source": self.source,
            "version": self.version,
            "staged": dict(self.staged),
            "scope": None if self.scope is None else {"statuses": list(self.scope)},
            "embeddings": {
                "model_id": self.model_id,
                "chunks_embedded": self.chunks_embedded,
                "cached": self.embeddings_cached,
                "computed": self.embeddings_computed,
            },
        }
        for name in ("analyses", "queries"):
            entity: EntityReport = getattr(self, name)
            data[name] = {"counts": entity.counts()}
            if ids:
                data[name].update({k: list(v) for k, v in asdict(entity).items()})
        return data

    def summary_lines(self) -> list[str]:
        lines = []
        for name in ("analyses", "queries"):
            c: dict[str, int] = getattr(self, name).counts()
            lines.append(
                f"{name}: {c['added']} added, {c['skipped']} unchanged (skipped), {c['replaced']} replaced, "
                f"{c['removed']} removed, {c['conflicts']} conflicting"
            )
        if self.replace and self.scope is not None:
            lines.append(
                f"scope: analyses with status {', '.join(self.scope)} (the store's scope); analyses with "
                "another status were left alone"
            )
        if self.dry_run:
            lines.append("dry run: nothing was changed in the database")
        else:
            lines.append(
                f"embedded {self.chunks_embedded} chunks with {self.model_id} "
                f"({self.embeddings_cached} from the cache, {self.embeddings_computed} computed)"
            )
        return lines


# --------------------------------------------------------------------------- validation


def _check_text(value: Any, file: str, record_id: str, path: str) -> None:
    """PostgreSQL text and jsonb cannot hold NUL characters: refuse them before the database does."""
    if isinstance(value, str):
        if "\x00" in value:
            raise RecordValidationError(
                file, record_id, path, "contains a NUL character (\\u0000), which PostgreSQL cannot store"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, file, record_id, path)
            _check_text(item, file, record_id, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_text(item, file, record_id, f"{path}.{index}" if path else str(index))


def check_storable(record: Analysis | Query, file: str) -> None:
    """Checks the models cannot express but the database needs (no NUL characters)."""
    data = record.model_dump(mode="json")
    if b"\\u0000" in orjson.dumps(data):  # fast path: orjson escapes NUL as \u0000; walk only when present
        _check_text(data, file, str(record.id), "")
    if isinstance(record, Query):
        for kind in ("chunks", "analyses"):
            seen: set[str] = set()
            for index, rel in enumerate(getattr(record.expected, kind)):
                if str(rel.id) in seen:
                    raise RecordValidationError(
                        file, record.id, f"expected.{kind}.{index}.id", f"{rel.id} is listed twice"
                    )
                seen.add(str(rel.id))


@dataclass
class StoreSummary:
    analyses: int = 0
    chunks: int = 0
    queries: int = 0


@dataclass
class _Seen:
    """What validation remembers across shards: ids (for duplicates and references) and record counts."""

    analysis_ids: set[str] = field(default_factory=set)
    chunk_ids: dict[str, str] = field(default_factory=dict)  # chunk id -> analysis id
    artifact_ids: set[str] = field(default_factory=set)
    query_ids: set[str] = field(default_factory=set)
    references: list[tuple[str, str, str, str]] = field(default_factory=list)  # (file, query id, path, target)
    counted: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("analyses", "chunks", "findings", "artifacts", "queries"), 0)
    )


def _validate_analysis(analysis: Analysis, name: str, seen: _Seen) -> None:
    """Unique analysis, chunk and artifact ids; storable text. Counts the analysis and its children."""
    aid = str(analysis.id)
    if aid in seen.analysis_ids:
        raise RecordValidationError(name, aid, "id", "duplicate analysis id")
    seen.analysis_ids.add(aid)
    check_storable(analysis, name)
    for index, chunk in enumerate(analysis.chunks):
        cid = str(chunk.id)
        if cid in seen.chunk_ids:
            raise RecordValidationError(
                name, aid, f"chunks.{index}.id", f"chunk id {cid} is also in analysis {seen.chunk_ids[cid]}"
            )
        seen.chunk_ids[cid] = aid
    if analysis.artifact is not None:
        art = str(analysis.artifact.id)
        if art in seen.artifact_ids:
            raise RecordValidationError(name, aid, "artifact.id", f"artifact id {art} is used twice")
        seen.artifact_ids.add(art)
    seen.counted["analyses"] += 1
    seen.counted["chunks"] += len(analysis.chunks)
    seen.counted["findings"] += len(analysis.findings)
    seen.counted["artifacts"] += analysis.artifact is not None


def _validate_query(query: Query, name: str, seen: _Seen) -> None:
    """A unique query id; storable text. Remembers its expected results for :func:`_check_references`."""
    if query.id in seen.query_ids:
        raise RecordValidationError(name, query.id, "id", "duplicate query id")
    seen.query_ids.add(query.id)
    check_storable(query, name)
    for index, rel in enumerate(query.expected.chunks):
        seen.references.append((name, query.id, f"expected.chunks.{index}.id", str(rel.id)))
    for index, rel in enumerate(query.expected.analyses):
        seen.references.append((name, query.id, f"expected.analyses.{index}.id", "a:" + str(rel.id)))
    seen.counted["queries"] += 1


def _check_references(seen: _Seen) -> None:
    """Every expected chunk / analysis of a query is in the store (analysis targets carry an ``a:`` prefix)."""
    for name, query_id, path, target in seen.references:
        if target.startswith("a:"):
            if target[2:] not in seen.analysis_ids:
                raise RecordValidationError(name, query_id, path, f"expected analysis {target[2:]} is not in the store")
        elif target not in seen.chunk_ids:
            raise RecordValidationError(name, query_id, path, f"expected chunk {target} is not in the store")


def _check_manifest_counts(store: Store, counted: dict[str, int]) -> None:
    """The manifest's counts equal the records the shards hold."""
    manifest_file = store.source.describe("manifest.json")
    for key, value in counted.items():
        if key in store.manifest.counts and store.manifest.counts[key] != value:
            raise DataIntegrityError(
                f"{manifest_file}: counts.{key} is {store.manifest.counts[key]} but the shards hold {value}"
            )


def validate_store(store: Store) -> StoreSummary:
    """Validate every shard and record of ``store``; raise on the first problem (named file/record/field)."""
    seen = _Seen()
    for entry in store.shards("analyses"):
        name = store.source.describe(entry.path)
        for analysis in store.read_shard(entry):  # checks sha256 and record count against the manifest
            assert isinstance(analysis, Analysis)
            _validate_analysis(analysis, name, seen)
    for entry in store.shards("queries"):
        name = store.source.describe(entry.path)
        for query in store.read_shard(entry):  # checks sha256 and record count against the manifest
            assert isinstance(query, Query)
            _validate_query(query, name, seen)
    _check_references(seen)
    _check_manifest_counts(store, seen.counted)
    return StoreSummary(
        analyses=seen.counted["analyses"], chunks=seen.counted["chunks"], queries=seen.counted["queries"]
    )


# --------------------------------------------------------------------------- restore


def _entity_report(changes: Changes, *, replace: bool) -> EntityReport:
    return EntityReport(
        added=tuple(changes.added),
        skipped=tuple(changes.identical),
        replaced=tuple(changes.different) if replace else (),
        removed=tuple(changes.absent) if replace else (),
        conflicts=() if replace else tuple(changes.different),
    )


def _counting(items: Iterable[Any], task: Any) -> Iterator[Any]:
    for item in items:
        yield item
        task.advance(1)


def _stage(
    loader: GoldenLoader,
    analyses: Iterable[Analysis],
    queries: Iterable[Query],
    progress: Progress,
    totals: tuple[int | None, int | None],
) -> dict[str, int]:
    """COPY every record into the loader's temporary tables (refusing unstorable text); how many of each."""
    staged = {"analyses": 0, "queries": 0}
    with progress.task("reading analyses", totals[0]) as task:
        for analysis in _counting(analyses, task):
            check_storable(analysis, "analyses")
            loader.add_analysis(analysis)
            staged["analyses"] += 1
    with progress.task("reading queries", totals[1]) as task:
        for query in _counting(queries, task):
            check_storable(query, "queries")
            loader.add_query(query)
            staged["queries"] += 1
    return staged


def _refuse_dangling(loader: GoldenLoader) -> None:
    """After applying: no query expectation may point at a chunk or analysis the tables would not hold."""
    dangling = loader.dangling_references()
    if dangling:
        raise DataIntegrityError(
            f"{len(dangling)} query expectation(s) point at chunks/analyses that would not exist: "
            + ", ".join(dangling[:5]),
            references=dangling,
        )


def restore_records(
    url: str,
    analyses: Iterable[Analysis],
    queries: Iterable[Query],
    embedder: Embedder,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
    totals: tuple[int | None, int | None] = (None, None),
    source: str | None = None,
    version: str | None = None,
    scope: StoreScope | None = None,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> RestoreReport:
    """Restore records into the golden tables at ``url`` in one transaction (see the module doc).

    ``analyses`` and ``queries`` may be any iterables (streamed; staged in
    batches). ``totals`` are the expected counts for the progress bars.
    Raises :class:`ConflictError` (nothing changed) when records differ and
    ``replace`` is false, unless ``dry_run`` (then the report lists them).
    ``scope``: what the records stand for; a replace removes only rows inside it (None: every row).
    ``lock_timeout``: seconds to wait for another writer's golden lock before giving up (DatabaseError).
    """
    embed_batch = batch_size or int(getattr(embedder, "batch_size", 64) or 64)
    with golden_transaction(url, rollback=dry_run) as conn:
        loader = GoldenLoader(conn, lock_timeout=lock_timeout)
        loader.prepare(embedder.dim)
        staged = _stage(loader, analyses, queries, progress, totals)
        changes = loader.classify(None if scope is None else list(scope.statuses))
        report = RestoreReport(
            analyses=_entity_report(changes["analyses"], replace=replace),
            queries=_entity_report(changes["queries"], replace=replace),
            replace=replace,
            dry_run=dry_run,
            source=source,
            version=version,
            staged=staged,
            model_id=embedder.model_id,
            scope=None if scope is None else tuple(scope.statuses),
        )
        if dry_run and not replace and (changes["analyses"].different or changes["queries"].different):
            return report  # a dry run reports the conflicts that a real run would refuse
        loader.apply(changes, replace=replace)
        _refuse_dangling(loader)
        if dry_run:
            return report
        with hnsw_deferred(conn, count_stale_chunks(conn, embedder.model_id)):
            stats = embed_chunks(conn, embedder, batch_size=embed_batch, progress=progress)
        return replace_fields(
            report, chunks_embedded=stats.total, embeddings_cached=stats.cached, embeddings_computed=stats.computed
        )


def restore_store(
    url: str,
    store: Store | StoreSource | Path | str,
    embedder: Embedder,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> RestoreReport:
    """Validate the whole store, then restore it (see :func:`restore_records`)."""
    if not isinstance(store, Store):
        store = open_store(store)
    summary = validate_store(store)
    return restore_records(
        url,
        store.analyses(),
        store.queries(),
        embedder,
        replace=replace,
        dry_run=dry_run,
        progress=progress,
        batch_size=batch_size,
        totals=(summary.analyses, summary.queries),
        source=store.source.describe("").rstrip("/") or None,
        version=store.version,
        scope=replace_scope(store),
        lock_timeout=lock_timeout,
    )


def replace_scope(store: Store) -> StoreScope:
    """The part of the database ``store`` stands for: its manifest's ``scope`` (written by ``dump``).

    A manifest without one (every store dumped with the default ``dump.statuses``, before or after
    the scope existed) stands for the ``completed`` analyses: ``--replace`` keeps every other status.
    """
    return store.manifest.effective_scope


def write_marker(path: Path, store: Store, report: RestoreReport) -> None:
    """The DVC restore stage's output: what the database now holds (dataset, version, model, counts).

    Deterministic (no timestamp), so an unchanged restore leaves the marker byte-identical and DVC
    sees nothing new downstream.
    """
    manifest = store.manifest
    marker = {
        "dataset": manifest.dataset,
        "version": store.version,
        "model_id": report.model_id,
        "counts": manifest.counts,
    }
    atomic_write_bytes(path, canonical_bytes(marker))


__all__ = [
    "write_marker",
    "EntityReport",
    "RestoreReport",
    "StoreSummary",
    "validate_store",
    "check_storable",
    "restore_records",
    "restore_store",
    "replace_scope",
]
