"""The record contracts and the one pass over the shards that checks them.

:func:`scan_shard` reads one shard, runs the shard contracts (:mod:`.shards`) and each record's
contracts (unique ids, chunk order, the URL contract, the prompt contract, warnings), and
collects into a :class:`Scan` what the store-wide checks need afterwards: ids and references
only, so memory is bounded by the ids, not the records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from goldkeeper.config import RubricParams, VerifyParams
from goldkeeper.dataset.url_contract import url_problem
from goldkeeper.dataset.verify.loadable import check_loadable
from goldkeeper.dataset.verify.prompts import check_prompt_fields, check_prompt_policy
from goldkeeper.dataset.verify.report import IssueList
from goldkeeper.dataset.verify.shards import (
    check_checksum,
    check_order,
    check_placement,
    check_record_count,
    check_shard_canonical,
    parse_shard,
    read_shard,
    validate_records,
)
from goldkeeper.models import Analysis, Query, ShardEntry
from goldkeeper.store.source import StoreSource


@dataclass
class Scan:
    """What one pass over the shards collects for the store-wide checks."""

    analysis_ids: dict[str, str] = field(default_factory=dict)  # id -> file
    chunk_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # chunk id -> (file, analysis id)
    query_ids: dict[str, str] = field(default_factory=dict)  # id -> file
    artifact_ids: dict[str, str] = field(default_factory=dict)  # artifact id -> analysis id
    #: (file, query id, field, kind, target id) of every expected result
    references: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    #: ids of records that failed their schema (already reported): references to them are not "dangling"
    unvalidated_ids: set[str] = field(default_factory=set)
    domains: Counter[str] = field(default_factory=Counter)
    valid_queries: int = 0
    raw_counts: Counter[str] = field(default_factory=Counter)
    shards_read: int = 0


@dataclass(frozen=True)
class RecordRules:
    """The settings the record contracts read: the URL contract's and the prompt rubric."""

    urls: VerifyParams
    rubric: RubricParams


def scan_shard(
    source: StoreSource, entry: ShardEntry, shard_count: int, rules: RecordRules, scan: Scan, issues: IssueList
) -> None:
    """Check one listed shard and its records, adding what the store-wide checks need to ``scan``."""
    name = source.describe(entry.path)
    data = read_shard(source, entry, issues)
    if data is None:
        return
    check_checksum(entry, data, name, issues)
    raw = parse_shard(data, name, issues)
    if raw is None:
        return
    scan.shards_read += 1
    check_record_count(entry, raw, name, issues)
    _count_raw(entry.entity, raw, scan)
    validated = validate_records(entry.entity, raw, name, issues)
    records = [r for r in validated if r is not None]
    check_placement(entry, records, shard_count, name, issues)
    check_order(records, name, issues)
    if len(records) == len(raw):
        check_shard_canonical(data, records, name, issues)
    nul_possible = b"\\u0000" in data  # JSON can only write U+0000 as \u0000: no walk for NUL-free shards
    for item, record in zip(raw, validated, strict=True):
        if record is None:
            _remember_unvalidated(item, scan)
            continue
        check_loadable(record, name, issues, nul_possible=nul_possible)
        if isinstance(record, Analysis):
            _check_analysis(record, rules, name, scan, issues)
        else:
            _check_query(item, record, rules, name, scan, issues)


def _check_analysis(analysis: Analysis, rules: RecordRules, name: str, scan: Scan, issues: IssueList) -> None:
    _check_chunk_order(analysis, name, issues)
    _collect_analysis(analysis, name, scan, issues)
    _check_url(analysis, rules.urls, name, issues)
    _warn_analysis(analysis, name, issues)


def _check_query(
    raw: dict[str, Any], query: Query, rules: RecordRules, name: str, scan: Scan, issues: IssueList
) -> None:
    _collect_query(query, name, scan, issues)
    check_prompt_fields(raw, query, rules.rubric, name, issues)
    check_prompt_policy(query, rules.rubric, name, issues)
    _warn_query(query, name, issues)


def _count_raw(entity: str, raw: list[Any], scan: Scan) -> None:
    """Count the records as they are in the file, valid or not (what the manifest counts must match)."""
    scan.raw_counts[entity] += len(raw)
    if entity != "analyses":
        return
    for item in raw:
        if not isinstance(item, dict):
            continue
        for key in ("chunks", "findings"):
            if isinstance(item.get(key), list):
                scan.raw_counts[key] += len(item[key])
        if item.get("artifact") is not None:
            scan.raw_counts["artifacts"] += 1


def _check_chunk_order(analysis: Analysis, name: str, issues: IssueList) -> None:
    """An analysis's chunks ascend by chunk_index."""
    indexes = [c.chunk_index for c in analysis.chunks]
    if indexes != sorted(indexes):
        issues.error(
            "chunk.order", f"chunks must be sorted by chunk_index (found {indexes[:8]}...)", name, analysis.id, "chunks"
        )


