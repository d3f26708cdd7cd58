"""What changed between two versions of the golden store, record by record and field by field.

The result is a :class:`DatasetDiff`: frozen value objects with one tuple per
change kind (``analyses_added``, ``chunks_modified``, ``queries_removed``,
...), plus the *impact* (queries whose expected chunks or analyses were
modified or removed: the test cases a data change touches) and the URL
contract violations the new side introduces.

How it stays fast: shards whose sha256 is the same in both manifests are not
read at all (a record lives in the shard its id hashes to, so equal shard
bytes mean equal records). Only the changed shards are parsed; chunks are
matched by id across them, so a chunk moved to another analysis is a
modification of its ``analysis_id``. The query shards are scanned for impact
only when some chunk or analysis was modified or removed.

The diff trusts each side's manifest: a shard hand-edited after the dump is
caught when it is read (its sha256 no longer matches), and `goldkeeper
verify` checks every shard.

Either side may be ``None`` (no store: everything is added or removed).
Renderers live in :mod:`goldkeeper.dataset.diff_render`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from goldkeeper.config import Settings, VerifyParams
from goldkeeper.errors import UsageError
from goldkeeper.models import ENTITIES, ShardEntry
from goldkeeper.store import Store, open_store
from goldkeeper.store.reader import MODEL_OF, parse_json, validate_record
from goldkeeper.dataset.verify import url_problem as verify_url_problem

#: Version of the JSON document :meth:`DatasetDiff.to_json` produces (README: "diff JSON schema").
SCHEMA_VERSION = 1
#: Strings longer than this (or with a newline) are shown as a word-level diff, never whole.
LONG_TEXT = 80
#: Length of the old/new previews of long text.
PREVIEW = 60
KINDS = ("analyses", "chunks", "queries")
#: the absent side of an added or removed field
notpresent: Any = type("NotPresent", (), {"__repr__": lambda self: "not present"})()
ACTIONS = ("added", "removed", "modified")


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class FieldChange:
    """One changed field of a modified record.

    ``path`` is dotted with list indexes (``expected.chunks[0].relevance``);
    ``action`` is ``changed``, ``added`` or ``removed``. ``old`` / ``new`` are
    JSON values (absent side: ``None``); long strings are shortened to a
    preview ending in ``…``, and ``text_diff`` then holds a compact
    word-level diff of the changed region (``[-removed-]{+added+}``).
    """

    path: str
    action: str
    old: Any = None
    new: Any = None
    text_diff: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.action, "old": self.old, "new": self.new, "text_diff": self.text_diff}


@dataclass(frozen=True)
class RecordRef:
    """An added or removed record: its id and what identifies it to a reader."""

    id: str
    label: str
    analysis_id: str | None = None  # chunks only
    url: str | None = None  # analyses only

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.analysis_id is not None:
            data["analysis_id"] = self.analysis_id
        if self.url is not None:
            data["url"] = self.url
        return data


@dataclass(frozen=True)
class RecordChange:
    """A modified record and its field changes."""

    id: str
    label: str
    changes: tuple[FieldChange, ...]
    analysis_id: str | None = None  # chunks only

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "label": self.label, "changes": [c.to_json() for c in self.changes]}
        if self.analysis_id is not None:
            data["analysis_id"] = self.analysis_id
        return data


@dataclass(frozen=True)
class ImpactReason:
    kind: str  # "chunk" | "analysis"
    id: str
    action: str  # "modified" | "removed"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "action": self.action}


@dataclass(frozen=True)
class Impact:
    """A query (in the new side) whose expected chunks or analyses were modified or removed."""

    query_id: str
    reasons: tuple[ImpactReason, ...]

    def to_json(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "reasons": [r.to_json() for r in self.reasons]}


@dataclass(frozen=True)
class UrlViolation:
    """An analysis URL in the new side that breaks the URL contract (new or changed there)."""

    analysis_id: str
    url: str
    problem: str
    old_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"analysis_id": self.analysis_id, "url": self.url, "problem": self.problem, "old_url": self.old_url}


@dataclass(frozen=True)
class Side:
    """One side of a diff: where it came from and its manifest summary."""

    label: str
    version: str | None
    dataset: str | None
    counts: dict[str, int]
    commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "commit": self.commit,
            "version": self.version,
            "dataset": self.dataset,
            "counts": dict(self.counts),
        }

    @property
    def short(self) -> str:
        return f"{self.label} ({self.version[:12]})" if self.version else f"{self.label} (no store)"


@dataclass(frozen=True)
class DatasetDiff:
    """Everything that differs between ``old`` and ``new``; one tuple per change kind, sorted by id."""

    old: Side
    new: Side
    analyses_added: tuple[RecordRef, ...] = ()
    analyses_removed: tuple[RecordRef, ...] = ()
    analyses_modified: tuple[RecordChange, ...] = ()
    chunks_added: tuple[RecordRef, ...] = ()
    chunks_removed: tuple[RecordRef, ...] = ()
    chunks_modified: tuple[RecordChange, ...] = ()
    queries_added: tuple[RecordRef, ...] = ()
    queries_removed: tuple[RecordRef, ...] = ()
    queries_modified: tuple[RecordChange, ...] = ()
    impacted_queries: tuple[Impact, ...] = ()
    url_violations: tuple[UrlViolation, ...] = ()
    shards_total: int = 0
    shards_parsed: int = 0

    def changes(self, kind: str, action: str) -> tuple[RecordRef, ...] | tuple[RecordChange, ...]:
        if kind not in KINDS or action not in ACTIONS:
            raise ValueError(f"unknown change kind {kind}_{action}")
        return getattr(self, f"{kind}_{action}")

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"analyses": {"added": n, "removed": n, "modified": n}, "chunks": ..., "queries": ...}``."""
        return {kind: {action: len(self.changes(kind, action)) for action in ACTIONS} for kind in KINDS}

    @property
    def is_empty(self) -> bool:
        """No record differs (the dataset versions may still differ, e.g. a shard count change)."""
        return not any(self.changes(kind, action) for kind in KINDS for action in ACTIONS)

    def summary_line(self) -> str:
        """A one-line summary, e.g. ``analyses +1 ~2, chunks +5 -1, queries -3``."""
        if self.is_empty:
            return "no record changes"
        parts = []
        for kind, counts in self.counts().items():
            marks = [f"{sign}{counts[action]}" for sign, action in (("+", "added"), ("-", "removed"), ("~", "modified")) if counts[action]]
            if marks:
                parts.append(f"{kind} {' '.join(marks)}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON document (``schema_version`` 1; documented in docs/commands.md)."""
        counts = self.counts()
        return {
            "schema_version": SCHEMA_VERSION,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "identical": self.is_empty,
            "summary": {
                **counts,
                "impacted_queries": len(self.impacted_queries),
                "url_violations": len(self.url_violations),
            },
            **{
                kind: {action: [item.to_json() for item in self.changes(kind, action)] for action in ACTIONS}
                for kind in KINDS
            },
            "impact": [i.to_json() for i in self.impacted_queries],
            "url_violations": [v.to_json() for v in self.url_violations],
            "stats": {"shards_total": self.shards_total, "shards_parsed": self.shards_parsed},
        }


# --------------------------------------------------------------------------- text and structure


def preview(text: str, limit: int = PREVIEW) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``…``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def is_long_text(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value)


def _words(run: list[str], limit: int) -> str:
    if len(run) <= limit:
        return " ".join(run)
    keep = limit // 2
    return " ".join(run[:keep]) + f" …({len(run) - 2 * keep} words)… " + " ".join(run[-keep:])


def word_diff(old: str, new: str, context: int = 6, max_chars: int = 400, max_run: int = 24) -> str:
    """A compact word-level diff: changed regions with ``context`` words around them.

    ``[-removed words-]{+added words+}``; unchanged stretches longer than the
    context are elided with ``…``; long changed runs are shortened in the
    middle; the whole is capped at ``max_chars``. Never the whole texts.
    """
    a, b = old.split(), new.split()
    if a == b:
        return "(whitespace only)"
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    pieces: list[str] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            run = a[i1:i2]
            first, last = index == 0, index == len(ops) - 1
            if first:
                pieces.append(("… " if len(run) > context else "") + " ".join(run[-context:] if context else []))
            elif last:
                pieces.append(" ".join(run[:context] if context else []) + (" …" if len(run) > context else ""))
            elif len(run) > 2 * context:
                head = " ".join(run[:context]) if context else ""
                tail = " ".join(run[-context:]) if context else ""
                pieces.append(f"{head} … {tail}".strip())
            else:
                pieces.append(" ".join(run))
            continue
        if i2 > i1:
            pieces.append(f"[-{_words(a[i1:i2], max_run)}-]")
        if j2 > j1:
            pieces.append(f"{{+{_words(b[j1:j2], max_run)}+}}")
    text = " ".join(p for p in pieces if p).strip()
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def _compact(value: Any) -> Any:
    """A JSON value with every long string replaced by its preview."""
    if isinstance(value, str):
        return preview(value) if is_long_text(value) else value
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def _scalar_change(path: str, old: Any, new: Any, context: int) -> FieldChange:
    if old is notpresent:
        return FieldChange(path, "added", None, _compact(new))
    if new is notpresent:
        return FieldChange(path, "removed", _compact(old), None)
    if isinstance(old, str) and isinstance(new, str) and (is_long_text(old) or is_long_text(new)):
        return FieldChange(path, "changed", preview(old), preview(new), word_diff(old, new, context))
    return FieldChange(path, "changed", _compact(old), _compact(new))


def _path_string(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_ACTION_OF = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
}


def field_changes(old: dict[str, Any], new: dict[str, Any], context: int = 6) -> tuple[FieldChange, ...]:
    """The field-level changes between two JSON records (deepdiff for nested structure)."""
    changes: list[FieldChange] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, notpresent), new.get(key, notpresent)
        if a == b:
            continue
        structured = isinstance(a, dict | list) and isinstance(b, dict | list) and type(a) is type(b)
        if not structured:
            changes.append(_scalar_change(key, a, b, context))
            continue
        from deepdiff import DeepDiff  # imported on first use: it pulls in pandas (about 1 s)
        from deepdiff.helper import notpresent as dd_notpresent

        def side(value: Any) -> Any:
            return notpresent if value is dd_notpresent else value

        tree = DeepDiff(a, b, view="tree", verbose_level=2)
        found: list[FieldChange] = []
        for report, levels in tree.items():
            action = _ACTION_OF.get(report)
            for level in levels:
                path = _path_string([key, *level.path(output_format="list")])
                old_value, new_value = side(level.t1), side(level.t2)
                if action is None:  # e.g. a set or repetition change: fall back to the whole value
                    found.append(FieldChange(path, "changed", _compact(old_value), _compact(new_value)))
                else:
                    found.append(_scalar_change(path, old_value, new_value, context))
        changes.extend(sorted(found, key=lambda c: c.path))
    return tuple(changes)


