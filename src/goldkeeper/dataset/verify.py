"""``verify``: the integrity contracts of a golden store, on the files and in the database.

Every contract is one small function with one stable ``code``; a failed check adds an
:class:`Issue` naming the file, the record id and the field. Nothing stops at the first
problem: the report lists every violation found. Errors make the store invalid; warnings
only fail ``verify --strict``.

Codes (files)::

    manifest.missing  manifest.invalid_json  manifest.schema  manifest.format_version
    manifest.schema_version  manifest.shard_path  manifest.counts
    manifest.shard_counts (warning)  manifest.not_canonical (warning)
    shard.missing  shard.unlisted  shard.checksum  shard.invalid_json  shard.record_count
    shard.not_canonical (warning)
    record.schema  record.wrong_shard  record.order  chunk.order
    analysis.duplicate_id  chunk.duplicate_id  query.duplicate_id
    query.dangling_chunk  query.dangling_analysis
    url.placeholder  url.scheme  url.invalid
    prompt.min_count  prompt.domain_diversity  prompt.required_field  prompt.policy
    analysis.no_chunks  chunk.empty_content  query.no_expected          (warnings)

Codes (database, ``verify --db``)::

    db.schema_missing  db.count  db.chunk_not_embedded  db.embedding_model  db.embedding_dim
    db.orphan_chunk  db.orphan_artifact  db.orphan_finding  db.dangling_expected
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError

from goldkeeper.config import RubricParams, Settings, VerifyParams
from goldkeeper.db.integrity import IntegrityFacts, Sampled, integrity_facts
from goldkeeper.models import FORMAT_VERSION, SCHEMA_VERSION, Analysis, Manifest, Query, ShardEntry, count_records
from goldkeeper.store.canonical import canonical_bytes, sha256_hex
from goldkeeper.store.reader import MODEL_OF, Store
from goldkeeper.store.sharding import shard_path
from goldkeeper.store.source import DirectorySource, StoreSource
from goldkeeper.store.writer import MANIFEST

Severity = Literal["error", "warning"]
_SHARD_PATH = re.compile(r"^(analyses|queries)/[0-9]+\.json$")


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Issue:
    """One contract violation: where (file, record id, field) and what (code, message)."""

    severity: Severity
    code: str
    message: str
    file: str | None = None
    record_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "file": self.file,
            "record_id": self.record_id,
            "field": self.field,
            "message": self.message,
        }

    def render(self) -> str:
        where = [self.file] if self.file else []
        if self.record_id is not None:
            where.append(f"record {self.record_id}")
        if self.field:
            where.append(f"field {self.field}")
        location = ": ".join(where)
        return f"{self.severity} [{self.code}] " + (f"{location}: " if location else "") + self.message


@dataclass(frozen=True)
class VerifyReport:
    """The result of ``verify``: every issue found, plus what was checked."""

    target: str
    issues: tuple[Issue, ...] = ()
    version: str | None = None
    checked: tuple[tuple[str, int], ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    def codes(self) -> set[str]:
        return {i.code for i in self.issues}

    def ok(self, strict: bool = False) -> bool:
        """Valid: no errors (and, when ``strict``, no warnings)."""
        return not self.errors and not (strict and self.warnings)

    def merged(self, other: VerifyReport) -> VerifyReport:
        return VerifyReport(
            target=self.target,
            issues=self.issues + other.issues,
            version=self.version or other.version,
            checked=self.checked + other.checked,
        )

    def summary(self, strict: bool = False) -> str:
        state = "valid" if self.ok(strict) else "INVALID"
        return f"{self.target}: {state}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)" + (
            " (strict: warnings fail)" if strict else ""
        )

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "target": self.target,
            "version": self.version,
            "valid": self.ok(strict),
            "strict": strict,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checked": dict(self.checked),
            "issues": [i.to_dict() for i in self.issues],
        }

    def to_json(self, strict: bool = False) -> str:
        return orjson.dumps(self.to_dict(strict), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()

    def to_text(self, strict: bool = False) -> str:
        lines = [i.render() for i in self.errors + self.warnings]
        if self.version:
            lines.append(f"dataset version {self.version}")
        if self.checked:
            lines.append("checked: " + ", ".join(f"{k} {v}" for k, v in self.checked))
        lines.append(self.summary(strict))
        return "\n".join(lines)


class _Issues:
    """The mutable list a verification run appends to."""

    def __init__(self) -> None:
        self.items: list[Issue] = []

    def error(self, code: str, message: str, file: str | None = None, record_id: Any = None, field: str | None = None) -> None:
        self.items.append(Issue("error", code, message, file, None if record_id is None else str(record_id), field))

    def warning(
        self, code: str, message: str, file: str | None = None, record_id: Any = None, field: str | None = None
    ) -> None:
        self.items.append(Issue("warning", code, message, file, None if record_id is None else str(record_id), field))

    def report(self, target: str, version: str | None, checked: dict[str, int]) -> VerifyReport:
        ordered = [i for i in self.items if i.severity == "error"] + [i for i in self.items if i.severity == "warning"]
        return VerifyReport(target=target, issues=tuple(ordered), version=version, checked=tuple(checked.items()))


def _loc(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


# --------------------------------------------------------------------------------------------
# What one pass over the shards collects (ids only: memory is bounded by ids, not records)


@dataclass
class _Scan:
    analysis_ids: dict[str, str] = field(default_factory=dict)  # id -> file
    chunk_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # chunk id -> (file, analysis id)
    query_ids: dict[str, str] = field(default_factory=dict)  # id -> file
    #: (file, query id, field, kind, target id) of every expected result
    references: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    #: ids of records that failed their schema (already reported): references to them are not "dangling"
    unvalidated_ids: set[str] = field(default_factory=set)
    domains: Counter[str] = field(default_factory=Counter)
    valid_queries: int = 0
    raw_counts: Counter[str] = field(default_factory=Counter)
    shards_read: int = 0


# --------------------------------------------------------------------------------------------
# Manifest contracts


def _check_manifest(source: StoreSource, issues: _Issues) -> tuple[bytes | None, Manifest | None]:
    """manifest.json exists, parses, is of a known format/schema version and validates."""
    name = source.describe(MANIFEST)
    try:
        data = source.read_bytes(MANIFEST)
    except (FileNotFoundError, NotADirectoryError):
        issues.error("manifest.missing", "no manifest.json: not a golden store (run `goldkeeper dump` first)", name)
        return None, None
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        issues.error("manifest.invalid_json", f"not valid JSON ({exc})", name)
        return data, None
    if not isinstance(raw, dict):
        issues.error("manifest.schema", "the manifest must be a JSON object", name)
        return data, None
    if not _check_manifest_versions(raw, name, issues):
        return data, None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            issues.error("manifest.schema", err["msg"], name, field=_loc(err["loc"]) or None)
        return data, None
    return data, manifest


def _check_manifest_versions(raw: dict[str, Any], name: str, issues: _Issues) -> bool:
    """format_version / schema_version no newer than this goldkeeper understands."""
    ok = True
    for key, known, code in (
        ("format_version", FORMAT_VERSION, "manifest.format_version"),
        ("schema_version", SCHEMA_VERSION, "manifest.schema_version"),
    ):
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > known:
            issues.error(code, f"{key} {value} is newer than this goldkeeper understands ({known}); upgrade goldkeeper", name, field=key)
            ok = False
    return ok


def _check_manifest_canonical(data: bytes, manifest: Manifest, name: str, issues: _Issues) -> None:
    """manifest.json is in canonical form (its sha256 is the dataset version)."""
    if canonical_bytes(manifest) != data:
        issues.warning(
            "manifest.not_canonical",
            "manifest.json is not in canonical form (hand-edited?); the next dump rewrites it and changes the dataset version",
            name,
        )


def _check_shard_counts(manifest: Manifest, settings: Settings, name: str, issues: _Issues) -> None:
    """The manifest's shard counts match params.yaml (else the next dump reshards every record)."""
    for entity, count in sorted(settings.store.shards.items()):
        if manifest.shard_counts.get(entity) != count:
            issues.warning(
                "manifest.shard_counts",
                f"shard count for {entity} is {manifest.shard_counts.get(entity)} in the manifest but {count} in params.yaml "
                "store.shards; the next dump moves records between shards",
                name,
                field=f"shard_counts.{entity}",
            )


