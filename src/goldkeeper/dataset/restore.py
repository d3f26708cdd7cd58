"""``restore``: golden store -> database, all or nothing.

1. Verify the whole store before touching the database: every contract of
   ``goldkeeper verify`` (:func:`goldkeeper.dataset.verify.verify_store`:
   manifest, shard list and paths, checksums, schema, placement, duplicate
   ids, references, the URL and prompt contracts, what PostgreSQL can store).
   Any error refuses the restore, listing every violation as verify does
   (:mod:`goldkeeper.dataset.verify.refusal`); warnings never refuse. One
   pass, memory bounded by a shard plus the set of ids.
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

from goldkeeper.config import DEFAULT_LOCK_TIMEOUT, DatabaseParams, Settings
from goldkeeper.dataset.verify import VerifyReport, verify_store
from goldkeeper.dataset.verify.loadable import load_problems
from goldkeeper.dataset.verify.refusal import allowed_codes, refuse_violations
from goldkeeper.db.embedding_cache import count_stale_chunks
from goldkeeper.db.fulltext_index import build_fulltext_index, text_search_config
from goldkeeper.db.loader import Changes, GoldenLoader, golden_transaction
from goldkeeper.db.mapped_loader import MappedChunkVectors, MappedLoader
from goldkeeper.db.mapping import Mapping
from goldkeeper.db.schema import hnsw_deferred
from goldkeeper.db.state import write_dataset_state
from goldkeeper.embed.base import Embedder
from goldkeeper.embed.fill import EmbedStats, embed_chunks
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
    #: verify's warnings about the store (they never refuse a restore), as verify renders them
    warnings: tuple[str, ...] = ()
    #: the analysis statuses a replace was limited to (the store's scope); None = the whole dataset
    scope: tuple[str, ...] | None = None
    #: (before, after): the golden.chunks embedding column retyped to the model's dimension (its vectors cleared,
    #: then embedded again; a dry run rolls that back). None: the column had the model's dimension
    dim_change: tuple[int, int] | None = None
    #: the GIN index built on golden.chunks for params ``retrieval.fulltext_config`` (:mod:`goldkeeper.db.fulltext_index`;
    #: None: none was needed, or the role does not own the table)
    fulltext_index: str | None = None

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
            "warnings": list(self.warnings),
            "scope": None if self.scope is None else {"statuses": list(self.scope)},
            "embeddings": {
                "model_id": self.model_id,
                "chunks_embedded": self.chunks_embedded,
                "cached": self.embeddings_cached,
                "computed": self.embeddings_computed,
                "dim_changed_from": None if self.dim_change is None else self.dim_change[0],
            },
            "fulltext_index": self.fulltext_index,
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
        if self.dim_change is not None:
            lines.append(self._dim_line(*self.dim_change))
        if self.dry_run:
            lines.append("dry run: nothing was changed in the database")
        elif self.chunks_embedded == 0:  # a queries-only import, an unchanged restore: not "embedded 0 chunks (0, 0)"
            lines.append(f"embedded nothing: every chunk already has its vector by {self.model_id}")
        else:
            lines.append(
                f"embedded {self.chunks_embedded} chunks with {self.model_id} "
                f"({self.embeddings_cached} from the cache, {self.embeddings_computed} computed)"
            )
        if self.fulltext_index is not None:
            lines.append(f"built the full-text index {self.fulltext_index} (retrieval.fulltext_config), once")
        return lines

    def _dim_line(self, before: int, after: int) -> str:
        """The embedding column retyped to the model's dimension, as ``db init`` says it: its vectors cleared."""
        change = f"embedding dimension {before} -> {after} (the model's)"
        if self.dry_run:
            return (
                f"{change}: a restore would retype golden.chunks.embedding, clear every stored vector and embed "
                "every chunk again"
            )
        return f"{change}: golden.chunks.embedding retyped, its vectors cleared and embedded again"


# --------------------------------------------------------------------------- validation


def check_storable(record: Analysis | Query, file: str) -> None:
    """Refuse a record PostgreSQL cannot store (the load contracts of ``verify``, for records that
    do not come from a store: importers)."""
    problems = load_problems(record)
    if problems:
        code, where, message = problems[0]
        raise RecordValidationError(file, str(record.id), where, f"{message} [{code}]")


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


