"""What a citation can point to: the chunks and analyses of the golden store, and the check of one citation.

:class:`EvidenceIndex` holds every chunk's text and every analysis's URL,
title and ``created_at``. :func:`resolve_citation` checks one citation against
it: a citation is *valid* when it carries every field the query requires
(``expected_behavior.citation_fields``), names a chunk / analysis / entity of
the dataset, its ``analysis_id``, ``source_url`` and ``entity_id`` agree
with the cited chunk, and its ``property_path`` resolves in the cited record;
its evidence text is the chunk (or the whole analysis).

``entity_id`` is a goldkeeper id (the cited analysis or chunk) or an
identifier of the user's domain (``met:11417``) that the cited analysis
declares in its artifact metadata, ``entity_ids`` (a list of strings, or one
string). A domain id declared by exactly one analysis names it; one declared
by several needs ``chunk_id`` or ``analysis_id``.

``property_path`` is a dotted path with ``[N]`` list indexes (``chunks[3].content``,
``artifact.metadata.provenance.donor``) that must resolve in the cited chunk's
record (``content``, ``section_title``), in the analysis record (its stored JSON:
``title``, ``chunks[N]....``; a ``chunks[N]`` path must be the cited chunk) or in
the analysis's artifact metadata (``provenance.donor``).
Both the answerers (which cite) and the grounded scoring (which checks) use
this module, and it imports neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from goldkeeper.evals.response import Citation
from goldkeeper.models import Analysis


@dataclass(frozen=True)
class EvidenceChunk:
    id: UUID
    analysis_id: UUID
    content: str


@dataclass(frozen=True)
class EvidenceDoc:
    id: UUID
    url: str
    title: str
    created_at: datetime
    chunk_ids: tuple[UUID, ...]
    #: the stored record (JSON) for property paths, and the domain entity ids it declares.
    record: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    entity_ids: frozenset[str] = frozenset()


@dataclass
class EvidenceIndex:
    """The evidence a citation can point to: chunks and analyses of the golden store."""

    chunks: dict[UUID, EvidenceChunk] = field(default_factory=dict)
    analyses: dict[UUID, EvidenceDoc] = field(default_factory=dict)
    #: domain entity id -> the analyses that declare it
    entities: dict[str, list[UUID]] = field(default_factory=dict)

    @classmethod
    def from_analyses(cls, analyses: Iterable[Analysis]) -> EvidenceIndex:
        index = cls()
        for analysis in analyses:
            ordered = sorted(analysis.chunks, key=lambda c: c.chunk_index)
            for chunk in ordered:
                index.chunks[chunk.id] = EvidenceChunk(chunk.id, analysis.id, chunk.content)
            declared = _declared_entities(analysis)
            index.analyses[analysis.id] = EvidenceDoc(
                analysis.id,
                analysis.url,
                analysis.title,
                analysis.created_at,
                tuple(c.id for c in ordered),
                analysis.canonical().model_dump(mode="json"),
                declared,
            )
            for entity in sorted(declared):
                index.entities.setdefault(entity, []).append(analysis.id)
        return index

    def analysis_text(self, analysis_id: UUID) -> str:
        doc = self.analyses[analysis_id]
        return "\n".join(self.chunks[c].content for c in doc.chunk_ids)


def _declared_entities(analysis: Analysis) -> frozenset[str]:
    """The domain entity ids an analysis declares: artifact metadata ``entity_ids`` (strings)."""
    raw = analysis.artifact.metadata.get("entity_ids") if analysis.artifact is not None else None
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return frozenset(v for v in values if isinstance(v, str) and v)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolve_path(record: Any, path: str) -> tuple[bool, list[str | int]]:
    """Whether the dotted ``path`` (with ``[N]`` indexes) resolves in ``record``, and its parsed parts."""
    parts: list[str | int] = []
    position = 0
    for match in _PATH_PART.finditer(path):
        if match.start() != position and path[position : match.start()] != ".":
            return False, parts
        parts.append(int(match.group(2)) if match.group(2) is not None else match.group(1))
        position = match.end()
    if not parts or position != len(path):
        return False, parts
    value = record
    for part in parts:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return False, parts
    return True, parts


def _property_error(path: str, doc: EvidenceDoc, chunk: EvidenceChunk | None) -> str | None:
    """Why ``path`` does not resolve in the cited record (None when it does)."""
    if chunk is not None:
        position = doc.chunk_ids.index(chunk.id)
        if resolve_path(doc.record["chunks"][position], path)[0]:
            return None
    found, parts = resolve_path(doc.record, path)
    if found:
        index = parts[1] if len(parts) > 1 and parts[0] == "chunks" else None
        if chunk is not None and isinstance(index, int) and doc.chunk_ids[index] != chunk.id:
            return f"property_path {path!r} is in chunk {doc.chunk_ids[index]}, not the cited chunk {chunk.id}"
        return None
    metadata = (doc.record.get("artifact") or {}).get("metadata") or {}
    if resolve_path(metadata, path)[0]:
        return None
    return f"property_path {path!r} does not resolve in the cited record (its fields or its metadata)"


def _as_uuid(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class ResolvedCitation:
    """A citation checked against the evidence: valid with its evidence, or the reason it is not."""

    error: str | None
    analysis_id: UUID | None = None
    chunk_id: UUID | None = None
    evidence: str = ""


def resolve_citation(citation: Citation, required: Sequence[str], index: EvidenceIndex) -> ResolvedCitation:
    """Check one citation against the query's required fields and the evidence."""
    missing = [name for name in required if getattr(citation, name) in (None, "")]
    if missing:
        return ResolvedCitation(f"missing {', '.join(missing)} (required by the query)")
    chunk = None
    analysis_id = citation.analysis_id
    if citation.chunk_id is not None:
        chunk = index.chunks.get(citation.chunk_id)
        if chunk is None:
            return ResolvedCitation(f"cites chunk {citation.chunk_id}, which is not in the dataset")
        if analysis_id is not None and analysis_id != chunk.analysis_id:
            return ResolvedCitation(f"chunk {chunk.id} does not belong to analysis {analysis_id}")
        analysis_id = chunk.analysis_id
    entity = _as_uuid(citation.entity_id)
    if citation.entity_id is not None and entity is None:
        declared = index.entities.get(citation.entity_id, [])
        if not declared:
            return ResolvedCitation(f"entity_id {citation.entity_id!r} names no analysis, chunk or declared entity")
        if analysis_id is None and len(declared) > 1:
            return ResolvedCitation(
                f"entity_id {citation.entity_id!r} is declared by {len(declared)} analyses: cite chunk_id or analysis_id"
            )
        if analysis_id is not None and analysis_id not in declared:
            return ResolvedCitation(f"entity_id {citation.entity_id!r} is not declared by analysis {analysis_id}")
        analysis_id = analysis_id if analysis_id is not None else declared[0]
    elif citation.entity_id is not None:
        if entity not in index.analyses and entity not in index.chunks:
            return ResolvedCitation(f"entity_id {citation.entity_id!r} names no analysis, chunk or declared entity")
        entity_analysis = entity if entity in index.analyses else index.chunks[entity].analysis_id
        if chunk is not None and entity not in (chunk.id, chunk.analysis_id):
            return ResolvedCitation(f"entity_id {citation.entity_id} is not the cited chunk or its analysis")
        if analysis_id is not None and entity_analysis != analysis_id:
            return ResolvedCitation(f"entity_id {citation.entity_id} is not in analysis {analysis_id}")
        if chunk is None and entity in index.chunks:
            chunk = index.chunks[entity]
        analysis_id = entity_analysis
    if analysis_id is None:
        return ResolvedCitation("cites no evidence (no chunk_id, analysis_id or entity_id)")
    doc = index.analyses.get(analysis_id)
    if doc is None:
        return ResolvedCitation(f"cites analysis {analysis_id}, which is not in the dataset")
    if citation.source_url is not None and citation.source_url != doc.url:
        return ResolvedCitation(f"source_url {citation.source_url!r} is not the URL of analysis {doc.id} ({doc.url})")
    if citation.retrieved_at is not None and citation.retrieved_at < doc.created_at:
        return ResolvedCitation(f"retrieved_at {citation.retrieved_at.isoformat()} is before the evidence existed")
    if citation.property_path is not None and (problem := _property_error(citation.property_path, doc, chunk)):
        return ResolvedCitation(problem)
    evidence = chunk.content if chunk is not None else index.analysis_text(doc.id)
    return ResolvedCitation(None, doc.id, chunk.id if chunk is not None else None, evidence)


__all__ = ["EvidenceChunk", "EvidenceDoc", "EvidenceIndex", "ResolvedCitation", "resolve_citation", "resolve_path"]
