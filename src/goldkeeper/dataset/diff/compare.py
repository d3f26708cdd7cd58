"""Comparing two opened stores: :func:`diff_stores`.

Every shard of both sides is read and hashed (unless its hash is already known: a git blob id, or a
file unchanged since goldkeeper last hashed it, see ``store.hash_cache``); shards whose bytes are
identical on both sides are not parsed (a record lives in the shard its id hashes to, so equal bytes mean equal records).
The manifests' checksums are never trusted: one that does not match its shard's bytes is
reported as a :class:`StoreProblem`, and the bytes are compared. The records of the
changed shards are held as plain JSON and compared by id (chunks across all changed shards,
so a chunk moved to another analysis is a modification of its ``analysis_id``). The query
shards of the new side are then scanned for impact, and the new side's changed URLs are
checked against the URL contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from goldkeeper.config import VerifyParams
from goldkeeper.dataset.diff.fields import field_changes, preview
from goldkeeper.dataset.diff.model import (
    DatasetDiff,
    Impact,
    ImpactReason,
    RecordChange,
    RecordRef,
    Side,
    StoreProblem,
    UrlViolation,
)
from goldkeeper.dataset.url_contract import url_problem
from goldkeeper.errors import RecordValidationError
from goldkeeper.models import ENTITIES, ShardEntry
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import Store, sha256_hex
from goldkeeper.store.reader import MODEL_OF, parse_json, validate_record

#: up to this many changed ids, a query shard is parsed only if its bytes mention one of them
PREFILTER_IDS = 64

JsonRecords = dict[str, dict[str, Any]]


@dataclass
class _Records:
    """The records of the changed shards of one side, as plain JSON."""

    analyses: JsonRecords = field(default_factory=dict)
    chunks: JsonRecords = field(default_factory=dict)  # chunk json + "analysis_id"
    queries: JsonRecords = field(default_factory=dict)


class _Changes(NamedTuple):
    """The added, removed and modified records of one kind, each sorted by id."""

    added: tuple[RecordRef, ...]
    removed: tuple[RecordRef, ...]
    modified: tuple[RecordChange, ...]


# --------------------------------------------------------------------------- reading the changed shards


@dataclass
class _Reading:
    """Both sides' records of the shards whose bytes differ, and what was found untrustworthy on the way."""

    old: _Records = field(default_factory=_Records)
    new: _Records = field(default_factory=_Records)
    problems: list[StoreProblem] = field(default_factory=list)
    total: int = 0  # shard paths listed by either side's manifest (analyses/03.json counts once)
    parsed: int = 0  # of those, the paths whose bytes differ: parsed on each side that holds them


def _shard_data(store: Store | None, entry: ShardEntry | None, side: str, reading: _Reading) -> bytes | None:
    """The shard's bytes (None: not on this side), noting a manifest sha256 that does not match them."""
    if store is None or entry is None:
        return None
    data = store.shard_bytes(entry, check=False)
    actual = sha256_hex(data)
    remember = getattr(store.source, "remember_sha256", None)
    if remember is not None:
        remember(entry.path, actual)
    if actual != entry.sha256:
        reading.problems.append(
            StoreProblem(
                side,
                store.source.describe(entry.path),
                f"the manifest's sha256 {entry.sha256[:12]}... does not match the shard's bytes ({actual[:12]}...): "
                "edited after the dump; the bytes were compared, not the manifest (run `goldkeeper fmt`)",
            )
        )
    return data


def _unlisted(store: Store | None, entity: str, side: str, reading: _Reading) -> None:
    """Shard files the manifest does not list: their records are not part of the store, and not compared."""
    if store is None:
        return
    listed = {entry.path for entry in store.shards(entity)}
    for path in store.source.list_files(entity):
        if path.endswith(".json") and path not in listed:
            reading.problems.append(
                StoreProblem(
                    side,
                    store.source.describe(path),
                    "shard file not listed in manifest.json: its records were ignored",
                )
            )