def _classify(
    loader: GoldenLoader, scope: StoreScope | None, keep_absent: frozenset[str], progress: Progress
) -> dict[str, Changes]:
    """Each staged record against the golden rows (:meth:`GoldenLoader.classify`); the kinds in ``keep_absent``
    (not in the records) lose none of their rows."""
    with progress.task("comparing with the database", None):
        changes = loader.classify(None if scope is None else list(scope.statuses))
    for kind in keep_absent:
        changes[kind].absent = []
    return changes


def _fulltext_config(conn: Any, name: str | None) -> str | None:
    """``retrieval.fulltext_config`` resolved (None: no index to consider: a mapping, or not given), before any
    record is read: a configuration the database lacks is exit 3 with nothing done, not after the load."""
    return None if name is None else text_search_config(conn, name)


def _refuse_dangling(loader: GoldenLoader) -> None:
    """After applying: no query expectation may point at a chunk or analysis the tables would not hold."""
    count, dangling = loader.dangling_references()
    if dangling:
        more = f" ... ({count} in all)" if count > 5 else ""
        raise DataIntegrityError(
            f"{count} query expectation(s) point at chunks/analyses that would not exist: "
            + ", ".join(dangling[:5])
            + more
            + "; nothing was changed (keep or import those chunks, or change those queries' expectations)",
            references=dangling,
        )


def _loader(
    conn: Any, database: DatabaseParams | None, lock_timeout: float | None, dim: int, replace: bool
) -> GoldenLoader:
    """A loader ready to stage: the schema ensured, the temp tables made, the role's write privileges checked
    (a dry run too: it fails where the restore would)."""
    if database is None:
        loader = GoldenLoader(conn, lock_timeout=lock_timeout)
    else:
        loader = MappedLoader(conn, Mapping.from_params(database), lock_timeout=lock_timeout)
    loader.prepare(dim)
    loader.refuse_unwritable(replace=replace)
    return loader


def _embed(conn: Any, embedder: Embedder, loader: GoldenLoader, batch: int, progress: Progress) -> EmbedStats:
    """Embed the stale chunks: into the user's embedding column through a mapping, else golden.chunks."""
    if isinstance(loader, MappedLoader):
        vectors = MappedChunkVectors(loader.mapping)
        with vectors.hnsw_deferred(conn, vectors.count_stale(conn, embedder.model_id), progress):
            return embed_chunks(conn, embedder, batch_size=batch, progress=progress, vectors=vectors)
    with hnsw_deferred(conn, count_stale_chunks(conn, embedder.model_id), progress):
        return embed_chunks(conn, embedder, batch_size=batch, progress=progress)


def _embed_and_record(
    conn: Any,
    embedder: Embedder,
    loader: GoldenLoader,
    batch: int | None,
    progress: Progress,
    state: tuple[str | None, str | None, str | None, bool],
) -> EmbedStats:
    """Embed the chunks (through the cache; ``batch`` None: the embedder's batch size), then record what the
    tables hold (golden.dataset_state)."""
    batch = batch or int(getattr(embedder, "batch_size", 64) or 64)
    stats = _embed(conn, embedder, loader, batch, progress)
    dataset, version, source, replace = state
    write_dataset_state(
        conn, dataset=dataset, version=version, model_id=embedder.model_id, source=source, replace=replace
    )
    return stats


def _embedded(report: RestoreReport, stats: EmbedStats, fulltext_index: str | None) -> RestoreReport:
    """``report`` with what the embedding did, its warning about chunks cut to the model's tokens, and the
    full-text index built (None: none)."""
    cut = stats.cut_warning()
    return replace_fields(
        report,
        fulltext_index=fulltext_index,
        chunks_embedded=stats.total,
        embeddings_cached=stats.cached,
        embeddings_computed=stats.computed,
        warnings=report.warnings + ((f"warning: {cut}",) if cut else ()),
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
    keep_absent: frozenset[str] = frozenset(),
    dataset: str | None = None,
    scope: StoreScope | None = None,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    database: DatabaseParams | None = None,
    fulltext_config: str | None = None,
) -> RestoreReport:
    """Restore records into the golden tables at ``url`` in one transaction (see the module doc).

    ``analyses`` and ``queries`` may be any iterables (streamed; staged in batches); ``totals``: their counts.
    ``keep_absent``: the kinds whose rows the records do not contain stay, even with ``replace``.
    Raises :class:`ConflictError` (nothing changed) when records differ and
    ``replace`` is false, unless ``dry_run`` (then the report lists them).
    ``scope``: what the records stand for; a replace removes only rows inside it (None: every row).
    ``lock_timeout``: seconds to wait for another writer's golden lock before giving up (DatabaseError).
    ``dataset``, ``version`` (None: an import), ``source``: recorded in golden.dataset_state (:mod:`~goldkeeper.db.state`)
    ``database``: params ``database:`` (the application's own tables; their ``where`` is the scope).
    ``fulltext_config``: params ``retrieval.fulltext_config``, whose index golden.chunks gets (:mod:`.fulltext_index`).
    """
    scope = None if database is not None else scope
    with golden_transaction(url, rollback=dry_run) as conn:
        loader = _loader(conn, database, lock_timeout, embedder.dim, replace)
        fulltext = _fulltext_config(conn, None if database is not None else fulltext_config)
        staged = _stage(loader, analyses, queries, progress, totals)
        changes = _classify(loader, scope, keep_absent, progress)
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
            dim_change=None if loader.dim_changed_from is None else (loader.dim_changed_from, embedder.dim),
        )
        if dry_run and not replace and (changes["analyses"].different or changes["queries"].different):
            return report  # a dry run reports the conflicts that a real run would refuse
        with progress.task("writing the database", None):
            loader.apply(changes, replace=replace)
            _refuse_dangling(loader)
        if dry_run:
            return report
        stats = _embed_and_record(conn, embedder, loader, batch_size, progress, (dataset, version, source, replace))
        return _embedded(report, stats, None if fulltext is None else build_fulltext_index(conn, fulltext, progress))