def _check_shard_paths(manifest: Manifest, name: str, issues: _Issues) -> list[ShardEntry]:
    """Every listed shard has a well-formed path under its entity directory, listed once."""
    good: list[ShardEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(manifest.shards):
        where = f"shards.{index}.path"
        if not _SHARD_PATH.match(entry.path) or not entry.path.startswith(f"{entry.entity}/"):
            issues.error("manifest.shard_path", f"shard path {entry.path!r} is not <{entry.entity}>/<n>.json", name, field=where)
        elif entry.path in seen:
            issues.error("manifest.shard_path", f"shard {entry.path} is listed twice", name, field=where)
        elif entry.entity not in manifest.shard_counts:
            issues.error(
                "manifest.shard_path", f"no shard count for {entry.entity} in shard_counts", name, field=f"shard_counts.{entry.entity}"
            )
        else:
            good.append(entry)
        seen.add(entry.path)
    return good


def _check_unlisted_shards(source: StoreSource, manifest: Manifest, issues: _Issues) -> None:
    """No shard file on disk that the manifest does not list (it would be silently ignored)."""
    listed = {entry.path for entry in manifest.shards}
    for entity in MODEL_OF:
        for path in source.list_files(entity):
            if path.endswith(".json") and path not in listed:
                issues.error(
                    "shard.unlisted",
                    "shard file not listed in manifest.json: its records would be ignored by restore",
                    source.describe(path),
                )


def _check_counts(manifest: Manifest, scan: _Scan, name: str, issues: _Issues) -> None:
    """manifest counts equal the records actually present in the shards."""
    actual = dict(count_records([], []))
    actual.update({k: scan.raw_counts.get(k, 0) for k in actual})
    for key in sorted(set(actual) | set(manifest.counts)):
        if key not in actual:
            issues.error("manifest.counts", f"unknown count {key!r}", name, field=f"counts.{key}")
        elif manifest.counts.get(key) != actual[key]:
            issues.error(
                "manifest.counts",
                f"manifest says {manifest.counts.get(key)} {key}, the shards hold {actual[key]}",
                name,
                field=f"counts.{key}",
            )


# --------------------------------------------------------------------------------------------
# Shard contracts


def _read_shard(source: StoreSource, entry: ShardEntry, issues: _Issues) -> bytes | None:
    """A listed shard exists."""
    try:
        return source.read_bytes(entry.path)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        issues.error("shard.missing", "listed in manifest.json but missing", source.describe(entry.path))
        return None


def _check_checksum(entry: ShardEntry, data: bytes, name: str, issues: _Issues) -> None:
    """The shard's sha256 equals the manifest's."""
    actual = sha256_hex(data)
    if actual != entry.sha256:
        issues.error(
            "shard.checksum",
            f"sha256 {actual[:12]}... does not match the manifest ({entry.sha256[:12]}...): edited or corrupted after the dump",
            name,
        )


def _parse_shard(data: bytes, name: str, issues: _Issues) -> list[Any] | None:
    """The shard is a JSON array."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        issues.error("shard.invalid_json", f"not valid JSON ({exc})", name)
        return None
    if not isinstance(raw, list):
        issues.error("shard.invalid_json", "a shard must be a JSON array of records", name)
        return None
    return raw


def _check_record_count(entry: ShardEntry, raw: list[Any], name: str, issues: _Issues) -> None:
    """The shard holds as many records as the manifest says."""
    if len(raw) != entry.records:
        issues.error("shard.record_count", f"manifest lists {entry.records} records, the shard holds {len(raw)}", name)


def _validate_records(entity: str, raw: list[Any], name: str, issues: _Issues) -> list[Analysis | Query | None]:
    """Every record matches its schema; every failing field is reported with its record id."""
    model = MODEL_OF[entity]
    out: list[Analysis | Query | None] = []
    for index, item in enumerate(raw):
        record_id = item.get("id") if isinstance(item, dict) else None
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                issues.error(
                    "record.schema",
                    err["msg"],
                    name,
                    record_id if record_id is not None else f"#{index}",
                    _loc(err["loc"]) or None,
                )
            out.append(None)
    return out


def _count_raw(entity: str, raw: list[Any], scan: _Scan) -> None:
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


def _check_placement(entry: ShardEntry, records: Iterable[Analysis | Query], shard_count: int, name: str, issues: _Issues) -> None:
    """Each record lives in the shard its id hashes to."""
    for record in records:
        expected = shard_path(entry.entity, str(record.id), shard_count)
        if expected != entry.path:
            issues.error("record.wrong_shard", f"belongs in {expected} (stable hash of its id), found in {entry.path}", name, record.id, "id")


def _check_order(records: Sequence[Analysis | Query], name: str, issues: _Issues) -> None:
    """Records ascend by id inside a shard (equal ids are duplicates, reported elsewhere)."""
    for previous, record in zip(records, records[1:], strict=False):
        if str(record.id) < str(previous.id):
            issues.error("record.order", f"comes after {previous.id}: records must be sorted by id", name, record.id, "id")


def _check_chunk_order(analysis: Analysis, name: str, issues: _Issues) -> None:
    """An analysis's chunks ascend by chunk_index."""
    indexes = [c.chunk_index for c in analysis.chunks]
    if indexes != sorted(indexes):
        issues.error("chunk.order", f"chunks must be sorted by chunk_index (found {indexes[:8]}...)", name, analysis.id, "chunks")


def _check_shard_canonical(data: bytes, records: Sequence[Analysis | Query], name: str, issues: _Issues) -> None:
    """The shard's bytes are what goldkeeper writes for these records."""
    if canonical_bytes(list(records)) != data:
        issues.warning(
            "shard.not_canonical",
            "not in canonical form (hand-edited?): the next dump rewrites it; run `goldkeeper dump` to normalise",
            name,
        )


# --------------------------------------------------------------------------------------------
# Record contracts


def _placeholder_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(pattern.lower()) + r"(?![a-z0-9])")