# --------------------------------------------------------------------------- URL contract


def url_problem(url: str, params: VerifyParams) -> str | None:
    """Why ``url`` breaks the URL contract, or None: the very check ``goldkeeper verify`` makes."""
    problem = verify_url_problem(url, params)
    return None if problem is None else f"{problem[0]}: {problem[1]}"


# --------------------------------------------------------------------------- computing the diff


@dataclass
class _Records:
    """The records of the changed shards of one side, as plain JSON."""

    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)
    chunks: dict[str, dict[str, Any]] = field(default_factory=dict)  # chunk json + "analysis_id"
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)


def _changed_paths(old: Store | None, new: Store | None, entity: str) -> tuple[set[str], int]:
    old_shards = {s.path: s.sha256 for s in old.shards(entity)} if old else {}
    new_shards = {s.path: s.sha256 for s in new.shards(entity)} if new else {}
    paths = set(old_shards) | set(new_shards)
    return {p for p in paths if old_shards.get(p) != new_shards.get(p)}, len(paths)


def _load(store: Store | None, entity: str, paths: set[str], into: _Records) -> int:
    if store is None:
        return 0
    parsed = 0
    for entry in store.shards(entity):
        if entry.path not in paths:
            continue
        parsed += 1
        _load_shard(store, entry, into)
    return parsed