def _parse(store: Store, entry: ShardEntry, data: bytes, side: str, into: _Records, reading: _Reading) -> None:
    name = store.source.describe(entry.path)
    raws = parse_json(data, name)
    if not isinstance(raws, list):
        raise RecordValidationError(name, None, None, "a shard must be a JSON array of records")
    if len(raws) != entry.records:
        reading.problems.append(
            StoreProblem(side, name, f"the manifest lists {entry.records} records, the shard holds {len(raws)}")
        )
    model = MODEL_OF[entry.entity]
    for raw in raws:
        record: dict[str, Any] = validate_record(model, raw, name).model_dump(mode="json")
        if entry.entity == "queries":
            into.queries[record["id"]] = record
            continue
        chunks = record.pop("chunks")
        into.analyses[record["id"]] = record
        for chunk in chunks:
            into.chunks[chunk["id"]] = {**chunk, "analysis_id": record["id"]}


def _content_id(store: Store, path: str) -> str | None:
    """A content hash the source knows without reading the file (a git blob id), else None."""
    getter = getattr(store.source, "content_id", None)
    return getter(path) if getter is not None else None


def _same_blob(old: Store | None, new: Store | None, path: str) -> bool:
    """Both sides hold the very same git blob at ``path``: bytes confirmed identical without reading them."""
    if old is None or new is None:
        return False
    old_id = _content_id(old, path)
    return old_id is not None and old_id == _content_id(new, path)


def _known_sha256(store: Store, path: str) -> str | None:
    """The sha256 of the shard's current bytes when the source knows it without reading them (see hash_cache)."""
    getter = getattr(store.source, "known_sha256", None)
    return getter(path) if getter is not None else None


def _verified_same(old: Store | None, new: Store | None, entry: ShardEntry) -> bool:
    """Both sides' files are known to hash to the manifest's sha256: identical bytes, and the manifest is right."""
    if old is None or new is None:
        return False
    return _known_sha256(old, entry.path) == entry.sha256 == _known_sha256(new, entry.path)


def _read_entity(old: Store | None, new: Store | None, entity: str, reading: _Reading) -> None:
    """Hash every shard of ``entity`` on both sides; parse the ones whose bytes differ.

    Between git revisions, a shard whose blob and manifest entry are the same on both sides is not
    read: git's blob id confirms the bytes are identical, and a manifest that lies about them was
    reported by the diff of the commit that introduced the lie (its blob or its entry changed there).
    Between directories, neither is read when both files are unchanged since goldkeeper last hashed
    them to the manifest's sha256 (``store.hash_cache``).
    """
    old_entries = {e.path: e for e in old.shards(entity)} if old else {}
    new_entries = {e.path: e for e in new.shards(entity)} if new else {}
    _unlisted(old, entity, "old", reading)
    _unlisted(new, entity, "new", reading)
    for path in sorted(set(old_entries) | set(new_entries)):
        reading.total += 1
        entry = old_entries.get(path)
        if entry is not None and entry == new_entries.get(path):
            if _same_blob(old, new, path) or _verified_same(old, new, entry):
                continue
        old_data = _shard_data(old, old_entries.get(path), "old", reading)
        new_data = _shard_data(new, new_entries.get(path), "new", reading)
        if old_data == new_data:
            continue  # confirmed identical bytes: identical records
        reading.parsed += 1  # a path, as total counts them: parsed on each side that holds it
        for store, data, side, into in ((old, old_data, "old", reading.old), (new, new_data, "new", reading.new)):
            if store is not None and data is not None:
                _parse(store, (old_entries if side == "old" else new_entries)[path], data, side, into, reading)


def _read_changed_shards(old: Store | None, new: Store | None) -> _Reading:
    """Both sides' records of the shards whose bytes differ (never trusting the manifests' checksums)."""
    reading = _Reading()
    for entity in ENTITIES:
        _read_entity(old, new, entity, reading)
    return reading


# --------------------------------------------------------------------------- comparing records