def url_problem(url: str, params: VerifyParams) -> tuple[str, str] | None:
    """The URL contract: a real canonical URL, not a placeholder. ``(code, message)`` or None if kept.

    Patterns from ``verify.placeholder_patterns`` match case-insensitively as whole words (so
    ``todo`` flags ``https://x.org/todo`` but not ``.../wiki/Todos_Santos``); the scheme must be
    in ``verify.url_schemes``; the URL must parse and have a host. Shared with ``goldkeeper diff``.
    """
    lowered = url.lower()
    for pattern in params.placeholder_patterns:
        if _placeholder_regex(pattern).search(lowered):
            return "url.placeholder", f"{url!r} looks like a placeholder (matches {pattern!r})"
    if any(ch.isspace() for ch in url):
        return "url.invalid", f"{url!r} contains whitespace"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        return "url.invalid", f"{url!r} does not parse ({exc})"
    schemes = [s.lower() for s in params.url_schemes]
    if parts.scheme.lower() not in schemes:
        return "url.scheme", f"{url!r}: scheme {parts.scheme or '(none)'!r} is not one of {schemes}"
    if not host:
        return "url.invalid", f"{url!r} has no host"
    return None


def _check_url(analysis: Analysis, params: VerifyParams, name: str, issues: _Issues) -> None:
    """Report the URL contract violation of ``analysis`` (see :func:`url_problem`)."""
    problem = url_problem(analysis.url, params)
    if problem is not None:
        issues.error(problem[0], problem[1], name, analysis.id, "url")