def _load_shard(store: Store, entry: ShardEntry, into: _Records) -> None:
    name = store.source.describe(entry.path)
    model = MODEL_OF[entry.entity]
    for raw in store.raw_records(entry):
        record = validate_record(model, raw, name).model_dump(mode="json")
        if entry.entity == "queries":
            into.queries[record["id"]] = record
            continue
        chunks = record.pop("chunks")
        into.analyses[record["id"]] = record
        for chunk in chunks:
            into.chunks[chunk["id"]] = {**chunk, "analysis_id": record["id"]}


def _analysis_label(record: dict[str, Any]) -> str:
    return preview(record.get("title") or record.get("url") or record["id"])


def _chunk_label(record: dict[str, Any]) -> str:
    title = record.get("section_title")
    head = f"#{record.get('chunk_index')}" + (f" {title}" if title else "")
    return f"{head}: {preview(record.get('content', ''), 48)}"


def _query_label(record: dict[str, Any]) -> str:
    return preview(record.get("text", ""))


_LABEL = {"analyses": _analysis_label, "chunks": _chunk_label, "queries": _query_label}


def _compare(
    kind: str, old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], context: int
) -> tuple[tuple[RecordRef, ...], tuple[RecordRef, ...], tuple[RecordChange, ...]]:
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
    modified = []
    for record_id in sorted(set(old) & set(new)):
        a, b = old[record_id], new[record_id]
        if a == b:
            continue
        modified.append(
            RecordChange(
                id=record_id,
                label=label(b),
                changes=field_changes(a, b, context),
                analysis_id=b.get("analysis_id") if kind == "chunks" else None,
            )
        )
    return added, removed, tuple(modified)


