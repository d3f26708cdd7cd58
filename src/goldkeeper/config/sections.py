"""Every section of params.yaml, typed: one pydantic model per capability.

All sections are validated when params.yaml is loaded, for every command, so a
typo in a section no command of this run reads is still an error (exit 3),
naming the key. Unknown keys inside a section are errors too.

A capability that needs a new parameter adds a field to its section here, with
a comment saying what it changes.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

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
    #: the analysis statuses ``dump`` writes and ``verify --db`` counts (recorded in the manifest's
    #: ``scope``: ``restore --replace`` replaces only analyses with these statuses).
    statuses: list[str] = Field(default_factory=lambda: ["completed"], min_length=1)


#: seconds a restore waits for another writer's golden lock before it gives up
DEFAULT_LOCK_TIMEOUT = 60.0


class RestoreParams(Section):
    #: seconds ``restore`` waits for the golden lock held by another writer (a running restore or import)
    #: before it gives up with exit 4; while it waits it says who holds the lock.
    lock_timeout_seconds: float = Field(default=DEFAULT_LOCK_TIMEOUT, gt=0)


class EmbeddingParams(Section):
    #: who embeds: ``fastembed`` (in process, offline), ``openai`` (an OpenAI-compatible ``/embeddings``
    #: endpoint) or ``command:PROGRAM`` (texts as JSON lines on stdin, vectors as JSON lines on stdout).
    provider: str = "fastembed"
    #: the model name (fastembed: a catalog name, the default is carried inside the package; openai: sent as is).
    model: str = DEFAULT_MODEL
    #: a local directory with the ONNX model and tokenizer; None = vendored (default model) or fastembed's cache.
    model_path: str | None = None
    #: openai: the endpoint's base URL (``{base_url}/embeddings`` is called), e.g. https://api.openai.com/v1.
    base_url: str | None = None
    #: openai / command: the vector length (required; a vector of another length is an error); fastembed: checked.
    dimensions: int | None = Field(default=None, ge=1)
    #: openai: send ``dimensions`` in the request (OpenAI's text-embedding-3 models shorten their vectors to it).
    request_dimensions: bool = False
    #: openai: the NAME of the environment variable holding the API key (the key is never printed or stored).
    api_key_env: str | None = None
    #: openai: the header carrying the key: ``Authorization`` (``Bearer <key>``) or another name (the bare key, Azure: ``api-key``).
    api_key_header: str = "Authorization"
    #: openai / command: a user-declared version, part of the model identity (weights can change behind a name).
    version: str = ""
    #: texts per request (openai / command); chunks per database round trip = batch_size x max_concurrency.
    batch_size: int = Field(default=64, ge=1)
    #: openai / command: requests (program runs) in flight at once.
    max_concurrency: int = Field(default=4, ge=1)
    #: openai / command: seconds one request (one program run) may take.
    timeout_seconds: float = Field(default=60.0, gt=0)
    #: openai: retries of a request after a 429, a 5xx, a timeout or a lost connection (exponential backoff).
    max_retries: int = Field(default=5, ge=0)
    #: openai: the first backoff in seconds (doubled after each retry; a Retry-After header wins).
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    #: where computed vectors are kept: ``database`` (golden.embedding_cache) or ``file`` (``cache_dir``).
    cache: Literal["database", "file"] = "database"
    #: the file cache's directory (relative to the project root), one folder per model identity.
    cache_dir: str = ".goldkeeper/embedding-cache"
    #: the fastembed/ONNX Runtime thread count; None = all cores.
    threads: int | None = None
    #: fastembed: where ONNX Runtime runs the model: ``auto`` (CUDA when ONNX Runtime offers it, else the CPU),
    #: ``cpu``, or ``cuda`` (required: an error when unavailable). A CUDA embedder's identity ends in ``+cuda``.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: fastembed on the CPU: processes embedding at once, each one text per ONNX run with one thread
    #: (``auto``: the cores; 1: all in this process). Vectors are the same bytes whatever the number.
    workers: Literal["auto"] | int = "auto"
    #: prepended to every question embedded for search (eval retrieval, eval grounded), as the production
    #: system embeds them: E5 ``"query: "``, BGE ``"Represent this sentence for searching relevant passages: "``,
    #: nomic ``"search_query: "``. Part of the model identity: another prefix never reuses cached vectors.
    query_prefix: str = ""
    #: prepended to every text embedded as a document (the chunks restore embeds): E5 ``"passage: "``,
    #: nomic ``"search_document: "``. Part of the model identity, like ``query_prefix``.
    document_prefix: str = ""

    @field_validator("query_prefix", "document_prefix")
    @classmethod
    def _printable_prefix(cls, value: str) -> str:
        # tab and newline are allowed (instruction models such as e5-mistral put "\n" between the instruction and
        # the query); any other control character is invisible in a terminal and surely not the production text
        bad = next((c for c in value if c not in "\t\n" and unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            raise ValueError(f"holds the control character U+{ord(bad):04X} (only tab and newline are allowed)")
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_auto_or_count(cls, value: object) -> object:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"should be auto or a number of processes (1 or more), not {value!r}")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        # checked here: httpx reports a missing scheme as a lost connection (retried for half a minute) and
        # a malformed host as a bare ValueError; the URL is not quoted back (it may hold credentials)
        if value is None:
            return value
        try:
            parts = urlsplit(value.strip())
            usable = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:  # a malformed IPv6 host, a port out of range
            usable = False
        if not usable:
            raise ValueError("should be an http:// or https:// URL with a host (e.g. https://api.openai.com/v1)")
        return value

    @field_validator("api_key_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        # httpx sends any string: a space or colon failed every request as a lost connection, non-ASCII crashed
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", value):
            raise ValueError(f"should be an HTTP header name (letters, digits, '-'; e.g. api-key), not {value!r}")
        return value

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value in ("fastembed", "openai") or (value.startswith("command:") and value[len("command:") :].strip()):
            return value
        raise ValueError(f"unknown provider {value!r} (fastembed | openai | command:PROGRAM)")

    @model_validator(mode="after")
    def _provider_needs(self) -> EmbeddingParams:
        if self.provider == "fastembed":
            for name in ("base_url", "api_key_env"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is only read by provider openai (provider is fastembed)")
            return self
        if self.workers != "auto":
            raise ValueError(f"workers is only read by provider fastembed (provider is {self.provider.split(':')[0]})")
        if self.device != "auto":
            # the endpoint or the command chooses its own hardware; a silently ignored setting would mislead
            raise ValueError(f"device is only read by provider fastembed (provider is {self.provider.split(':')[0]})")
        if self.dimensions is None:
            raise ValueError(f"provider {self.provider.split(':')[0]} needs dimensions (the vector length)")
        if self.provider == "openai" and not self.base_url:
            raise ValueError("provider openai needs base_url (e.g. https://api.openai.com/v1)")
        return self


# --------------------------------------------------------------------------- the application's own tables

#: goldkeeper's fields per entity, in order, and which of them a mapping must map (issue 12).
ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "analyses": ("id", "url", "title", "content_type", "status", "created_at"),
    "chunks": ("id", "analysis_id", "content", "section_title", "section_path", "content_type", "chunk_index"),
    "artifacts": ("id", "analysis_id", "summary", "key_findings", "metadata"),
    "findings": ("analysis_id", "ordinal", "agent", "category", "content", "confidence"),
    "queries": ("id", "text", "domain", "difficulty", "tags", "expected", "reference_answers", "expected_behavior"),
}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "analyses": ("id", "url", "title", "created_at"),
    "chunks": ("id", "analysis_id", "content", "chunk_index"),
    "artifacts": ("id", "analysis_id", "summary"),
    "findings": ("analysis_id", "ordinal", "agent", "category", "content"),
    "queries": ("id", "text", "expected_behavior"),
}


class EmbeddingColumnParams(Section):
    #: the column holding the chunk's vector (pgvector ``vector(n)``, n = the model's dimension).
    column: str
    #: a text column recording the model identity of each vector; null = none (vectors written when NULL).
    model_column: str | None = None


class FulltextColumnParams(Section):
    """chunks only: what the full-text leg of the evals matches (absent: ``to_tsvector`` over the content column)."""

    #: a ``tsvector`` column of the chunks table (its GIN index serves the search).
    column: str | None = None
    #: an SQL expression over the chunks table's columns giving a ``tsvector`` (``to_tsvector('english', body)``).
    expression: str | None = None

    @model_validator(mode="after")
    def _one(self) -> FulltextColumnParams:
        if (self.column is None) == (self.expression is None):
            raise ValueError("fulltext: set exactly one of column or expression")
        return self


class TableMapParams(Section):
    #: the table, optionally schema-qualified (``app.documents``); a part in SQL's double quotes is read as SQL's
    #: (``"MyApp"."Document"``), and the value kept is the parts unquoted, joined by a dot (``MyApp.Document``).
    table: str = Field(min_length=1)
    #: goldkeeper field -> the table's column; a field left out is not stored (restored as the column default).
    columns: dict[str, str] = Field(default_factory=dict)
    #: an SQL condition on the table's columns: the rows goldkeeper reads, and the only rows a restore replaces.
    where: str | None = None
    #: field -> separator, for a text column holding a path (``section_path`` stored as ``a/b/c``).
    separators: dict[str, str] = Field(default_factory=dict)
    #: chunks only: the embedding column.
    embedding: EmbeddingColumnParams | None = None
    #: chunks only: the tsvector the full-text search matches (a column or an expression).
    fulltext: FulltextColumnParams | None = None
    #: children (chunks, artifacts, findings): true when the application guarantees ``analysis_id`` points at an
    #: analysis without a FOREIGN KEY constraint (``db check`` otherwise requires the constraint).
    declared_foreign_key: bool = False

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        parts = _sql_name_parts(value)
        if parts is None or not 1 <= len(parts) <= 2 or not all(parts):
            raise ValueError(f"table {value!r}: expected TABLE or SCHEMA.TABLE")
        if any("." in part for part in parts):  # the name is split at its dot (TableMap.from_params)
            raise ValueError(f"table {value!r}: a name holding a dot is not supported")
        return ".".join(parts)


#: one part of a qualified name: SQL-quoted (``"MyApp"``, ``""`` for a quote inside) or as written
_NAME_PART = re.compile(r'"((?:[^"]|"")*)"|([^".]*)')


def _sql_name_parts(value: str) -> list[str] | None:
    """``SCHEMA.TABLE``'s parts, a part in double quotes unquoted (a name copied from SQL: ``"MyApp"."Document"``
    names the table ``Document`` of schema ``MyApp``); an unquoted part is the name exactly as written, case kept.
    None: quotes that do not enclose a whole part."""
    parts, position = [], 0
    while True:
        match = _NAME_PART.match(value, position)
        if match is None:
            return None
        parts.append(match.group(2) if match.group(1) is None else match.group(1).replace('""', '"'))
        position = match.end()
        if position == len(value):
            return parts
        if value[position] != ".":
            return None
        position += 1


class DatabaseParams(Section):
    """Where goldkeeper's entities live in the application's own tables (absent: the ``golden`` schema).

    ``queries`` is optional: without it the golden test queries stay in goldkeeper's own ``golden.queries``."""

    tables: dict[str, TableMapParams]

    @model_validator(mode="after")
    def _entities(self) -> DatabaseParams:
        for entity, table in self.tables.items():
            if entity not in ENTITY_FIELDS:
                raise ValueError(f"unknown entity {entity!r} ({' | '.join(ENTITY_FIELDS)})")
            fields = ENTITY_FIELDS[entity]
            for name in [*table.columns, *table.separators]:
                if name not in fields:
                    raise ValueError(f"tables.{entity}: unknown field {name!r} ({', '.join(fields)})")
            missing = [f for f in REQUIRED_FIELDS[entity] if f not in table.columns]
            if missing:
                raise ValueError(f"tables.{entity}: required field {missing[0]!r} is not mapped (columns.{missing[0]})")
            if table.embedding is not None and entity != "chunks":
                raise ValueError(f"tables.{entity}: only chunks have an embedding")
            if table.fulltext is not None and entity != "chunks":
                raise ValueError(f"tables.{entity}: only chunks have a fulltext")
        for needed in ("analyses", "chunks"):
            if needed not in self.tables:
                raise ValueError(f"tables.{needed} is required")
        if self.tables["chunks"].embedding is None:
            raise ValueError("tables.chunks.embedding is required (the column holding the vectors)")
        return self