def _collect_analysis(analysis: Analysis, name: str, scan: _Scan, issues: _Issues) -> None:
    """Analysis ids are unique in the store; chunk ids are unique across all analyses."""
    aid = str(analysis.id)
    if aid in scan.analysis_ids:
        issues.error("analysis.duplicate_id", f"duplicate analysis id (also in {scan.analysis_ids[aid]})", name, aid, "id")
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


def _warn_analysis(analysis: Analysis, name: str, issues: _Issues) -> None:
    """Warnings: an analysis without chunks; a chunk with empty content."""
    if not analysis.chunks:
        issues.warning("analysis.no_chunks", "analysis has no chunks: nothing of it can be retrieved", name, analysis.id, "chunks")
    for index, chunk in enumerate(analysis.chunks):
        if not chunk.content.strip():
            issues.warning("chunk.empty_content", f"chunk {chunk.id} has empty content", name, analysis.id, f"chunks.{index}.content")


def _collect_query(query: Query, name: str, scan: _Scan, issues: _Issues) -> None:
    """Query ids are unique (also the prompt contract's unique-id rule); expected results are collected."""
    if query.id in scan.query_ids:
        issues.error("query.duplicate_id", f"duplicate query id (also in {scan.query_ids[query.id]})", name, query.id, "id")
    else:
        scan.query_ids[query.id] = name
    scan.valid_queries += 1
    scan.domains[query.domain] += 1
    for kind in ("chunks", "analyses"):
        for index, relevance in enumerate(getattr(query.expected, kind)):
            scan.references.append((name, query.id, f"expected.{kind}.{index}.id", kind, str(relevance.id)))