@dataclass(frozen=True)
class VerifiedStore:
    """A store that passed every verify contract restore requires, with verify's report."""

    store: Store
    report: VerifyReport


def verify_for_restore(
    store: Store | StoreSource | Path | str,
    settings: Settings | None = None,
    allow: Iterable[str] = (),
    progress: Progress = SILENT,
) -> VerifiedStore:
    """Run every ``verify`` contract on ``store``; raise :class:`~goldkeeper.errors.VerificationFailed`
    (exit 5, every violation listed as verify lists it) for any error whose code is not in ``allow``
    (content contract codes only, or ``url.*`` / ``prompt.*``: else :class:`~goldkeeper.errors.UsageError`).

    Nothing but the store's files is read: call it before opening (or starting) a database.
    """
    allowed = allowed_codes(allow)  # a code restore may not allow is a usage error, before anything is read
    source = store.source if isinstance(store, Store) else store
    report = verify_store(source, settings, progress=progress)
    refuse_violations(report, allowed)
    opened = store if isinstance(store, Store) else open_store(store)
    if opened.version != report.version:
        raise DataIntegrityError(
            f"{opened.source.describe('manifest.json')}: changed while it was being verified; nothing was restored"
        )
    return VerifiedStore(store=opened, report=report)


def restore_verified(
    url: str,
    verified: VerifiedStore,
    embedder: Embedder,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    database: DatabaseParams | None = None,
    fulltext_config: str | None = None,
) -> RestoreReport:
    """Restore a store :func:`verify_for_restore` accepted (see :func:`restore_records`)."""
    store, checked = verified.store, dict(verified.report.checked)
    report = restore_records(
        url,
        store.analyses(),
        store.queries(),
        embedder,
        replace=replace,
        dry_run=dry_run,
        progress=progress,
        batch_size=batch_size,
        totals=(checked.get("analyses"), checked.get("queries")),
        source=store.source.describe("").rstrip("/") or None,
        version=store.version,
        dataset=store.manifest.dataset,
        scope=replace_scope(store),
        lock_timeout=lock_timeout,
        database=database,
        fulltext_config=fulltext_config,
    )
    return replace_fields(report, warnings=tuple(i.render() for i in verified.report.warnings) + report.warnings)


def restore_store(
    url: str,
    store: Store | StoreSource | Path | str,
    embedder: Embedder,
    *,
    settings: Settings | None = None,
    allow: Iterable[str] = (),
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
    lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
) -> RestoreReport:
    """Verify the whole store (:func:`verify_for_restore`), then restore it (:func:`restore_verified`)."""
    verified = verify_for_restore(store, settings, allow, progress)
    options: dict[str, Any] = {"progress": progress, "batch_size": batch_size, "lock_timeout": lock_timeout}
    options["database"] = settings.database if settings is not None else None
    options["fulltext_config"] = settings.fulltext_index_config if settings is not None else None
    return restore_verified(url, verified, embedder, replace=replace, dry_run=dry_run, **options)


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
    "check_storable",
    "restore_records",
    "restore_store",
    "VerifiedStore",
    "verify_for_restore",
    "restore_verified",
    "replace_scope",
]
