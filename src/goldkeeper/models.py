"""The golden data model: one pydantic definition per record kind, no IO.

Every record is strict about its shape: unknown fields and wrong types are
rejected (``extra="forbid"``), so a typo in a hand-edited shard is an error,
not silently dropped data. Embeddings are deliberately absent: they are
regenerated on restore with the configured model.

Adding or changing a field means bumping ``SCHEMA_VERSION``; the manifest
records the schema version its shards were written with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)
from pydantic_core import PydanticCustomError

#: Version of the record schema (fields of Analysis, Chunk, ..., Query).
SCHEMA_VERSION = 1
#: Version of the store layout (manifest + shard files).
FORMAT_VERSION = 1

ENTITIES = ("analyses", "queries")


class Record(BaseModel):
    """Base of every stored record: strict, immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, validate_default=True)


class Finding(Record):
    """One observation about an analysis, made by an agent or a person."""

    agent: str
    category: str
    content: str
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class Artifact(Record):
    """The derived summary of an analysis."""

    id: UUID
    summary: str
    key_findings: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Chunk(Record):
    """A retrievable passage of an analysis. Its embedding is not stored in JSON."""

    id: UUID
    content: str
    section_title: str | None = None
    section_path: list[str] = Field(default_factory=list)
    content_type: str = "text"
    chunk_index: int = Field(ge=0)


class Analysis(Record):
    """A source document with a real canonical URL (the URL contract)."""

    id: UUID
    url: str = Field(min_length=1)
    title: str
    content_type: str = "text"
    status: str = "completed"
    created_at: AwareDatetime
    findings: list[Finding] = Field(default_factory=list)
    chunks: list[Chunk] = Field(default_factory=list)
    artifact: Artifact | None = None

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """One instant, one spelling: ``+02:00`` written by hand is the same data as what dump writes (``Z``)."""
        return value.astimezone(UTC)

    @field_validator("chunks")
    @classmethod
    def _chunk_indexes_unique(cls, chunks: list[Chunk]) -> list[Chunk]:
        indexes = [chunk.chunk_index for chunk in chunks]
        if len(set(indexes)) == len(indexes):
            return chunks  # the usual case, in one pass; else the loop below names the first duplicate
        seen: set[int] = set()
        for chunk in chunks:
            if chunk.chunk_index in seen:
                raise ValueError(f"duplicate chunk_index {chunk.chunk_index} (chunk {chunk.id})")
            seen.add(chunk.chunk_index)
        return chunks

    def canonical(self) -> Analysis:
        """The same analysis with chunks in ``chunk_index`` order (the stored order)."""
        ordered = sorted(self.chunks, key=lambda c: c.chunk_index)
        if ordered == self.chunks:
            return self
        return self.model_copy(update={"chunks": ordered})


#: the highest graded relevance a store holds: what the metrics evaluate
#: (:data:`goldkeeper.evals.metrics.base.MAX_RELEVANCE`, not imported: it would load pydantic into
#: ``eval trec``; a test holds the two equal). A higher level is refused where it enters, not in an eval.
MAX_RELEVANCE = 1000


class Relevance(Record):
    """One expected result of a query, with its graded relevance (TREC style: >= 1 is relevant)."""

    id: UUID
    relevance: int = Field(default=1, ge=1, le=MAX_RELEVANCE)


class Expected(Record):
    """What retrieval should return for a query. Empty for queries that expect a refusal."""

    chunks: list[Relevance] = Field(default_factory=list)
    analyses: list[Relevance] = Field(default_factory=list)

    def canonical(self) -> Expected:
        return Expected(
            chunks=sorted(self.chunks, key=lambda r: str(r.id)),
            analyses=sorted(self.analyses, key=lambda r: str(r.id)),
        )

    def is_empty(self) -> bool:
        return not self.chunks and not self.analyses


CitationField = Literal["chunk_id", "analysis_id", "entity_id", "property_path", "source_url", "retrieved_at"]


#: the ``must_not`` rules ``eval grounded`` checks; verify rejects any other (issue 14).
MUST_NOT_RULES: tuple[str, ...] = ("answer_without_evidence", "fabricate_citation")

#: what a claim's citation carries unless the query says otherwise
DEFAULT_CITATION_FIELDS: tuple[CitationField, ...] = ("chunk_id", "source_url")


