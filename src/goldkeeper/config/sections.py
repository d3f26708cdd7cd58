"""Every section of params.yaml, typed: one pydantic model per capability.

All sections are validated when params.yaml is loaded, for every command, so a
typo in a section no command of this run reads is still an error (exit 3),
naming the key. Unknown keys inside a section are errors too.

A capability that needs a new parameter adds a field to its section here, with
a comment saying what it changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
Mode = Literal["vector", "fulltext", "hybrid"]
RETRIEVAL_MODES: tuple[Mode, ...] = ("vector", "fulltext", "hybrid")


class Section(BaseModel):
    """Base of every params.yaml section: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- the store


class DatasetParams(Section):
    #: the dataset id written in the manifest and used in baseline keys.
    name: str = "golden"


class StoreParams(Section):
    path: str = "golden"
    shards: dict[str, int] = Field(default_factory=lambda: {"analyses": 8, "queries": 16})

    @field_validator("shards")
    @classmethod
    def _known_entities(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - {"analyses", "queries"})
        if unknown:
            raise ValueError(f"unknown entity {unknown[0]!r} (analyses | queries)")
        return value


class DumpParams(Section):
    #: the analysis statuses ``dump`` writes and ``verify --db`` counts.
    statuses: list[str] = Field(default_factory=lambda: ["completed"])


class EmbeddingParams(Section):
    #: a fastembed model name; the default is carried inside the package.
    model: str = DEFAULT_MODEL
    #: a local directory with the ONNX model and tokenizer; None = vendored (default model) or fastembed's cache.
    model_path: str | None = None
    #: chunks per database round trip when regenerating embeddings.
    batch_size: int = Field(default=64, ge=1)
    #: the fastembed/ONNX Runtime thread count; None = all cores.
    threads: int | None = None


class VerifyParams(Section):
    placeholder_patterns: list[str] = Field(
        default_factory=lambda: ["placeholder", "example.com", "example.org", "localhost", "127.0.0.1", "todo", "tbd"]
    )
    url_schemes: list[str] = Field(default_factory=lambda: ["https", "http"])


class DiffParams(Section):
    """Used by ``goldkeeper diff --report`` (the DVC stage)."""

    #: the git revision the working store is compared with
    base: str = "main"
    #: where ``--report`` writes the pull-request comment body and the JSON document
    md: str = "reports/dataset-diff.md"
    json_out: str = Field(default="reports/dataset-diff.json", alias="json")
    #: cap of the markdown (GitHub comments hold 65,536 characters)
    max_md_chars: int = Field(default=60_000, ge=2_000, le=65_000)
    #: words of unchanged context around each change in a word-level text diff
    context_words: int = Field(default=6, ge=0, le=50)


# --------------------------------------------------------------------------- evaluation


class BoostParams(Section):
    #: added to a chunk's score when its section title matches the question (same OR tsquery).
    section_title: float = 0.0
    #: added to a chunk's score per content type, e.g. {table: 0.01}.
    content_type: dict[str, float] = Field(default_factory=dict)


class RetrievalParams(Section):
    modes: list[Mode] = Field(default_factory=lambda: list(RETRIEVAL_MODES))
    #: cutoff of the headline measures (P@k, recall@k, nDCG@k, pass rate@k).
    k: int = Field(default=10, ge=1)
    #: documents each leg retrieves (and the depth of the run that is scored).
    depth: int = Field(default=100, ge=1)
    #: reciprocal rank fusion constant: score = sum 1 / (rrf_k + rank).
    rrf_k: int = Field(default=60, ge=0)
    #: hnsw.ef_search for the vector leg (raised to depth when lower).
    ef_search: int = Field(default=100, ge=1)
    #: "hnsw": approximate search through the HNSW index (as in production); "exact": sequential scan.
    vector_index: Literal["hnsw", "exact"] = "hnsw"
    #: PostgreSQL text search configuration (the tsv column is built with 'english').
    fulltext_config: str = "english"
    #: "or": plainto_tsquery with its & turned into | (any content word matches); "websearch": AND semantics.
    tsquery: Literal["or", "websearch"] = "or"
    #: ts_rank_cd normalisation bit mask (0 = none, 1 = divide by 1 + log(length), ...).
    rank_normalization: int = Field(default=0, ge=0)
    boosts: BoostParams = Field(default_factory=BoostParams)
    #: questions embedded and searched per database round trip.
    query_batch_size: int = Field(default=256, ge=1)
    #: the flat aggregate metrics JSON (dvc metrics).
    out: str = "metrics/retrieval.json"
    #: the per-query results JSON (dvc plots, eval compare).
    per_query: str = "reports/retrieval-per-query.json"
    #: the folder for the TREC run (retrieval-<mode>.run) and qrels (retrieval.qrels) files.
    trec_dir: str = "reports"


