"""Score one case of the grounded eval: a query and the answerer's response, checked against the evidence.

Every score is a number in [0, 1], never NaN. For an answer (``refused``
false) with claims ``C`` and citations (a citation is *valid* as
:func:`~goldkeeper.evals.evidence.resolve_citation` defines it):

- faithfulness = grounded precision = |claims supported by the text of their
  valid citations (the :class:`~goldkeeper.evals.judges.Judge` decides)| / |C|;
- citation coverage = |claims with at least one valid citation| / |C|;
- citation accuracy = |citations pointing to expected evidence| / |citations|
  (a cited chunk must be an expected chunk when the query lists chunks; a citation
  of a whole analysis, or of a chunk when the query lists only analyses, counts
  when that analysis is expected or holds an expected chunk);
- citation freshness = |valid citations whose analysis is at most
  ``max_evidence_age_days`` old at ``as_of``| / |valid citations|; the oldest
  age ratio = oldest cited age / max age;
- relevance = cosine similarity of the answer and the prompt embeddings
  (computed by the caller, batched), clipped to [0, 1];
- exact match and F1 against the reference answers (:mod:`goldkeeper.evals.squad`).

An answer with no claims scores 0 on the claim scores. Refusal rules: a
refusal where a refusal is expected scores 1 on every score (SQuAD 2.0: the
empty answer matches "no answer"); a refusal where an answer is expected scores
0 on every score; an answer where a refusal is expected keeps its claim scores
and scores 0 on EM/F1. A malformed or missing response scores 0 everywhere
(:func:`score_failure`).

A case passes when its response is well formed, it refuses exactly when a
refusal is expected, and an answer meets the rubric (``rubric:``
grounded_precision, citation_coverage, citation_freshness) and breaks no
``must_not`` rule it can be checked against (``fabricate_citation``: an invalid
citation; ``answer_without_evidence``: an answer with no valid citation, or an
answer where a refusal is expected).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from goldkeeper.evals.evidence import EvidenceIndex, resolve_citation
from goldkeeper.evals.judges import Judge
from goldkeeper.evals.response import Response
from goldkeeper.evals.squad import exact_match, f1_score
from goldkeeper.models import Query


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


__all__ = ["CaseResult", "Rubric", "score_case", "score_failure"]