def _warn_query(query: Query, name: str, issues: _Issues) -> None:
    """Warning: a query that expects an answer but names no expected result (retrieval cannot be scored)."""
    if query.expected_behavior.behavior == "answer" and query.expected.is_empty():
        issues.warning("query.no_expected", "expects an answer but lists no expected chunks or analyses", name, query.id, "expected")


def _remember_unvalidated(raw: Any, scan: _Scan) -> None:
    if not isinstance(raw, dict):
        return
    scan.unvalidated_ids.add(str(raw.get("id")))
    chunks = raw.get("chunks")
    for chunk in chunks if isinstance(chunks, list) else []:
        if isinstance(chunk, dict):
            scan.unvalidated_ids.add(str(chunk.get("id")))


def _check_references(scan: _Scan, issues: _Issues) -> None:
    """Every expected chunk / analysis of a query exists in the store."""
    for name, query_id, where, kind, target in scan.references:
        if target in scan.unvalidated_ids:
            continue  # its record failed its schema: reported there
        if kind == "chunks" and target not in scan.chunk_ids:
            issues.error("query.dangling_chunk", f"expected chunk {target} does not exist in the store", name, query_id, where)
        elif kind == "analyses" and target not in scan.analysis_ids:
            issues.error("query.dangling_analysis", f"expected analysis {target} does not exist in the store", name, query_id, where)


# --------------------------------------------------------------------------------------------
# The prompt contract (issue 5): every query is an eval prompt


def _dotted(raw: Any, path: str) -> tuple[bool, Any]:
    value = raw
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list | dict) and not value)


def _check_prompt_fields(raw: dict[str, Any], query: Query, rubric: RubricParams, name: str, issues: _Issues) -> None:
    """Required fields (rubric.required_fields, + answer_required_fields on answer rows) present and non-empty."""
    paths = list(rubric.required_fields)
    if query.expected_behavior.behavior == "answer":
        paths += rubric.answer_required_fields
    for path in paths:
        present, value = _dotted(raw, path)
        if not present:
            issues.error("prompt.required_field", f"required prompt field {path} is missing", name, query.id, path)
        elif _empty(value):
            issues.error("prompt.required_field", f"required prompt field {path} is empty", name, query.id, path)


def _check_prompt_policy(query: Query, rubric: RubricParams, name: str, issues: _Issues) -> None:
    """cite-or-refuse: a prompt that expects an answer requires grounded, cited claims."""
    if rubric.refusal_policy == "cite-or-refuse" and query.expected_behavior.behavior == "answer":
        if query.expected_behavior.grounding != "required":
            issues.error(
                "prompt.policy",
                "refusal policy cite-or-refuse: a prompt that expects an answer must require grounding",
                name,
                query.id,
                "expected_behavior.grounding",
            )


def _check_prompt_count(scan: _Scan, rubric: RubricParams, name: str, issues: _Issues) -> None:
    """At least rubric.min_prompts valid prompts."""
    if scan.valid_queries < rubric.min_prompts:
        issues.error(
            "prompt.min_count", f"{scan.valid_queries} prompt(s), the rubric requires at least {rubric.min_prompts}", name
        )


def _check_domain_diversity(scan: _Scan, rubric: RubricParams, name: str, issues: _Issues) -> None:
    """At least rubric.min_domains distinct domains among the prompts."""
    if len(scan.domains) < rubric.min_domains:
        found = ", ".join(sorted(scan.domains)[:10]) or "none"
        issues.error(
            "prompt.domain_diversity",
            f"{len(scan.domains)} distinct domain(s) ({found}), the rubric requires at least {rubric.min_domains}",
            name,
            field="domain",
        )


