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
     embeddings);
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
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.embed.base import Embedder
from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.models import Analysis, Query
from goldkeeper.progress import SILENT, Progress
from goldkeeper.fileio import atomic_write_bytes
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
            raise RecordValidationError(file, record_id, path, "contains a NUL character (\\u0000), which PostgreSQL cannot store")
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
                    raise RecordValidationError(file, record.id, f"expected.{kind}.{index}.id", f"{rel.id} is listed twice")
                seen.add(str(rel.id))


@dataclass
class StoreSummary:
    analyses: int = 0
    chunks: int = 0
    queries: int = 0


def validate_store(store: Store) -> StoreSummary:
    """Validate every shard and record of ``store``; raise on the first problem (named file/record/field)."""
    analysis_ids: set[str] = set()
    chunk_ids: dict[str, str] = {}
    artifact_ids: set[str] = set()
    query_ids: set[str] = set()
    references: list[tuple[str, str, str, str]] = []  # (file, query id, kind, target id)
    summary = StoreSummary()
    counted = {"analyses": 0, "chunks": 0, "findings": 0, "artifacts": 0, "queries": 0}
    for entry in store.shards("analyses"):
        name = store.source.describe(entry.path)
        records = store.read_shard(entry)  # checks sha256 and record count against the manifest
        for analysis in records:
            assert isinstance(analysis, Analysis)
            aid = str(analysis.id)
            if aid in analysis_ids:
                raise RecordValidationError(name, aid, "id", "duplicate analysis id")
            analysis_ids.add(aid)
            check_storable(analysis, name)
            for index, chunk in enumerate(analysis.chunks):
                cid = str(chunk.id)
                if cid in chunk_ids:
                    raise RecordValidationError(name, aid, f"chunks.{index}.id", f"chunk id {cid} is also in analysis {chunk_ids[cid]}")
                chunk_ids[cid] = aid
            if analysis.artifact is not None:
                art = str(analysis.artifact.id)
                if art in artifact_ids:
                    raise RecordValidationError(name, aid, "artifact.id", f"artifact id {art} is used twice")
                artifact_ids.add(art)
            counted["analyses"] += 1
            counted["chunks"] += len(analysis.chunks)
            counted["findings"] += len(analysis.findings)
            counted["artifacts"] += analysis.artifact is not None
    for entry in store.shards("queries"):
        name = store.source.describe(entry.path)
        records = store.read_shard(entry)  # checks sha256 and record count against the manifest
        for query in records:
            assert isinstance(query, Query)
            if query.id in query_ids:
                raise RecordValidationError(name, query.id, "id", "duplicate query id")
            query_ids.add(query.id)
            check_storable(query, name)
            for index, rel in enumerate(query.expected.chunks):
                references.append((name, query.id, f"expected.chunks.{index}.id", str(rel.id)))
            for index, rel in enumerate(query.expected.analyses):
                references.append((name, query.id, f"expected.analyses.{index}.id", "a:" + str(rel.id)))
            counted["queries"] += 1
    for name, query_id, path, target in references:
        if target.startswith("a:"):
            if target[2:] not in analysis_ids:
                raise RecordValidationError(name, query_id, path, f"expected analysis {target[2:]} is not in the store")
        elif target not in chunk_ids:
            raise RecordValidationError(name, query_id, path, f"expected chunk {target} is not in the store")
    manifest_file = store.source.describe("manifest.json")
    for key, value in counted.items():
        if key in store.manifest.counts and store.manifest.counts[key] != value:
            raise DataIntegrityError(
                f"{manifest_file}: counts.{key} is {store.manifest.counts[key]} but the shards hold {value}"
            )
    summary.analyses, summary.chunks, summary.queries = counted["analyses"], counted["chunks"], counted["queries"]
    return summary


# --------------------------------------------------------------------------- restore


def _entity_report(changes: Any, *, replace: bool, dry_run: bool) -> EntityReport:
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
) -> RestoreReport:
    """Restore records into the golden tables at ``url`` in one transaction (see the module doc).

    ``analyses`` and ``queries`` may be any iterables (streamed; staged in
    batches). ``totals`` are the expected counts for the progress bars.
    Raises :class:`ConflictError` (nothing changed) when records differ and
    ``replace`` is false, unless ``dry_run`` (then the report lists them).
    """
    from goldkeeper.db.embedding_cache import count_stale_chunks
    from goldkeeper.db.loader import GoldenLoader, golden_transaction
    from goldkeeper.db.schema import hnsw_deferred
    from goldkeeper.embed.fill import embed_chunks

    embed_batch = batch_size or int(getattr(embedder, "batch_size", 64) or 64)
    with golden_transaction(url, rollback=dry_run) as conn:
        loader = GoldenLoader(conn)
        loader.prepare(embedder.dim)
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
        changes = loader.classify()
        report_args: dict[str, Any] = dict(
            analyses=_entity_report(changes["analyses"], replace=replace, dry_run=dry_run),
            queries=_entity_report(changes["queries"], replace=replace, dry_run=dry_run),
            replace=replace,
            dry_run=dry_run,
            source=source,
            version=version,
            staged=staged,
            model_id=embedder.model_id,
        )
        if dry_run and not replace and (changes["analyses"].different or changes["queries"].different):
            return RestoreReport(**report_args)
        loader.apply(changes, replace=replace)
        dangling = loader.dangling_references()
        if dangling:
            raise DataIntegrityError(
                f"{len(dangling)} query expectation(s) point at chunks/analyses that would not exist: "
                + ", ".join(dangling[:5]),
                references=dangling,
            )
        if dry_run:
            return RestoreReport(**report_args)
        with hnsw_deferred(conn, count_stale_chunks(conn, embedder.model_id)):
            stats = embed_chunks(conn, embedder, batch_size=embed_batch, progress=progress)
        report_args.update(
            chunks_embedded=stats.total, embeddings_cached=stats.cached, embeddings_computed=stats.computed
        )
        return RestoreReport(**report_args)


def restore_store(
    url: str,
    store: Store | StoreSource | Path | str,
    embedder: Embedder,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
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
    )


def write_marker(path: Path, store: Store, report: RestoreReport) -> None:
    """The DVC restore stage's output: what the database now holds (dataset, version, model, counts).

    Deterministic (no timestamp), so an unchanged restore leaves the marker byte-identical and DVC
    sees nothing new downstream.
    """
    manifest = store.manifest
    marker = {"dataset": manifest.dataset, "version": store.version, "model_id": report.model_id, "counts": manifest.counts}
    atomic_write_bytes(path, canonical_bytes(marker))


__all__ = ["write_marker", "EntityReport", "RestoreReport", "StoreSummary", "validate_store", "check_storable", "restore_records", "restore_store"]