def _check_url(analysis: Analysis, params: VerifyParams, name: str, issues: IssueList) -> None:
    """Report the URL contract violation of ``analysis`` (see :func:`~goldkeeper.dataset.url_contract.url_problem`)."""
    problem = url_problem(analysis.url, params)
    if problem is not None:
        issues.error(problem.code, problem.message, name, analysis.id, "url")


def _collect_analysis(analysis: Analysis, name: str, scan: Scan, issues: IssueList) -> None:
    """Analysis ids are unique in the store; chunk ids are unique across all analyses."""
    aid = str(analysis.id)
    if aid in scan.analysis_ids:
        issues.error(
            "analysis.duplicate_id", f"duplicate analysis id (also in {scan.analysis_ids[aid]})", name, aid, "id"
        )
    else:
        scan.analysis_ids[aid] = name
    for index, chunk in enumerate(analysis.chunks):
        cid = str(chunk.id)
        if cid in scan.chunk_ids:
            other_file, other_analysis = scan.chunk_ids[cid]
            issues.error(
                "chunk.duplicate_id",
                f"chunk id {cid} is also used in analysis {other_analysis} ({other_file})",
                name,
                aid,
                f"chunks.{index}.id",
            )
        else:
            scan.chunk_ids[cid] = (name, aid)
    if analysis.artifact is not None:
        art = str(analysis.artifact.id)
        if art in scan.artifact_ids and scan.artifact_ids[art] != aid:  # the same analysis twice: reported above
            issues.error(
                "artifact.duplicate_id",
                f"artifact id {art} is also used by analysis {scan.artifact_ids[art]}",
                name,
                aid,
                "artifact.id",
            )
        else:
            scan.artifact_ids[art] = aid


def _warn_analysis(analysis: Analysis, name: str, issues: IssueList) -> None:
    """Warnings: an analysis without chunks; a chunk with empty content."""
    if not analysis.chunks:
        issues.warning(
            "analysis.no_chunks", "analysis has no chunks: nothing of it can be retrieved", name, analysis.id, "chunks"
        )
    for index, chunk in enumerate(analysis.chunks):
        if not chunk.content.strip():
            issues.warning(
                "chunk.empty_content",
                f"chunk {chunk.id} has empty content",
                name,
                analysis.id,
                f"chunks.{index}.content",
            )


def _collect_query(query: Query, name: str, scan: Scan, issues: IssueList) -> None:
    """Query ids are unique (also the prompt contract's unique-id rule); expected results are collected."""
    if query.id in scan.query_ids:
        issues.error(
            "query.duplicate_id", f"duplicate query id (also in {scan.query_ids[query.id]})", name, query.id, "id"
        )
    else:
        scan.query_ids[query.id] = name
    scan.valid_queries += 1
    scan.domains[query.domain] += 1
    for kind in ("chunks", "analyses"):
        for index, relevance in enumerate(getattr(query.expected, kind)):
            scan.references.append((name, query.id, f"expected.{kind}.{index}.id", kind, str(relevance.id)))


def _warn_query(query: Query, name: str, issues: IssueList) -> None:
    """Warning: a query that expects an answer but names no expected result (retrieval cannot be scored)."""
    if query.expected_behavior.behavior == "answer" and query.expected.is_empty():
        issues.warning(
            "query.no_expected",
            "expects an answer but lists no expected chunks or analyses",
            name,
            query.id,
            "expected",
        )


def _remember_unvalidated(raw: Any, scan: Scan) -> None:
    """Note the ids of a record that failed its schema, and of its chunks: references to them are not dangling."""
    if not isinstance(raw, dict):
        return
    scan.unvalidated_ids.add(str(raw.get("id")))
    chunks = raw.get("chunks")
    for chunk in chunks if isinstance(chunks, list) else []:
        if isinstance(chunk, dict):
            scan.unvalidated_ids.add(str(chunk.get("id")))


def check_references(scan: Scan, issues: IssueList) -> None:
    """Every expected chunk / analysis of a query exists in the store."""
    for name, query_id, where, kind, target in scan.references:
        if target in scan.unvalidated_ids:
            continue  # its record failed its schema: reported there
        if kind == "chunks" and target not in scan.chunk_ids:
            issues.error(
                "query.dangling_chunk", f"expected chunk {target} does not exist in the store", name, query_id, where
            )
        elif kind == "analyses" and target not in scan.analysis_ids:
            issues.error(
                "query.dangling_analysis",
                f"expected analysis {target} does not exist in the store",
                name,
                query_id,
                where,
            )


__all__ = ["Scan", "RecordRules", "scan_shard", "check_references"]