class GroundedParams(Section):
    #: extractive | command:PROGRAM | responses:FILE
    answerer: str = "extractive"
    #: the claim-support judge and its threshold (see goldkeeper.evals.judges).
    judge: str = "lexical"
    judge_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    #: extractive: the search mode (other search parameters: the ``retrieval:`` section).
    retrieval_mode: Mode = "hybrid"
    #: extractive: retrieved chunks to read, sentences per answer, and the evidence score below which it refuses.
    top_k: int = Field(default=5, ge=1)
    max_sentences: int = Field(default=1, ge=1)
    refusal_threshold: float = Field(default=0.66, ge=0.0)
    #: extractive: weight of the prompt-sentence embedding cosine against lexical coverage in a sentence's score.
    semantic_weight: float = Field(default=0.8, ge=0.0, le=1.0)
    #: citation freshness: cited evidence older than this (days, at ``as_of``) is stale.
    max_evidence_age_days: float = Field(default=3650.0, gt=0)
    #: an oldest-age ratio at or above this raises an aging-pressure warning.
    aging_warn_ratio: float = Field(default=0.8, gt=0)
    #: the time evidence age is measured at (RFC 3339); null = now (not reproducible: set it for DVC).
    as_of: AwareDatetime | None = None
    #: command answerer: prompts per batch and seconds per batch.
    batch_size: int = Field(default=64, ge=1)
    command_timeout_s: float = Field(default=300.0, gt=0)
    out: str = "metrics/grounded.json"
    per_case_out: str = "reports/grounded-per-case.json"
    #: ``goldkeeper demo`` scores only the first N queries (by id) to stay quick; null = all.
    demo_limit: int | None = Field(default=100, ge=1)


#: Dotted paths that must be present and non-empty on every prompt row.
DEFAULT_REQUIRED_FIELDS = [
    "id",
    "text",
    "domain",
    "difficulty",
    "expected_behavior.behavior",
    "expected_behavior.grounding",
    "expected_behavior.refusal",
    "expected_behavior.must_not",
]
#: Extra paths required on rows that expect an answer (behavior == "answer").
DEFAULT_ANSWER_REQUIRED_FIELDS = ["expected_behavior.citation_fields"]


class RubricParams(Section):
    """The dataset-level rubric: what every eval prompt must carry (``verify``'s prompt contract) and the
    thresholds a grounded answer run is judged against (``eval grounded``)."""

    #: claims supported by their cited evidence / claims
    grounded_precision: float = Field(default=0.95, ge=0.0, le=1.0)
    #: claims with at least one valid citation / claims
    citation_coverage: float = Field(default=0.95, ge=0.0, le=1.0)
    #: cited evidence within the maximum age / citations
    citation_freshness: float = Field(default=0.95, ge=0.0, le=1.0)
    #: cite-or-refuse: every answer cites its evidence (grounding required); without evidence, refuse.
    refusal_policy: Literal["cite-or-refuse"] = "cite-or-refuse"
    min_prompts: int = Field(default=1, ge=0)
    #: required number of distinct ``domain`` values among the prompts.
    min_domains: int = Field(default=1, ge=0)
    required_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_REQUIRED_FIELDS))
    answer_required_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_ANSWER_REQUIRED_FIELDS))


# --------------------------------------------------------------------------- baselines, gate, report


class PromptParams(Section):
    #: the version of the answer prompt / answerer instructions: part of the baseline identity.
    version: str = Field(default="v1", min_length=1)


class BaselineParams(Section):
    dir: str = "baselines"


class GateParams(Section):
    #: the regression policy file (JSON, validated strictly).
    policy: str = "config/regression-policy.json"
    #: the flat metrics files written by the evals, merged; null = retrieval.out and grounded.out.
    metrics: list[str] | None = Field(default=None, min_length=1)
    #: fail when no baseline is recorded for the run's identity.
    require_baseline: bool = False


class ReportParams(Section):
    #: where runs, trend-index.json, summary.* and index.html live.
    dir: str = "artifacts/evals"


__all__ = [
    "DEFAULT_MODEL",
    "RETRIEVAL_MODES",
    "Mode",
    "Section",
    "DatasetParams",
    "StoreParams",
    "DumpParams",
    "EmbeddingParams",
    "VerifyParams",
    "DiffParams",
    "BoostParams",
    "RetrievalParams",
    "GroundedParams",
    "DEFAULT_REQUIRED_FIELDS",
    "DEFAULT_ANSWER_REQUIRED_FIELDS",
    "RubricParams",
    "PromptParams",
    "BaselineParams",
    "GateParams",
    "ReportParams",
]
