"""What a citation can point to: the chunks and analyses of the golden store, and the check of one citation.

:class:`EvidenceIndex` holds every chunk's text and every analysis's URL,
title and ``created_at``. :func:`resolve_citation` checks one citation against
it: a citation is *valid* when it carries every field the query requires
(``expected_behavior.citation_fields``), names a chunk / analysis / entity of
the dataset, and its ``analysis_id``, ``source_url`` and ``entity_id`` agree
with the cited chunk; its evidence text is the chunk (or the whole analysis).
Both the answerers (which cite) and the grounded scoring (which checks) use
this module, and it imports neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass
class EvidenceIndex:
    """The evidence a citation can point to: chunks and analyses of the golden store."""

    chunks: dict[UUID, EvidenceChunk] = field(default_factory=dict)
    analyses: dict[UUID, EvidenceDoc] = field(default_factory=dict)

    @classmethod
    def from_analyses(cls, analyses: Iterable[Analysis]) -> EvidenceIndex:
        index = cls()
        for analysis in analyses:
            ordered = sorted(analysis.chunks, key=lambda c: c.chunk_index)
            for chunk in ordered:
                index.chunks[chunk.id] = EvidenceChunk(chunk.id, analysis.id, chunk.content)
            index.analyses[analysis.id] = EvidenceDoc(
                analysis.id, analysis.url, analysis.title, analysis.created_at, tuple(c.id for c in ordered)
            )
        return index

    def analysis_text(self, analysis_id: UUID) -> str:
        doc = self.analyses[analysis_id]
        return "\n".join(self.chunks[c].content for c in doc.chunk_ids)


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
    if citation.entity_id is not None:
        if entity is None or (entity not in index.analyses and entity not in index.chunks):
            return ResolvedCitation(f"entity_id {citation.entity_id!r} names no analysis or chunk of the dataset")
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
    evidence = chunk.content if chunk is not None else index.analysis_text(doc.id)
    return ResolvedCitation(None, doc.id, chunk.id if chunk is not None else None, evidence)


__all__ = ["EvidenceChunk", "EvidenceDoc", "EvidenceIndex", "ResolvedCitation", "resolve_citation"]
