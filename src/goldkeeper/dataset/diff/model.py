"""The frozen value objects of a dataset diff: :class:`DatasetDiff` and what it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Version of the JSON document :meth:`DatasetDiff.to_json` produces (README: "diff JSON schema").
SCHEMA_VERSION = 1
KINDS = ("analyses", "chunks", "queries")
ACTIONS = ("added", "removed", "modified")


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
    """Why a query is impacted: a chunk or analysis it expects was modified or removed."""

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
class StoreProblem:
    """Something about a side's store the diff did not trust: a manifest sha256 or record count that does
    not match the shard's bytes (edited after the dump: run ``goldkeeper fmt``), or a shard file the manifest
    does not list."""

    side: str  # "old" | "new"
    file: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"side": self.side, "file": self.file, "problem": self.problem}


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
    store_problems: tuple[StoreProblem, ...] = ()
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
            marks = [
                f"{sign}{counts[action]}"
                for sign, action in (("+", "added"), ("-", "removed"), ("~", "modified"))
                if counts[action]
            ]
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
                "store_problems": len(self.store_problems),
            },
            **{
                kind: {action: [item.to_json() for item in self.changes(kind, action)] for action in ACTIONS}
                for kind in KINDS
            },
            "impact": [i.to_json() for i in self.impacted_queries],
            "url_violations": [v.to_json() for v in self.url_violations],
            "store_problems": [p.to_json() for p in self.store_problems],
            "stats": {"shards_total": self.shards_total, "shards_parsed": self.shards_parsed},
        }


__all__ = [
    "SCHEMA_VERSION",
    "KINDS",
    "ACTIONS",
    "FieldChange",
    "RecordRef",
    "RecordChange",
    "ImpactReason",
    "Impact",
    "UrlViolation",
    "StoreProblem",
    "Side",
    "DatasetDiff",
]