#: up to this many changed ids, a query shard is parsed only if its bytes mention one of them
PREFILTER_IDS = 64


def _impact(
    new: Store | None,
    chunk_reasons: dict[str, ImpactReason],
    analysis_reasons: dict[str, list[ImpactReason]],
) -> tuple[Impact, ...]:
    if new is None or (not chunk_reasons and not analysis_reasons):
        return ()
    needles = [i.encode() for i in (*chunk_reasons, *analysis_reasons)]
    impacts = []
    for entry in new.shards("queries"):
        data = new.shard_bytes(entry)
        if len(needles) <= PREFILTER_IDS and not any(n in data for n in needles):
            continue  # no query in this shard expects a changed record
        raw_records = parse_json(data, new.source.describe(entry.path))
        for raw in raw_records:
            expected = raw.get("expected") or {}
            reasons: list[ImpactReason] = []
            for rel in expected.get("chunks") or []:
                reason = chunk_reasons.get(str(rel.get("id")))
                if reason is not None:
                    reasons.append(reason)
            for rel in expected.get("analyses") or []:
                reasons.extend(analysis_reasons.get(str(rel.get("id")), ()))
            if reasons:
                unique = sorted(set(reasons), key=lambda r: (r.kind, r.id, r.action))
                impacts.append(Impact(query_id=str(raw["id"]), reasons=tuple(unique)))
    return tuple(sorted(impacts, key=lambda i: i.query_id))