def _analysis_label(record: dict[str, Any]) -> str:
    return preview(record.get("title") or record.get("url") or record["id"])


def _chunk_label(record: dict[str, Any]) -> str:
    title = record.get("section_title")
    head = f"#{record.get('chunk_index')}" + (f" {title}" if title else "")
    return f"{head}: {preview(record.get('content', ''), 48)}"


def _query_label(record: dict[str, Any]) -> str:
    return preview(record.get("text", ""))


_LABEL: dict[str, Callable[[dict[str, Any]], str]] = {
    "analyses": _analysis_label,
    "chunks": _chunk_label,
    "queries": _query_label,
}


def _compare(kind: str, old: JsonRecords, new: JsonRecords, context: int, progress: Progress = SILENT) -> _Changes:
    label = _LABEL[kind]

    def ref(record: dict[str, Any]) -> RecordRef:
        return RecordRef(
            id=record["id"],
            label=label(record),
            analysis_id=record.get("analysis_id") if kind == "chunks" else None,
            url=record.get("url") if kind == "analyses" else None,
        )

    added = tuple(ref(new[i]) for i in sorted(set(new) - set(old)))
    removed = tuple(ref(old[i]) for i in sorted(set(old) - set(new)))
    both = sorted(set(old) & set(new))
    modified: list[RecordChange] = []
    # field by field (deepdiff) costs about a millisecond a record: a large change takes seconds
    with progress.task(f"comparing {kind}", len(both)) as task:
        for record_id in both:
            if old[record_id] != new[record_id]:
                modified.append(
                    RecordChange(
                        id=record_id,
                        label=label(new[record_id]),
                        changes=field_changes(old[record_id], new[record_id], context),
                        analysis_id=new[record_id].get("analysis_id") if kind == "chunks" else None,
                    )
                )
            task.advance()
    return _Changes(added, removed, tuple(modified))


# --------------------------------------------------------------------------- impact


def _chunk_reasons(chunks: _Changes) -> dict[str, ImpactReason]:
    """A query that expects a modified or removed chunk is impacted by it."""
    reasons = {c.id: ImpactReason("chunk", c.id, "modified") for c in chunks.modified}
    reasons.update({c.id: ImpactReason("chunk", c.id, "removed") for c in chunks.removed})
    return reasons


def _analysis_reasons(analyses: _Changes, chunks: _Changes, new_analyses: JsonRecords) -> dict[str, list[ImpactReason]]:
    """A query that expects an analysis is impacted when it, or one of its chunks, changed."""
    reasons: dict[str, list[ImpactReason]] = {}
    for modified in analyses.modified:
        reasons.setdefault(modified.id, []).append(ImpactReason("analysis", modified.id, "modified"))
    for removed in analyses.removed:
        reasons.setdefault(removed.id, []).append(ImpactReason("analysis", removed.id, "removed"))
    # a chunk added, modified or removed changes what its (surviving) analysis is about
    touched = [(c.id, c.analysis_id, "added") for c in chunks.added]
    touched += [(c.id, c.analysis_id, "modified") for c in chunks.modified]
    touched += [(c.id, c.analysis_id, "removed") for c in chunks.removed]
    added = {a.id for a in analyses.added}
    for chunk_id, owner, action in touched:
        if owner in new_analyses and owner not in added:
            reasons.setdefault(owner, []).append(ImpactReason("chunk", chunk_id, action))
    return reasons


def _query_impact(
    raw: dict[str, Any], chunk_reasons: Mapping[str, ImpactReason], analysis_reasons: Mapping[str, list[ImpactReason]]
) -> Impact | None:
    """The impact on one raw query record, or None when nothing it expects changed."""
    expected = raw.get("expected") or {}
    reasons: list[ImpactReason] = []
    for rel in expected.get("chunks") or []:
        reason = chunk_reasons.get(str(rel.get("id")))
        if reason is not None:
            reasons.append(reason)
    for rel in expected.get("analyses") or []:
        reasons.extend(analysis_reasons.get(str(rel.get("id")), ()))
    if not reasons:
        return None
    unique = sorted(set(reasons), key=lambda r: (r.kind, r.id, r.action))
    return Impact(query_id=str(raw["id"]), reasons=tuple(unique))