class VerifyParams(Section):
    placeholder_patterns: list[str] = Field(
        default_factory=lambda: ["placeholder", "example.com", "example.org", "localhost", "127.0.0.1", "todo", "tbd"]
    )
    url_schemes: list[str] = Field(default_factory=lambda: ["https", "http"])


class DiffParams(Section):
    """Used by ``goldkeeper diff --report`` (the DVC stage)."""

    #: the git revision the working store is compared with; None: the repository's default branch
    #: (origin/HEAD, else the current branch's upstream, else main or master). A base that does not
    #: resolve is a diff against nothing (everything added, said in the report), never a failed stage.
    #: The environment variable GOLDKEEPER_DIFF_BASE overrides it (the PR workflow: the PR's base).
    base: str | None = None
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
    #: PostgreSQL text search configuration of the full-text leg, questions and chunks (any of pg_ts_config;
    #: 'english' uses golden.chunks.tsv, another computes to_tsvector per search).
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
    #: the folder of the per-mode plots (ndcg-<mode>.json: nDCG@k of the queries by percentile, dvc plots):
    #: one readable curve per mode whatever the number of queries.
    plots_dir: str = "reports/retrieval-plots"


class GroundedParams(Section):
    #: extractive | command:PROGRAM | responses:FILE
    answerer: str = "extractive"
    #: the claim-support judge: aligned | lexical | nli | command:PROGRAM (see goldkeeper.evals.judges).
    judge: str = "aligned"
    #: its threshold; null = the judge's own default (aligned 0.65, lexical 0.8, nli and command 0.5).
    judge_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    #: nli: a local ONNX cross-encoder folder (model.onnx, tokenizer.json, config.json), loaded offline.
    judge_model_path: str | None = None
    #: nli and command judges: pairs per batch; command judge: seconds per batch.
    judge_batch_size: int = Field(default=64, ge=1)
    judge_timeout_s: float = Field(default=300.0, gt=0)
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
    "DEFAULT_LOCK_TIMEOUT",
    "RestoreParams",
    "EmbeddingParams",
    "ENTITY_FIELDS",
    "REQUIRED_FIELDS",
    "EmbeddingColumnParams",
    "TableMapParams",
    "DatabaseParams",
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