def _side(store: Store | None, label: str, commit: str | None = None) -> Side:
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
) -> DatasetDiff:
    """Compare two opened stores (either may be None: no store)."""
    verify = verify or VerifyParams()
    old_records, new_records = _Records(), _Records()
    total = parsed = 0
    for entity in ENTITIES:
        paths, count = _changed_paths(old, new, entity)
        total += count
        parsed += _load(old, entity, paths, old_records)
        parsed += _load(new, entity, paths, new_records)

    a_add, a_rem, a_mod = _compare("analyses", old_records.analyses, new_records.analyses, context_words)
    c_add, c_rem, c_mod = _compare("chunks", old_records.chunks, new_records.chunks, context_words)
    q_add, q_rem, q_mod = _compare("queries", old_records.queries, new_records.queries, context_words)

    chunk_reasons = {c.id: ImpactReason("chunk", c.id, "modified") for c in c_mod}
    chunk_reasons.update({c.id: ImpactReason("chunk", c.id, "removed") for c in c_rem})
    analysis_reasons: dict[str, list[ImpactReason]] = {}
    for a in a_mod:
        analysis_reasons.setdefault(a.id, []).append(ImpactReason("analysis", a.id, "modified"))
    for a in a_rem:
        analysis_reasons.setdefault(a.id, []).append(ImpactReason("analysis", a.id, "removed"))
    # a chunk added, modified or removed changes what its (surviving) analysis is about
    touched = [(c.id, c.analysis_id, "added") for c in c_add]
    touched += [(c.id, c.analysis_id, "modified") for c in c_mod]
    touched += [(c.id, c.analysis_id, "removed") for c in c_rem]
    new_analyses = {a.id for a in a_add}
    for chunk_id, owner, action in touched:
        if owner in new_records.analyses and owner not in new_analyses:
            analysis_reasons.setdefault(owner, []).append(ImpactReason("chunk", chunk_id, action))
    impacted = _impact(new, chunk_reasons, analysis_reasons)

    violations = []
    for record_id, record in sorted(new_records.analyses.items()):
        before = old_records.analyses.get(record_id)
        if before is not None and before.get("url") == record.get("url"):
            continue
        problem = url_problem(record.get("url", ""), verify)
        if problem is not None:
            violations.append(
                UrlViolation(record_id, record.get("url", ""), problem, None if before is None else before.get("url"))
            )

    return DatasetDiff(
        old=old_side or _side(old, "old"),
        new=new_side or _side(new, "new"),
        analyses_added=a_add,
        analyses_removed=a_rem,
        analyses_modified=a_mod,
        chunks_added=c_add,
        chunks_removed=c_rem,
        chunks_modified=c_mod,
        queries_added=q_add,
        queries_removed=q_rem,
        queries_modified=q_mod,
        impacted_queries=impacted,
        url_violations=tuple(violations),
        shards_total=total,
        shards_parsed=parsed,
    )


# --------------------------------------------------------------------------- naming the sides

#: the NEW spec that means "the store in the working tree" (also the default)
WORKTREE = "WORKTREE"


@dataclass(frozen=True)
class OpenedSide:
    store: Store | None
    side: Side


def open_side(spec: str | None, settings: Settings, *, missing_ok: bool = True) -> OpenedSide:
    """Open ``spec``: a store directory, ``WORKTREE`` / None (the project's store), or a git revision.

    A directory wins over a revision of the same name. A revision without the
    store gives an empty side when ``missing_ok`` (a pull request that adds
    the store shows everything as added), else a DataIntegrityError.
    """
    if spec is None or spec == WORKTREE:
        store = open_store(settings.store_path)
        return OpenedSide(store, _side(store, "working tree"))
    as_path = settings.resolve(spec)
    if as_path.is_dir():
        store = open_store(as_path)
        return OpenedSide(store, _side(store, spec))
    from goldkeeper.store.git_source import git_store_source  # the only module that imports git

    source = git_store_source(settings.root, spec, settings.store.path, must_exist=not missing_ok)
    if not source.exists:
        return OpenedSide(None, _side(None, spec, source.commit.hexsha))
    store = open_store(source)
    return OpenedSide(store, _side(store, spec, source.commit.hexsha))


def diff(old: str | None, new: str | None, settings: Settings, *, context_words: int | None = None) -> DatasetDiff:
    """``goldkeeper diff OLD NEW``: OLD defaults to ``HEAD``, NEW to the working tree store."""
    params = settings.diff
    old_opened = open_side(old or "HEAD", settings)
    new_opened = open_side(new, settings)
    if old_opened.store is None and new_opened.store is None:
        raise UsageError(f"neither {old_opened.side.label} nor {new_opened.side.label} has a golden store at {settings.store.path}")
    return diff_stores(
        old_opened.store,
        new_opened.store,
        old_side=old_opened.side,
        new_side=new_opened.side,
        verify=settings.verify,
        context_words=params.context_words if context_words is None else context_words,
    )


__all__ = [
    "SCHEMA_VERSION",
    "FieldChange",
    "RecordRef",
    "RecordChange",
    "ImpactReason",
    "Impact",
    "UrlViolation",
    "Side",
    "DatasetDiff",
    "word_diff",
    "field_changes",
    "url_problem",
    "diff_stores",
    "open_side",
    "diff",
    "WORKTREE",
]