def _impact(
    new: Store | None,
    chunk_reasons: dict[str, ImpactReason],
    analysis_reasons: dict[str, list[ImpactReason]],
) -> tuple[Impact, ...]:
    """The queries of the new side impacted by the changes, sorted by query id."""
    if new is None or (not chunk_reasons and not analysis_reasons):
        return ()
    needles = [i.encode() for i in (*chunk_reasons, *analysis_reasons)]
    impacts = []
    for entry in new.shards("queries"):
        data = new.shard_bytes(entry, check=False)  # its checksum was checked (and any lie reported) above
        if len(needles) <= PREFILTER_IDS and not any(n in data for n in needles):
            continue  # no query in this shard expects a changed record
        for raw in parse_json(data, new.source.describe(entry.path)):
            impact = _query_impact(raw, chunk_reasons, analysis_reasons)
            if impact is not None:
                impacts.append(impact)
    return tuple(sorted(impacts, key=lambda i: i.query_id))


# --------------------------------------------------------------------------- URL contract


def _url_violations(old: JsonRecords, new: JsonRecords, params: VerifyParams) -> tuple[UrlViolation, ...]:
    """The URL contract violations the new side introduces: in analyses that are new or whose URL changed."""
    violations = []
    for record_id, record in sorted(new.items()):
        before = old.get(record_id)
        if before is not None and before.get("url") == record.get("url"):
            continue
        problem = url_problem(record.get("url", ""), params)
        if problem is not None:
            violations.append(
                UrlViolation(
                    record_id, record.get("url", ""), problem.describe(), None if before is None else before.get("url")
                )
            )
    return tuple(violations)


# --------------------------------------------------------------------------- the diff


def side_of(store: Store | None, label: str, commit: str | None = None) -> Side:
    """The :class:`Side` describing ``store`` (None: no store)."""
    if store is None:
        return Side(label=label, version=None, dataset=None, counts={}, commit=commit)
    return Side(
        label=label,
        version=store.version,
        dataset=store.manifest.dataset,
        counts=dict(store.manifest.counts),
        commit=commit,
    )


def diff_stores(
    old: Store | None,
    new: Store | None,
    *,
    old_side: Side | None = None,
    new_side: Side | None = None,
    verify: VerifyParams | None = None,
    context_words: int = 6,
    progress: Progress = SILENT,
) -> DatasetDiff:
    """Compare two opened stores (either may be None: no store)."""
    verify = verify or VerifyParams()
    with progress.task("reading the changed shards", None):
        reading = _read_changed_shards(old, new)
    old_records, new_records = reading.old, reading.new
    analyses = _compare("analyses", old_records.analyses, new_records.analyses, context_words, progress)
    chunks = _compare("chunks", old_records.chunks, new_records.chunks, context_words, progress)
    queries = _compare("queries", old_records.queries, new_records.queries, context_words, progress)
    impacted = _impact(new, _chunk_reasons(chunks), _analysis_reasons(analyses, chunks, new_records.analyses))
    return DatasetDiff(
        old=old_side or side_of(old, "old"),
        new=new_side or side_of(new, "new"),
        analyses_added=analyses.added,
        analyses_removed=analyses.removed,
        analyses_modified=analyses.modified,
        chunks_added=chunks.added,
        chunks_removed=chunks.removed,
        chunks_modified=chunks.modified,
        queries_added=queries.added,
        queries_removed=queries.removed,
        queries_modified=queries.modified,
        impacted_queries=impacted,
        url_violations=_url_violations(old_records.analyses, new_records.analyses, verify),
        store_problems=tuple(reading.problems),
        shards_total=reading.total,
        shards_parsed=reading.parsed,
    )


__all__ = ["PREFILTER_IDS", "side_of", "diff_stores"]