class ExpectedBehavior(Record):
    """How the system under test must behave on a query (the cite-or-refuse contract).

    ``behavior``: ``answer`` (answer, every claim cited) or ``refuse`` (the
    evidence is missing: decline rather than guess). ``grounding``: whether
    claims must be supported by retrieved evidence. ``citation_fields``: what
    each claim's citation must carry. ``refusal``: the expected refusal
    behaviour when evidence is missing. ``must_not``: explicit failure
    behaviours (e.g. ``"fabricate_citation"``, ``"answer_without_evidence"``).
    ``grounding_requirements``: free-text grounding requirements as a prompt
    file writes them (``import prompts``); omitted from the JSON when empty, so
    records without them keep their bytes.
    """

    behavior: Literal["answer", "refuse"]
    grounding: Literal["required", "optional"] = "required"
    grounding_requirements: list[str] = Field(default_factory=list, exclude_if=lambda value: not value)
    citation_fields: list[CitationField] = Field(default_factory=lambda: list(DEFAULT_CITATION_FIELDS))
    refusal: str = "refuse_when_evidence_missing"
    must_not: list[str] = Field(default_factory=list)


class Query(Record):
    """A test query / eval prompt with its expected results and behaviour."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._:\-]+$")
    text: str = Field(min_length=1)
    domain: str
    difficulty: Literal["easy", "medium", "hard"] = "medium"
    tags: list[str] = Field(default_factory=list)
    expected: Expected = Field(default_factory=Expected)
    reference_answers: list[str] = Field(default_factory=list)
    expected_behavior: ExpectedBehavior

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        """Whitespace only asks nothing, as an empty text does: refused where that one is, not left to verify."""
        if not value.strip():
            raise PydanticCustomError("string_blank", "String should have a character other than whitespace")
        return value

    def canonical(self) -> Query:
        expected = self.expected.canonical()
        if expected == self.expected:
            return self
        return self.model_copy(update={"expected": expected})


class ShardEntry(Record):
    """One shard file as listed in the manifest."""

    path: str
    entity: Literal["analyses", "queries"]
    records: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class StoreScope(Record):
    """What part of the database a store represents (``restore --replace`` replaces only that part).

    ``statuses``: the analysis statuses the dump wrote (params.yaml ``dump.statuses``); every query
    is always in scope.
    """

    statuses: list[str] = Field(min_length=1)

    @field_validator("statuses")
    @classmethod
    def _sorted_unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


#: The scope of a store whose manifest names none: the analyses with status ``completed``, which is
#: what ``dump`` writes with its default ``dump.statuses``. So every store dumped with the default
#: (before the scope existed, or since) keeps its exact bytes and dataset version.
DEFAULT_SCOPE = StoreScope(statuses=["completed"])


class Manifest(Record):
    """The table of contents of a golden store. Its sha256 is the dataset version.

    ``scope`` is written only when it is not :data:`DEFAULT_SCOPE` (see :meth:`effective_scope`).
    """

    format_version: int = FORMAT_VERSION
    schema_version: int = SCHEMA_VERSION
    dataset: str
    counts: dict[str, int]
    shard_counts: dict[str, int]
    shards: list[ShardEntry]
    scope: StoreScope | None = None

    @model_serializer(mode="wrap")
    def _without_absent_scope(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """An absent scope is not written, so a store without one keeps its exact bytes (and version)."""
        data: dict[str, Any] = handler(self)
        if data.get("scope") is None:
            data.pop("scope", None)
        return data

    @property
    def effective_scope(self) -> StoreScope:
        """What part of the database this store stands for (``restore --replace`` replaces only that)."""
        return self.scope if self.scope is not None else DEFAULT_SCOPE

    @field_validator("format_version")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value > FORMAT_VERSION:
            raise ValueError(
                f"format_version {value} is newer than this goldkeeper understands ({FORMAT_VERSION}); upgrade goldkeeper"
            )
        return value


def record_key(record: Analysis | Query) -> str:
    """The sort key of a record inside its shard: the id as a string."""
    return str(record.id)


def count_records(analyses: list[Analysis], queries: list[Query]) -> dict[str, int]:
    """The manifest's ``counts`` for a set of records."""
    return {
        "analyses": len(analyses),
        "chunks": sum(len(a.chunks) for a in analyses),
        "findings": sum(len(a.findings) for a in analyses),
        "artifacts": sum(1 for a in analyses if a.artifact is not None),
        "queries": len(queries),
    }


__all__ = [
    "MAX_RELEVANCE",
    "SCHEMA_VERSION",
    "FORMAT_VERSION",
    "ENTITIES",
    "Finding",
    "Artifact",
    "Chunk",
    "Analysis",
    "Relevance",
    "Expected",
    "ExpectedBehavior",
    "CitationField",
    "Query",
    "ShardEntry",
    "StoreScope",
    "DEFAULT_SCOPE",
    "Manifest",
    "record_key",
    "count_records",
]
