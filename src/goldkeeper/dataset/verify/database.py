"""The database contracts (``verify --db``): the golden tables against the store's manifest and the
configured embedder. The facts come from :mod:`goldkeeper.db.integrity`; this module judges them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from goldkeeper.config import Settings
from goldkeeper.dataset.verify.db_content import report_content, scan_database
from goldkeeper.dataset.verify.report import IssueList, VerifyReport
from goldkeeper.db.connection import redact_url
from goldkeeper.db.integrity import IntegrityFacts, Sampled, integrity_facts
from goldkeeper.db.mapped_integrity import mapped_integrity_facts
from goldkeeper.db.mapping import Mapping
from goldkeeper.errors import DataIntegrityError
from goldkeeper.models import Manifest
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store.reader import Store, open_store
from goldkeeper.store.source import StoreSource

#: how the database is named in the issues' ``file`` column
_WHERE = "database golden"

_ORPHAN_CODES = {
    "chunks": ("db.orphan_chunk", "chunk(s) whose analysis does not exist"),
    "artifacts": ("db.orphan_artifact", "artifact(s) whose analysis does not exist"),
    "findings": ("db.orphan_finding", "finding(s) whose analysis does not exist"),
    "query_expected": ("db.orphan_expected", "expected-result row(s) whose query does not exist"),
}


class EmbedderIdentity(Protocol):
    """What verify needs of the configured embedder: its identity and dimension."""

    model_id: str
    dim: int


@dataclass(frozen=True)
class ModelIdentity:
    """An :class:`EmbedderIdentity` without the model: enough to verify without loading it."""

    model_id: str
    dim: int


def _sample_text(sample: Sampled) -> str:
    shown = ", ".join(str(s) if not isinstance(s, tuple) else "/".join(map(str, s)) for s in sample.sample)
    more = sample.count - len(sample.sample)
    return shown + (f" and {more} more" if more > 0 else "")


def _count_scope(key: str, analyses_scope: str, queries_scope: str) -> str:
    """What a count of ``key`` covers, as its message says it: the queries have a scope of their own (they
    were said to be counted over `analyses with status in [...]`, which never filters them)."""
    if key == "queries":
        return f" ({queries_scope})" if queries_scope else ""
    return f" (analyses {analyses_scope})" if key == "analyses" else f" (of the analyses {analyses_scope})"


def _check_db_counts(
    facts: IntegrityFacts, manifest: Manifest, scope: tuple[str, str], where: str, issues: IssueList
) -> None:
    """Row counts (analyses in the dumped scope and their children; the queries in theirs) equal the manifest's."""
    for key, count in sorted(facts.counts.items()):
        expected = manifest.counts.get(key)
        if expected is not None and expected != count:
            issues.error(
                "db.count",
                f"the database holds {count} {key}{_count_scope(key, *scope)}, the manifest lists {expected}",
                where,
                field=key,
            )


def _check_db_embedded(facts: IntegrityFacts, where: str, issues: IssueList) -> None:
    """Every chunk has an embedding."""
    if facts.unembedded.count:
        issues.error(
            "db.chunk_not_embedded",
            f"{facts.unembedded.count} chunk(s) have no embedding: {_sample_text(facts.unembedded)} "
            "(run `goldkeeper restore` to regenerate)",
            where,
            field="embedding",
        )


def _check_db_embedding_model(facts: IntegrityFacts, identity: EmbedderIdentity, where: str, issues: IssueList) -> None:
    """Every embedding was made by the configured model."""
    for model, sample in facts.models.items():
        if model != identity.model_id:
            issues.error(
                "db.embedding_model",
                f"{sample.count} chunk(s) embedded with {model or 'an unrecorded model'}, the configured model is "
                f"{identity.model_id}: {_sample_text(sample)}",
                where,
                field="embedding_model",
            )


def _check_db_embedding_dim(facts: IntegrityFacts, identity: EmbedderIdentity, where: str, issues: IssueList) -> None:
    """The embedding column and every embedding have the configured model's dimension."""
    if facts.column_dim is not None and facts.column_dim != identity.dim:
        issues.error(
            "db.embedding_dim",
            f"the embedding column is vector({facts.column_dim}), the configured model has {identity.dim} dimensions",
            where,
            field="embedding",
        )
    for dim, sample in facts.dims.items():
        if dim != identity.dim:
            issues.error(
                "db.embedding_dim",
                f"{sample.count} chunk(s) have {dim}-dimensional embeddings, the configured model has {identity.dim}: "
                f"{_sample_text(sample)}",
                where,
                field="embedding",
            )


def _check_db_orphans(facts: IntegrityFacts, places: dict[str, str], issues: IssueList) -> None:
    """No chunk / artifact / finding without its analysis, no expected-result row without its query."""
    for kind, sample in facts.orphans.items():
        if sample.count:
            code, what = _ORPHAN_CODES[kind]
            issues.error(
                code,
                f"{sample.count} {what}: {_sample_text(sample)}",
                places.get(kind, f"{_WHERE}.{kind}"),
                field="analysis_id" if kind != "query_expected" else "query_id",
            )


