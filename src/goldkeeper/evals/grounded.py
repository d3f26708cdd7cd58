"""Grounded-answer eval: score an answerer's responses with the cite-or-refuse policy.

Every query of the golden store is one case. An answerer (see
:mod:`goldkeeper.evals.answerers`) returns a :class:`~.response.Response` per
query, or a reason it could not (malformed line, missing response, failed
batch). Each case is scored against the evidence in the golden store (chunk
text, analysis URL and ``created_at``) with the rules below; every score is a
number in [0, 1], never NaN.

Per case, for an answer (``refused`` false) with claims ``C`` and citations:

- a citation is *valid* when it carries every field the query requires
  (``expected_behavior.citation_fields``), names a chunk / analysis / entity of
  the dataset, and its ``analysis_id``, ``source_url`` and ``entity_id`` agree
  with the cited chunk; its evidence text is the chunk (or the whole analysis);
- faithfulness = grounded precision = |claims supported by the text of their
  valid citations (the :class:`~.judges.Judge` decides)| / |C|;
- citation coverage = |claims with at least one valid citation| / |C|;
- citation accuracy = |citations pointing to expected evidence| / |citations|
  (a cited chunk must be an expected chunk when the query lists chunks; a citation
  of a whole analysis, or of a chunk when the query lists only analyses, counts
  when that analysis is expected or holds an expected chunk);
- citation freshness = |valid citations whose analysis is at most
  ``max_evidence_age_days`` old at ``as_of``| / |valid citations|; the oldest
  age ratio = oldest cited age / max age (aging pressure at >= ``aging_warn_ratio``);
- relevance = cosine similarity of the answer and the prompt embeddings with
  the configured embedder, clipped to [0, 1];
- exact match and F1 against the reference answers (:mod:`.squad`).

An answer with no claims scores 0 on the claim scores. Refusal rules: a
refusal where a refusal is expected scores 1 on every score (SQuAD 2.0: the
empty answer matches "no answer"); a refusal where an answer is expected scores
0 on every score; an answer where a refusal is expected keeps its claim scores
and scores 0 on EM/F1. A malformed or missing response scores 0 everywhere.
Refusal precision = correct refusals / refusals, recall = correct refusals /
expected refusals (1.0 when the denominator is 0: nothing to get wrong).

A case passes when its response is well formed, it refuses exactly when a
refusal is expected, and an answer meets the rubric (``rubric:``
grounded_precision, citation_coverage, citation_freshness) and breaks no
``must_not`` rule it can be checked against (``fabricate_citation``: an invalid
citation; ``answer_without_evidence``: an answer with no valid citation, or an
answer where a refusal is expected). Aggregates are means over cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from goldkeeper.config import GroundedParams, Settings
from goldkeeper.errors import EvalError
from goldkeeper.fileio import write_json
from goldkeeper.models import Analysis, Query
from goldkeeper.progress import SILENT, Progress
from goldkeeper.evals.judges import Judge, make_judge
from goldkeeper.evals.response import Citation, Response
from goldkeeper.evals.squad import exact_match, f1_score



# ---------------------------------------------------------------- evidence


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


# ---------------------------------------------------------------- cases


@dataclass
class CaseResult:
    """The scores of one query and why it failed (empty ``reasons`` = passed)."""

    query_id: str
    expected: str
    outcome: str  # answered | refused | malformed | missing
    passed: bool
    reasons: list[str]
    faithfulness: float
    citation_coverage: float
    citation_accuracy: float
    citation_freshness: float
    relevance: float
    exact_match: float
    f1: float
    claims: int = 0
    supported_claims: int = 0
    cited_claims: int = 0
    citations: int = 0
    valid_citations: int = 0
    accurate_citations: int = 0
    fresh_citations: int = 0
    oldest_evidence_age_days: float | None = None
    oldest_evidence_age_ratio: float = 0.0
    judge_scores: list[float] = field(default_factory=list)
    answer: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["judge_scores"] = [round(s, 4) for s in self.judge_scores]
        for key in ("faithfulness", "citation_coverage", "citation_accuracy", "citation_freshness", "relevance", "f1"):
            data[key] = round(data[key], 6)
        if self.oldest_evidence_age_days is not None:
            data["oldest_evidence_age_days"] = round(self.oldest_evidence_age_days, 3)
        data["oldest_evidence_age_ratio"] = round(self.oldest_evidence_age_ratio, 6)
        return data


def _all_scores(value: float) -> dict[str, float]:
    return dict.fromkeys(
        ("faithfulness", "citation_coverage", "citation_accuracy", "citation_freshness", "relevance", "exact_match", "f1"),
        value,
    )


@dataclass(frozen=True)
class Rubric:
    """The per-case thresholds (from params.yaml ``rubric:``)."""

    grounded_precision: float = 0.95
    citation_coverage: float = 0.95
    citation_freshness: float = 0.95


def score_failure(query: Query, outcome: str, reason: str) -> CaseResult:
    """A case without a usable response: malformed, missing or a failed batch."""
    return CaseResult(query.id, query.expected_behavior.behavior, outcome, False, [reason], **_all_scores(0.0))


def score_case(
    query: Query,
    response: Response,
    index: EvidenceIndex,
    judge: Judge,
    rubric: Rubric,
    *,
    as_of: datetime,
    max_age_days: float,
    relevance: float = 0.0,
) -> CaseResult:
    """Score one well-formed response (``relevance`` is computed by the caller, batched)."""
    behavior = query.expected_behavior
    expected = behavior.behavior
    if response.refused:
        if expected == "refuse":
            return CaseResult(query.id, expected, "refused", True, [], **_all_scores(1.0))
        return CaseResult(
            query.id, expected, "refused", False, ["refused, but the evidence exists: an answer was expected"],
            **_all_scores(0.0),
        )

    reasons: list[str] = []
    expected_chunks = {r.id for r in query.expected.chunks}
    expected_analyses = {r.id for r in query.expected.analyses}
    expected_chunk_docs = {index.chunks[c].analysis_id for c in expected_chunks if c in index.chunks}
    claims = response.claims
    supported = cited = n_citations = valid = accurate = fresh = 0
    ages: list[float] = []
    judge_scores: list[float] = []
    invalid_reasons: list[str] = []
    for ci, claim in enumerate(claims):
        evidence_texts: list[str] = []
        for ki, citation in enumerate(claim.citations):
            n_citations += 1
            resolved = resolve_citation(citation, behavior.citation_fields, index)
            if resolved.error is not None:
                invalid_reasons.append(f"claim {ci} citation {ki}: {resolved.error}")
                continue
            valid += 1
            evidence_texts.append(resolved.evidence)
            if expected_chunks and resolved.chunk_id is not None:
                accurate += resolved.chunk_id in expected_chunks
            else:
                accurate += resolved.analysis_id in expected_analyses or resolved.analysis_id in expected_chunk_docs
            age = (as_of - index.analyses[resolved.analysis_id].created_at).total_seconds() / 86400.0  # type: ignore[index]
            ages.append(age)
            fresh += age <= max_age_days
        if evidence_texts:
            cited += 1
            verdict = judge.judge(claim.text, "\n".join(evidence_texts))
            judge_scores.append(verdict.score)
            if verdict.supported:
                supported += 1
            else:
                reasons.append(f"claim {ci} not supported by its cited evidence ({judge.name} judge: {verdict.reason})")
        else:
            judge_scores.append(0.0)
            reasons.append(f"claim {ci} has no valid citation")
    reasons[:0] = invalid_reasons

    n_claims = len(claims)
    faithfulness = supported / n_claims if n_claims else 0.0
    coverage = cited / n_claims if n_claims else 0.0
    accuracy = accurate / n_citations if n_citations else 0.0
    freshness = fresh / valid if valid else 0.0
    oldest = max(ages) if ages else None
    if not n_claims:
        reasons.append("the answer has no claims (every answer must cite its evidence)")
    if expected == "refuse":
        reasons.insert(0, "answered, but a refusal was expected: the evidence is missing")
        em = f1 = 0.0
    elif query.reference_answers:
        em = exact_match(response.answer, query.reference_answers)
        f1 = f1_score(response.answer, query.reference_answers)
    else:
        em = f1 = 0.0
    if n_claims and faithfulness < rubric.grounded_precision:
        reasons.append(f"grounded precision {faithfulness:.2f} < rubric {rubric.grounded_precision:.2f}")
    if n_claims and coverage < rubric.citation_coverage:
        reasons.append(f"citation coverage {coverage:.2f} < rubric {rubric.citation_coverage:.2f}")
    if valid and freshness < rubric.citation_freshness:
        reasons.append(
            f"citation freshness {freshness:.2f} < rubric {rubric.citation_freshness:.2f} "
            f"(oldest cited evidence {oldest:.0f} days, max {max_age_days:.0f})"
        )
    if "fabricate_citation" in behavior.must_not and invalid_reasons:
        reasons.append("must_not fabricate_citation: a citation does not point to real, matching evidence")
    if "answer_without_evidence" in behavior.must_not and valid == 0:
        reasons.append("must_not answer_without_evidence: no valid citation")
    return CaseResult(
        query_id=query.id,
        expected=expected,
        outcome="answered",
        passed=not reasons,
        reasons=reasons,
        faithfulness=faithfulness,
        citation_coverage=coverage,
        citation_accuracy=accuracy,
        citation_freshness=freshness,
        relevance=min(1.0, max(0.0, relevance)),
        exact_match=em,
        f1=f1,
        claims=n_claims,
        supported_claims=supported,
        cited_claims=cited,
        citations=n_citations,
        valid_citations=valid,
        accurate_citations=accurate,
        fresh_citations=fresh,
        oldest_evidence_age_days=oldest,
        oldest_evidence_age_ratio=(oldest / max_age_days) if oldest is not None else 0.0,
        judge_scores=judge_scores,
        answer=response.answer,
    )


# ---------------------------------------------------------------- aggregate


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _ratio(num: int, den: int) -> float:
    """num / den, and 1.0 when den is 0 (nothing to get wrong)."""
    return num / den if den else 1.0


def aggregate(cases: Sequence[CaseResult], *, aging_warn_ratio: float, rubric: Rubric) -> dict[str, Any]:
    """The flat metrics of a run (means over cases; refusal precision/recall over refusals)."""
    refused = [c for c in cases if c.outcome == "refused"]
    expected_refusals = [c for c in cases if c.expected == "refuse"]
    correct_refusals = sum(1 for c in refused if c.expected == "refuse")
    answerable = [c for c in cases if c.expected == "answer"]
    unanswerable = expected_refusals
    answered = [c for c in cases if c.outcome == "answered"]
    metrics: dict[str, Any] = {
        "cases": len(cases),
        "answered": len(answered),
        "refused": len(refused),
        "malformed": sum(1 for c in cases if c.outcome == "malformed"),
        "missing": sum(1 for c in cases if c.outcome == "missing"),
        "expected_refusals": len(expected_refusals),
        "faithfulness": _mean([c.faithfulness for c in cases]),
        "citation_coverage": _mean([c.citation_coverage for c in cases]),
        "citation_accuracy": _mean([c.citation_accuracy for c in cases]),
        "citation_freshness": _mean([c.citation_freshness for c in cases]),
        "oldest_evidence_age_ratio": max((c.oldest_evidence_age_ratio for c in cases), default=0.0),
        "aging_pressure_cases": sum(1 for c in cases if c.oldest_evidence_age_ratio >= aging_warn_ratio),
        "relevance": _mean([c.relevance for c in cases]),
        "refusal_precision": _ratio(correct_refusals, len(refused)),
        "refusal_recall": _ratio(correct_refusals, len(expected_refusals)),
        "exact_match": _mean([c.exact_match for c in cases]),
        "f1": _mean([c.f1 for c in cases]),
        "answerable_exact_match": _mean([c.exact_match for c in answerable]),
        "answerable_f1": _mean([c.f1 for c in answerable]),
        "unanswerable_accuracy": _mean([float(c.outcome == "refused") for c in unanswerable]),
        "answered_faithfulness": _mean([c.faithfulness for c in answered]) if answered else 1.0,
        "pass_rate": _mean([float(c.passed) for c in cases]),
        "claims": sum(c.claims for c in cases),
        "citations": sum(c.citations for c in cases),
    }
    p, r = metrics["refusal_precision"], metrics["refusal_recall"]
    metrics["refusal_f1"] = 2 * p * r / (p + r) if p + r else 0.0
    metrics["grounded_precision"] = metrics["faithfulness"]
    metrics["rubric_met"] = int(
        metrics["grounded_precision"] >= rubric.grounded_precision
        and metrics["citation_coverage"] >= rubric.citation_coverage
        and metrics["citation_freshness"] >= rubric.citation_freshness
    )
    for key, value in metrics.items():
        if isinstance(value, float):
            if math.isnan(value):  # pragma: no cover - guarded by the rules above
                raise EvalError(f"metric {key} is NaN")
            metrics[key] = round(value, 6)
    return dict(sorted(metrics.items()))


# ---------------------------------------------------------------- run


@dataclass
class GroundedReport:
    """The result of ``eval grounded``: flat metrics for DVC, the cases, and run notes."""

    answerer: str
    dataset_version: str
    as_of: datetime
    metrics: dict[str, Any]
    cases: list[CaseResult]
    stray: list[str]
    warnings: list[str]

    def per_case_json(self) -> dict[str, Any]:
        return {
            "answerer": self.answerer,
            "dataset_version": self.dataset_version,
            "as_of": self.as_of.isoformat(),
            "metrics": self.metrics,
            "unmatched_responses": self.stray,
            "warnings": self.warnings,
            "cases": [c.to_json() for c in self.cases],
        }

    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]


def resolve_as_of(params: GroundedParams) -> datetime:
    return params.as_of if params.as_of is not None else datetime.now(UTC)


def score_answers(
    queries: Sequence[Query],
    answers: Any,
    index: EvidenceIndex,
    *,
    judge: Judge,
    rubric: Rubric,
    params: GroundedParams,
    embedder: Any | None,
    answerer_name: str = "",
    dataset_version: str = "",
) -> GroundedReport:
    """Score an :class:`~.answerers.AnswerSet` against the queries (the library entry point for scoring)."""
    as_of = resolve_as_of(params)
    answered = [q for q in queries if (r := answers.responses.get(q.id)) is not None and not r.refused]
    relevance: dict[str, float] = {}
    if answered and embedder is not None:
        prompts = embedder.embed_documents([q.text for q in answered])
        replies = embedder.embed_documents([answers.responses[q.id].answer or " " for q in answered])
        for q, a, b in zip(answered, prompts, replies, strict=True):
            relevance[q.id] = float((a * b).sum())
    cases: list[CaseResult] = []
    for query in queries:
        response = answers.responses.get(query.id)
        if response is not None:
            cases.append(
                score_case(
                    query, response, index, judge, rubric, as_of=as_of,
                    max_age_days=params.max_evidence_age_days, relevance=relevance.get(query.id, 0.0),
                )
            )
        elif query.id in answers.failures:
            outcome, reason = answers.failures[query.id]
            cases.append(score_failure(query, outcome, reason))
        else:
            cases.append(score_failure(query, "missing", "missing response: the answerer returned none for this query"))
    metrics = aggregate(cases, aging_warn_ratio=params.aging_warn_ratio, rubric=rubric)
    warnings = []
    if metrics["aging_pressure_cases"]:
        warnings.append(
            f"aging pressure: {metrics['aging_pressure_cases']} case(s) cite evidence at >= "
            f"{params.aging_warn_ratio:.0%} of the maximum age ({params.max_evidence_age_days:.0f} days); "
            f"oldest ratio {metrics['oldest_evidence_age_ratio']:.2f}"
        )
    if embedder is None and answered:
        warnings.append("no embedder: relevance scored 0")
    return GroundedReport(answerer_name, dataset_version, as_of, metrics, cases, list(answers.stray), warnings)


def run_grounded(
    settings: Settings,
    *,
    answerer: str | None = None,
    limit: int | None = None,
    progress: Progress = SILENT,
    embedder: Any | None = None,
    store_path: Path | None = None,
    database_url: str | None = None,
) -> GroundedReport:
    """Answer every query of the golden store with ``answerer`` and score the responses.

    Queries and evidence come from the golden store (``store_path``, default
    ``store.path``); the extractive answerer retrieves from the database
    (``database_url``, default the configured one or the embedded server).
    ``limit`` keeps the first N queries by id (for quick runs).
    """
    from goldkeeper.store import open_store
    from goldkeeper.evals.answerers import CachingEmbedder, make_answerer

    params = settings.grounded
    rubric_section = settings.rubric
    rubric = Rubric(
        rubric_section.grounded_precision, rubric_section.citation_coverage, rubric_section.citation_freshness
    )
    try:
        judge = make_judge(params.judge, params.judge_threshold)
    except ValueError as exc:
        from goldkeeper.errors import ConfigError

        raise ConfigError(f"params: grounded.judge: {exc}", key="grounded.judge") from exc
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    store = open_store(store_path if store_path is not None else settings.store_path)
    index = EvidenceIndex.from_analyses(store.analyses())
    queries = sorted(store.queries(), key=lambda q: q.id)
    if limit is not None:
        queries = queries[:limit]
    if not queries:
        raise EvalError(f"{settings.store_path}: the golden store has no queries to evaluate")
    spec = answerer or params.answerer
    if embedder is None:
        from goldkeeper.embed import load_embedder

        embedder = load_embedder(settings.embedding)
    embedder = CachingEmbedder(embedder)  # prompts are embedded once, for the answerer and for relevance
    impl = make_answerer(spec, settings=settings, params=params, index=index, embedder=embedder)
    answers = impl.answer(queries, progress=progress)
    return score_answers(
        queries, answers, index, judge=judge, rubric=rubric, params=params, embedder=embedder,
        answerer_name=spec, dataset_version=store.version,
    )


def write_outputs(report: GroundedReport, out: Path, per_case: Path) -> None:
    """Write the flat metrics (``out``) and the per-case results (``per_case``), each atomically."""
    write_json(out, report.metrics)
    write_json(per_case, report.per_case_json())


def summary_line(report: GroundedReport) -> str:
    m = report.metrics
    return (
        f"{m['cases']} queries with {report.answerer}: faithfulness {m['faithfulness']:.3f}, "
        f"citation coverage {m['citation_coverage']:.3f}, accuracy {m['citation_accuracy']:.3f}, "
        f"freshness {m['citation_freshness']:.3f}, refusal P/R {m['refusal_precision']:.3f}/{m['refusal_recall']:.3f}, "
        f"F1 {m['f1']:.3f}, pass rate {m['pass_rate']:.3f}"
    )


__all__ = [
    "write_outputs",
    "summary_line",
    "GroundedParams",
    "EvidenceChunk",
    "EvidenceDoc",
    "EvidenceIndex",
    "ResolvedCitation",
    "resolve_citation",
    "CaseResult",
    "Rubric",
    "score_case",
    "score_failure",
    "aggregate",
    "GroundedReport",
    "score_answers",
    "run_grounded",
]