# --------------------------------------------------------------------------------------------
# The pass over the files


def _source_of(store: Store | StoreSource | Path | str) -> StoreSource:
    if isinstance(store, Store):
        return store.source
    if isinstance(store, str | Path):
        return DirectorySource(Path(store))
    return store


def _scan_shard(
    source: StoreSource,
    entry: ShardEntry,
    manifest: Manifest,
    settings: Settings,
    rubric: RubricParams,
    scan: _Scan,
    issues: _Issues,
) -> None:
    name = source.describe(entry.path)
    data = _read_shard(source, entry, issues)
    if data is None:
        return
    _check_checksum(entry, data, name, issues)
    raw = _parse_shard(data, name, issues)
    if raw is None:
        return
    scan.shards_read += 1
    _check_record_count(entry, raw, name, issues)
    _count_raw(entry.entity, raw, scan)
    validated = _validate_records(entry.entity, raw, name, issues)
    records = [r for r in validated if r is not None]
    _check_placement(entry, records, manifest.shard_counts[entry.entity], name, issues)
    _check_order(records, name, issues)
    if len(records) == len(raw):
        _check_shard_canonical(data, records, name, issues)
    for item, record in zip(raw, validated, strict=True):
        if record is None:
            _remember_unvalidated(item, scan)
            continue
        if isinstance(record, Analysis):
            _check_chunk_order(record, name, issues)
            _collect_analysis(record, name, scan, issues)
            _check_url(record, settings.verify, name, issues)
            _warn_analysis(record, name, issues)
        else:
            _collect_query(record, name, scan, issues)
            _check_prompt_fields(item, record, rubric, name, issues)
            _check_prompt_policy(record, rubric, name, issues)
            _warn_query(record, name, issues)


def verify_store(
    store: Store | StoreSource | Path | str, settings: Settings | None = None, *, rubric: RubricParams | None = None
) -> VerifyReport:
    """Check every file contract of a golden store; never raises for bad data, reports it."""
    settings = settings if settings is not None else Settings()
    rubric = rubric if rubric is not None else settings.rubric
    source = _source_of(store)
    issues = _Issues()
    target = source.describe("").rstrip("/") or "."
    manifest_bytes, manifest = _check_manifest(source, issues)
    version = sha256_hex(manifest_bytes) if manifest_bytes is not None else None
    if manifest is None or manifest_bytes is None:
        return issues.report(target, version, {})
    name = source.describe(MANIFEST)
    _check_manifest_canonical(manifest_bytes, manifest, name, issues)
    _check_shard_counts(manifest, settings, name, issues)
    entries = _check_shard_paths(manifest, name, issues)
    _check_unlisted_shards(source, manifest, issues)
    scan = _Scan()
    for entry in entries:
        _scan_shard(source, entry, manifest, settings, rubric, scan, issues)
    _check_counts(manifest, scan, name, issues)
    _check_references(scan, issues)
    queries_dir = source.describe("queries")
    _check_prompt_count(scan, rubric, queries_dir, issues)
    _check_domain_diversity(scan, rubric, queries_dir, issues)
    checked = {"shards": scan.shards_read, **{k: scan.raw_counts.get(k, 0) for k in count_records([], [])}}
    return issues.report(target, version, checked)


# --------------------------------------------------------------------------------------------
# Database contracts (``verify --db``)


class EmbedderIdentity(Protocol):
    """What verify needs of the configured embedder: its identity and dimension."""

    model_id: str
    dim: int


@dataclass(frozen=True)
class ModelIdentity:
    model_id: str
    dim: int


def _sample_text(sample: Sampled) -> str:
    shown = ", ".join(str(s) if not isinstance(s, tuple) else "/".join(map(str, s)) for s in sample.sample)
    more = sample.count - len(sample.sample)
    return shown + (f" and {more} more" if more > 0 else "")


