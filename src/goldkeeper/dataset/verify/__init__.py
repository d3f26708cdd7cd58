"""``verify``: the integrity contracts of a golden store, on the files and in the database.

Every contract is one small function with one stable ``code``; a failed check adds an
:class:`Issue` naming the file, the record id and the field. Nothing stops at the first
problem: the report lists every violation found. Errors make the store invalid; warnings
only fail ``verify --strict``.

Codes (files)::

    manifest.missing  manifest.unreadable  manifest.symlink  manifest.invalid_json
    manifest.duplicate_key  manifest.schema  manifest.format_version  manifest.schema_version
    manifest.shard_path  manifest.counts
    manifest.shard_counts (warning)  manifest.not_canonical (warning)
    shard.missing  shard.unreadable  shard.symlink  shard.unlisted  shard.checksum
    shard.invalid_json  shard.duplicate_key  shard.record_count
    shard.not_canonical (warning)  shard.line_endings manifest.line_endings (warnings: CRLF)
    record.schema  record.wrong_shard  record.order  chunk.order  record.too_deep
    analysis.duplicate_id  chunk.duplicate_id  artifact.duplicate_id  query.duplicate_id
    query.dangling_chunk  query.dangling_analysis
    record.nul_character  record.int_range  chunk.too_long  query.duplicate_expected
    url.placeholder  url.scheme  url.invalid
    prompt.min_count  prompt.domain_diversity  prompt.required_field  prompt.policy
    analysis.no_chunks  chunk.empty_content  query.no_expected          (warnings)

Codes (database, ``verify --db``)::

    db.schema_missing  db.count  db.chunk_not_embedded  db.embedding_model  db.embedding_dim
    db.orphan_chunk  db.orphan_artifact  db.orphan_finding  db.dangling_expected
    db.content  db.record_missing  db.record_extra  db.record_invalid  url.* (on the database rows)
    (:mod:`.db_content`)
    db.version (warning: the database records another dataset version than the store)

Where they live: :mod:`.report` (Issue, VerifyReport), :mod:`.manifest` (manifest and shard
list), :mod:`.shards` (each shard), :mod:`.records` (each record, and the pass over the shards),
:mod:`.prompts` (the prompt contract), :mod:`.loadable` (what PostgreSQL can store), :mod:`.refusal`
(restore's refusal), :mod:`.database` (``verify --db``). The URL contract is
:mod:`goldkeeper.dataset.url_contract`, shared with ``goldkeeper diff``.
"""

from __future__ import annotations

from pathlib import Path

from goldkeeper.config import RubricParams, Settings
from goldkeeper.dataset.url_contract import url_problem
from goldkeeper.dataset.verify.database import EmbedderIdentity, ModelIdentity, verify_database
from goldkeeper.dataset.verify.manifest import (
    check_counts,
    check_manifest,
    check_manifest_canonical,
    check_shard_count_values,
    check_shard_counts,
    check_shard_paths,
    check_unlisted_shards,
)
from goldkeeper.dataset.verify.prompts import check_domain_diversity, check_prompt_count
from goldkeeper.dataset.verify.records import RecordRules, Scan, check_references, scan_shard
from goldkeeper.dataset.verify.report import Issue, IssueList, Severity, VerifyReport
from goldkeeper.dataset.verify.shards import check_line_endings
from goldkeeper.models import count_records
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store.canonical import sha256_hex
from goldkeeper.store.reader import Store, store_stamp
from goldkeeper.store.source import DirectorySource, StoreSource
from goldkeeper.store.writer import MANIFEST


def _source_of(store: Store | StoreSource | Path | str) -> StoreSource:
    if isinstance(store, Store):
        return store.source
    if isinstance(store, str | Path):
        return DirectorySource(Path(store))
    return store


#: reads of a store that another goldkeeper command replaced meanwhile, before the mix is reported as it is
_READS = 3


def verify_store(
    store: Store | StoreSource | Path | str,
    settings: Settings | None = None,
    *,
    rubric: RubricParams | None = None,
    progress: Progress = SILENT,
) -> VerifyReport:
    """Check every file contract of a golden store; never raises for bad data, reports it.

    A dump or fmt running meanwhile replaces the directory as a whole, between two of the reads here: the
    manifest of one store and shards of the other would be reported as a corrupted store. So when the
    manifest at the end is not the file read at the start, the store is read again."""
    settings = settings if settings is not None else Settings()
    rubric = rubric if rubric is not None else settings.rubric
    source = _source_of(store)
    for _ in range(_READS):
        stamp = store_stamp(source)
        report = _verify_once(source, settings, rubric, progress)
        if report.ok() or store_stamp(source) == stamp:
            break
    return report


def _verify_once(source: StoreSource, settings: Settings, rubric: RubricParams, progress: Progress) -> VerifyReport:
    """One read of the store."""
    issues = IssueList()
    target = source.describe("").rstrip("/") or "."
    manifest_bytes, manifest = check_manifest(source, issues)
    version = sha256_hex(manifest_bytes) if manifest_bytes is not None else None
    if manifest is None or manifest_bytes is None:
        return issues.report(target, version, {})
    name = source.describe(MANIFEST)
    check_manifest_canonical(manifest_bytes, manifest, name, issues)
    check_shard_counts(manifest, settings, name, issues)
    check_shard_count_values(manifest, name, issues)
    entries = check_shard_paths(manifest, name, issues)
    check_unlisted_shards(source, manifest, issues)
    scan = Scan()
    rules = RecordRules(urls=settings.verify, rubric=rubric)
    with progress.task("verifying shards", len(entries)) as task:
        for entry in entries:
            scan_shard(source, entry, manifest.shard_counts[entry.entity], rules, scan, issues)
            task.advance()
    check_counts(manifest, scan.raw_counts, name, issues)
    check_line_endings(source, issues)
    check_references(scan, issues)
    queries_dir = source.describe("queries")
    check_prompt_count(scan.valid_queries, rubric, queries_dir, issues)
    check_domain_diversity(scan.domains, rubric, queries_dir, issues)
    checked = {"shards": scan.shards_read, **{k: scan.raw_counts.get(k, 0) for k in count_records([], [])}}
    return issues.report(target, version, checked)


__all__ = [
    "Severity",
    "Issue",
    "VerifyReport",
    "EmbedderIdentity",
    "ModelIdentity",
    "url_problem",
    "verify_store",
    "verify_database",
]