def _check_db_dangling(facts: IntegrityFacts, where: str, issues: IssueList) -> None:
    """Every query_expected row points at an existing chunk / analysis."""
    if facts.dangling_expected.count:
        for query_id, kind, target in facts.dangling_expected.sample:
            issues.error(
                "db.dangling_expected",
                f"expected {kind} {target} does not exist in the database",
                f"{where}.query_expected",
                query_id,
                "target_id",
            )
        more = facts.dangling_expected.count - len(facts.dangling_expected.sample)
        if more > 0:
            issues.error(
                "db.dangling_expected",
                f"and {more} more expected-result row(s) pointing at missing rows",
                f"{where}.query_expected",
            )


def verify_database(
    url: str,
    store: Store | StoreSource | Path | str | Manifest | None,
    settings: Settings,
    embedder_identity: EmbedderIdentity,
    *,
    limit: int = 20,
    content: bool = True,
    progress: Progress = SILENT,
) -> VerifyReport:
    """Check the database contracts against a store (counts; with ``content``, every record's canonical
    hash and the URL contract: :mod:`.db_content`) and the configured embedder.

    Offending rows are listed up to ``limit`` per check, with their total count.
    """
    issues = IssueList()
    target = f"database {redact_url(url)}"
    # each phase is a few queries over every row: seconds on a large dataset, and nothing to count
    with progress.task("checking the database", None):
        facts, places, scope = _facts(url, settings, limit)
    if not facts.schema_exists:
        issues.error(
            "db.schema_missing",
            "the golden schema does not exist (run `goldkeeper db init` or `goldkeeper restore`)",
            _WHERE,
        )
        return issues.report(target, None, {})
    opened = None if isinstance(store, Manifest) else _store_of(store)
    manifest = store if isinstance(store, Manifest) else (opened.manifest if opened is not None else None)
    if manifest is not None:
        _check_db_counts(facts, manifest, scope, places["analyses"], issues)
    if opened is not None:
        _check_db_version(facts, opened.version, issues)
    _check_db_embedded(facts, places["embeddings"], issues)
    _check_db_embedding_model(facts, embedder_identity, places["embeddings"], issues)
    _check_db_embedding_dim(facts, embedder_identity, places["embeddings"], issues)
    _check_db_orphans(facts, places, issues)
    _check_db_dangling(facts, _WHERE, issues)
    checked = {f"db {k}": v for k, v in sorted(facts.counts.items())}
    if opened is not None and content:
        try:
            with progress.task("comparing the database's records with the store", None):
                scan = scan_database(url, settings, opened, issues, limit=limit)
            report_content(scan, opened, issues)
            checked["db records compared"] = scan.compared
        except DataIntegrityError:
            pass  # an unreadable store: the file checks report why
    report = issues.report(target, None, checked)
    if facts.state is None:
        return report
    return replace(report, database={**facts.state.to_json(), "description": facts.state.describe()})


def _facts(url: str, settings: Settings, limit: int) -> tuple[IntegrityFacts, dict[str, str], tuple[str, str]]:
    """The database's facts, the places its issues name (the table whose rows they are about: the embeddings
    are the chunks' table's, an orphan its own table's), and the scopes its counts cover (the analyses', the
    queries': empty when every row counts)."""
    if settings.database is not None:  # the application's own tables (issue 12): the mapping's scope
        mapping = Mapping.from_params(settings.database)
        facts = mapped_integrity_facts(url, mapping, limit=limit)
        places = {entity: f"database {table.name}" for entity, table in mapping.tables.items()}
        queries = mapping.tables.get("queries")
        queries_scope = "inside database.tables.queries.where" if queries is not None and queries.where else ""
        scope = ("inside database.tables.analyses.where", queries_scope)
        return facts, {**places, "embeddings": places["chunks"]}, scope
    facts = integrity_facts(url, settings.dump.statuses, limit=limit)
    places = {"analyses": _WHERE, "embeddings": _WHERE}  # an orphan: database golden.<its table>
    return facts, places, (f"with status in {settings.dump.statuses}", "")


def _check_db_version(facts: IntegrityFacts, store_version: str, issues: IssueList) -> None:
    """The database records the store's version (a warning: the content checks say what differs)."""
    state = facts.state
    if state is not None and state.version != store_version:
        issues.warning(
            "db.version",
            f"the database records {state.held()} (restored at {state.to_json()['restored_at']}), the store is version "
            f"{store_version}",
            f"{_WHERE}.dataset_state",
            field="version",
        )


def _store_of(store: Store | StoreSource | Path | str | None) -> Store | None:
    """The opened store for the count and content checks; None when there is no readable one."""
    if store is None or isinstance(store, Store):
        return store
    try:
        return open_store(store)
    except DataIntegrityError:
        return None  # the file checks report why


__all__ = ["EmbedderIdentity", "ModelIdentity", "verify_database"]