def _check_db_counts(facts: IntegrityFacts, manifest: Manifest, statuses: list[str], where: str, issues: _Issues) -> None:
    """Row counts (analyses with a dumped status and their children; all queries) equal the manifest's."""
    for key, count in sorted(facts.counts.items()):
        expected = manifest.counts.get(key)
        if expected is not None and expected != count:
            issues.error(
                "db.count",
                f"the database holds {count} {key} (analyses with status in {statuses}), the manifest lists {expected}",
                where,
                field=key,
            )


def _check_db_embeddings(facts: IntegrityFacts, identity: EmbedderIdentity, where: str, issues: _Issues) -> None:
    """Every chunk has an embedding, made by the configured model, of the configured dimension."""
    if facts.unembedded.count:
        issues.error(
            "db.chunk_not_embedded",
            f"{facts.unembedded.count} chunk(s) have no embedding: {_sample_text(facts.unembedded)} "
            "(run `goldkeeper restore` to regenerate)",
            where,
            field="embedding",
        )
    for model, sample in facts.models.items():
        if model != identity.model_id:
            issues.error(
                "db.embedding_model",
                f"{sample.count} chunk(s) embedded with {model or 'an unrecorded model'}, the configured model is "
                f"{identity.model_id}: {_sample_text(sample)}",
                where,
                field="embedding_model",
            )
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


_ORPHAN_CODES = {
    "chunks": ("db.orphan_chunk", "chunk(s) whose analysis does not exist"),
    "artifacts": ("db.orphan_artifact", "artifact(s) whose analysis does not exist"),
    "findings": ("db.orphan_finding", "finding(s) whose analysis does not exist"),
    "query_expected": ("db.orphan_expected", "expected-result row(s) whose query does not exist"),
}


def _check_db_orphans(facts: IntegrityFacts, where: str, issues: _Issues) -> None:
    """No chunk / artifact / finding without its analysis, no expected-result row without its query."""
    for kind, sample in facts.orphans.items():
        if sample.count:
            code, what = _ORPHAN_CODES[kind]
            issues.error(code, f"{sample.count} {what}: {_sample_text(sample)}", f"{where}.{kind}", field="analysis_id" if kind != "query_expected" else "query_id")


def _check_db_dangling(facts: IntegrityFacts, where: str, issues: _Issues) -> None:
    """Every query_expected row points at an existing chunk / analysis."""
    if facts.dangling_expected.count:
        for query_id, kind, target in facts.dangling_expected.sample:
            issues.error(
                "db.dangling_expected", f"expected {kind} {target} does not exist in the database", f"{where}.query_expected", query_id, "target_id"
            )
        more = facts.dangling_expected.count - len(facts.dangling_expected.sample)
        if more > 0:
            issues.error("db.dangling_expected", f"and {more} more expected-result row(s) pointing at missing rows", f"{where}.query_expected")


def verify_database(
    url: str,
    store: Store | StoreSource | Path | str | Manifest | None,
    settings: Settings,
    embedder_identity: EmbedderIdentity,
    *,
    limit: int = 20,
) -> VerifyReport:
    """Check the database contracts against a store's manifest (counts) and the configured embedder.

    Offending rows are listed up to ``limit`` per check, with their total count.
    """
    from goldkeeper.db.connection import redact_url

    issues = _Issues()
    where = "database golden"
    target = f"database {redact_url(url)}"
    facts = integrity_facts(url, settings.dump.statuses, limit=limit)
    if not facts.schema_exists:
        issues.error("db.schema_missing", "the golden schema does not exist (run `goldkeeper db init` or `goldkeeper restore`)", where)
        return issues.report(target, None, {})
    manifest = store if isinstance(store, Manifest) else _manifest_of(store)
    if manifest is not None:
        _check_db_counts(facts, manifest, settings.dump.statuses, where, issues)
    _check_db_embeddings(facts, embedder_identity, where, issues)
    _check_db_orphans(facts, where, issues)
    _check_db_dangling(facts, where, issues)
    return issues.report(target, None, {f"db {k}": v for k, v in sorted(facts.counts.items())})


def _manifest_of(store: Store | StoreSource | Path | str | None) -> Manifest | None:
    if store is None:
        return None
    if isinstance(store, Store):
        return store.manifest
    from goldkeeper.errors import DataIntegrityError
    from goldkeeper.store.reader import open_store

    try:
        return open_store(store).manifest
    except DataIntegrityError:
        return None  # the file checks report why
