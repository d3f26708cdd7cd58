"""Score one case of the grounded eval: a query and the answerer's response, checked against the evidence.

Every score is a number in [0, 1], never NaN. For an answer (``refused``
false) with claims ``C`` and citations (a citation is *valid* as
:func:`~goldkeeper.evals.evidence.resolve_citation` defines it):

- answer coverage = |answer statements covered by a claim| / |statements|:
  the answer text is split into statements (sentences, and clauses after
  ``;``; those without a content word skipped), and a statement is covered
  when the judge finds it supported by the claims' texts (one claim's
  sentence must carry it). 1.0 for an answer with no statement. An uncovered
  statement is an unsupported claim the system did not declare;
- faithfulness = grounded precision = |claims supported by the text of their
  valid citations (the :class:`~goldkeeper.evals.judges.Judge` decides)| /
  (|C| + |uncovered statements|);
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
refusal is expected, every statement of an answer is covered by a claim, and
an answer meets the rubric (``rubric:``
grounded_precision, citation_coverage, citation_freshness) and breaks no
``must_not`` rule (``fabricate_citation``: an invalid citation;
``answer_without_evidence``: an answer with no valid citation, or an answer
where a refusal is expected; any other rule fails the case as unknown, and
``verify`` rejects it: no rule is accepted unchecked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from goldkeeper.evals.evidence import EvidenceIndex, ResolvedCitation, resolve_citation
from goldkeeper.evals.judges import Judge, content_tokens, split_sentences
from goldkeeper.evals.response import Claim, Response
from goldkeeper.evals.squad import exact_match, f1_score
from goldkeeper.models import MUST_NOT_RULES, Query

_SECONDS_PER_DAY = 86400.0


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
    answer_coverage: float = 0.0
    answer_statements: int = 0
    uncovered_statements: int = 0
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
        for key in (
            "faithfulness",
            "citation_coverage",
            "citation_accuracy",
            "citation_freshness",
            "relevance",
            "f1",
            "answer_coverage",
        ):
            data[key] = round(data[key], 6)
        if self.oldest_evidence_age_days is not None:
            data["oldest_evidence_age_days"] = round(self.oldest_evidence_age_days, 3)
        data["oldest_evidence_age_ratio"] = round(self.oldest_evidence_age_ratio, 6)
        return data


class _Scores(TypedDict):
    faithfulness: float
    citation_coverage: float
    citation_accuracy: float
    citation_freshness: float
    relevance: float
    exact_match: float
    f1: float
    answer_coverage: float


def _all_scores(value: float) -> _Scores:
    """Every score of a case at ``value`` (1 for a correct refusal, 0 for a wrong one or no usable response)."""
    return _Scores(
        faithfulness=value,
        citation_coverage=value,
        citation_accuracy=value,
        citation_freshness=value,
        relevance=value,
        exact_match=value,
        f1=value,
        answer_coverage=value,
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


# ---------------------------------------------------------------- one answer's claims


@dataclass(frozen=True)
class _CaseEvidence:
    """What the claims of one case are checked against: the evidence, the judge, the query's expectations."""

    index: EvidenceIndex
    judge: Judge
    required_fields: Sequence[str]
    expected_chunks: set[UUID]
    #: analyses a citation of a whole analysis may point to: the expected ones and those holding an expected chunk.
    expected_analyses: set[UUID]
    as_of: datetime
    max_age_days: float

    @classmethod
    def for_query(
        cls, query: Query, index: EvidenceIndex, judge: Judge, *, as_of: datetime, max_age_days: float
    ) -> _CaseEvidence:
        chunks = {r.id for r in query.expected.chunks}
        analyses = {r.id for r in query.expected.analyses}
        analyses |= {index.chunks[c].analysis_id for c in chunks if c in index.chunks}
        return cls(index, judge, query.expected_behavior.citation_fields, chunks, analyses, as_of, max_age_days)

    def is_expected(self, cited: ResolvedCitation) -> bool:
        """Whether a valid citation points to expected evidence (the chunk itself when chunks are listed)."""
        if self.expected_chunks and cited.chunk_id is not None:
            return cited.chunk_id in self.expected_chunks
        return cited.analysis_id in self.expected_analyses

    def age_days(self, cited: ResolvedCitation) -> float:
        """How old the cited analysis is at ``as_of``, in days."""
        created_at = self.index.analyses[cited.analysis_id].created_at  # type: ignore[index]
        return (self.as_of - created_at).total_seconds() / _SECONDS_PER_DAY


@dataclass
class _ClaimTally:
    """Counts over an answer's claims and citations, and the reasons for failure met on the way."""

    claims: int
    uncovered: int = 0
    supported: int = 0
    cited: int = 0
    citations: int = 0
    valid: int = 0
    accurate: int = 0
    fresh: int = 0
    ages: list[float] = field(default_factory=list)
    judge_scores: list[float] = field(default_factory=list)
    citation_errors: list[str] = field(default_factory=list)
    claim_failures: list[str] = field(default_factory=list)

    @property
    def faithfulness(self) -> float:
        said = self.claims + self.uncovered
        return self.supported / said if said else 0.0

    @property
    def coverage(self) -> float:
        return self.cited / self.claims if self.claims else 0.0

    @property
    def accuracy(self) -> float:
        return self.accurate / self.citations if self.citations else 0.0

    @property
    def freshness(self) -> float:
        return self.fresh / self.valid if self.valid else 0.0

    @property
    def oldest(self) -> float | None:
        return max(self.ages) if self.ages else None


def _check_citations(number: int, claim: Claim, evidence: _CaseEvidence, tally: _ClaimTally) -> list[str]:
    """Resolve each citation of claim ``number``; count the valid, accurate and fresh ones; their evidence texts."""
    texts: list[str] = []
    for position, citation in enumerate(claim.citations):
        tally.citations += 1
        cited = resolve_citation(citation, evidence.required_fields, evidence.index)
        if cited.error is not None:
            tally.citation_errors.append(f"claim {number} citation {position}: {cited.error}")
            continue
        tally.valid += 1
        texts.append(cited.evidence)
        tally.accurate += evidence.is_expected(cited)
        age = evidence.age_days(cited)
        tally.ages.append(age)
        tally.fresh += age <= evidence.max_age_days
    return texts


def _judge_claim(number: int, claim: Claim, texts: list[str], judge: Judge, tally: _ClaimTally) -> None:
    """Ask the judge whether the claim's valid evidence supports it (a claim with none is unsupported)."""
    if not texts:
        tally.judge_scores.append(0.0)
        tally.claim_failures.append(f"claim {number} has no valid citation")
        return
    tally.cited += 1
    verdict = judge.judge(claim.text, "\n".join(texts))
    tally.judge_scores.append(verdict.score)
    if verdict.supported:
        tally.supported += 1
    else:
        tally.claim_failures.append(
            f"claim {number} not supported by its cited evidence ({judge.name} judge: {verdict.reason})"
        )


def answer_statements(answer: str) -> list[str]:
    """The statements of an answer: sentences and ``;`` clauses with a content word (a number or 2+ letters)."""
    return [
        s for s in split_sentences(answer, clauses=True) if any(len(t) > 1 or t.isdigit() for t in content_tokens(s))
    ]


def _check_answer(response: Response, judge: Judge) -> tuple[int, list[str]]:
    """(statements, reasons for each statement no claim covers)."""
    statements = answer_statements(response.answer)
    claims = "\n".join(c.text for c in response.claims)
    reasons = []
    for number, statement in enumerate(statements):
        verdict = judge.judge(statement, claims) if claims.strip() else None
        if verdict is None or not verdict.supported:
            why = f" ({judge.name} judge: {verdict.reason})" if verdict is not None and verdict.reason else ""
            reasons.append(f"answer statement {number} is not covered by a claim: {statement[:120]!r}{why}")
    return len(statements), reasons


def _tally_claims(response: Response, evidence: _CaseEvidence) -> _ClaimTally:
    tally = _ClaimTally(claims=len(response.claims))
    for number, claim in enumerate(response.claims):
        texts = _check_citations(number, claim, evidence, tally)
        _judge_claim(number, claim, texts, evidence.judge, tally)
    return tally


# ---------------------------------------------------------------- reasons and scores


def _claim_reasons(expected: str, tally: _ClaimTally) -> list[str]:
    """The wrong outcome first, then invalid citations, then unsupported or uncited claims."""
    reasons = ["answered, but a refusal was expected: the evidence is missing"] if expected == "refuse" else []
    reasons += tally.citation_errors + tally.claim_failures
    if not tally.claims:
        reasons.append("the answer has no claims (every answer must cite its evidence)")
    return reasons


def _rubric_reasons(tally: _ClaimTally, rubric: Rubric, max_age_days: float) -> list[str]:
    reasons = []
    if tally.claims and tally.faithfulness < rubric.grounded_precision:
        reasons.append(f"grounded precision {tally.faithfulness:.2f} < rubric {rubric.grounded_precision:.2f}")
    if tally.claims and tally.coverage < rubric.citation_coverage:
        reasons.append(f"citation coverage {tally.coverage:.2f} < rubric {rubric.citation_coverage:.2f}")
    if tally.valid and tally.freshness < rubric.citation_freshness:
        reasons.append(
            f"citation freshness {tally.freshness:.2f} < rubric {rubric.citation_freshness:.2f} "
            f"(oldest cited evidence {tally.oldest:.0f} days, max {max_age_days:.0f})"
        )
    return reasons


def _must_not_reasons(must_not: Sequence[str], tally: _ClaimTally) -> list[str]:
    reasons = [
        f"must_not {rule}: unknown rule, cannot be checked (verify rejects it)"
        for rule in must_not
        if rule not in MUST_NOT_RULES
    ]
    if "fabricate_citation" in must_not and tally.citation_errors:
        reasons.append("must_not fabricate_citation: a citation does not point to real, matching evidence")
    if "answer_without_evidence" in must_not and tally.valid == 0:
        reasons.append("must_not answer_without_evidence: no valid citation")
    return reasons


def _reference_scores(query: Query, answer: str) -> tuple[float, float]:
    """Exact match and F1 against the reference answers; 0 when a refusal was expected or there are none."""
    if query.expected_behavior.behavior == "refuse" or not query.reference_answers:
        return 0.0, 0.0
    return exact_match(answer, query.reference_answers), f1_score(answer, query.reference_answers)


def _score_refusal(query: Query) -> CaseResult:
    expected = query.expected_behavior.behavior
    if expected == "refuse":
        return CaseResult(query.id, expected, "refused", True, [], **_all_scores(1.0))
    return CaseResult(
        query.id,
        expected,
        "refused",
        False,
        ["refused, but the evidence exists: an answer was expected"],
        **_all_scores(0.0),
    )


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
    if response.refused:
        return _score_refusal(query)
    behavior = query.expected_behavior
    evidence = _CaseEvidence.for_query(query, index, judge, as_of=as_of, max_age_days=max_age_days)
    tally = _tally_claims(response, evidence)
    statements, uncovered = _check_answer(response, judge)
    tally.uncovered = len(uncovered)
    reasons = [
        *_claim_reasons(behavior.behavior, tally),
        *uncovered,
        *_rubric_reasons(tally, rubric, max_age_days),
        *_must_not_reasons(behavior.must_not, tally),
    ]
    em, f1 = _reference_scores(query, response.answer)
    return _answered(query, response, tally, reasons, (em, f1, relevance), statements, max_age_days)


def _answered(
    query: Query,
    response: Response,
    tally: _ClaimTally,
    reasons: list[str],
    scores: tuple[float, float, float],
    statements: int,
    max_age_days: float,
) -> CaseResult:
    em, f1, relevance = scores
    oldest = tally.oldest
    return CaseResult(
        query_id=query.id,
        expected=query.expected_behavior.behavior,
        outcome="answered",
        passed=not reasons,
        reasons=reasons,
        faithfulness=tally.faithfulness,
        citation_coverage=tally.coverage,
        citation_accuracy=tally.accuracy,
        citation_freshness=tally.freshness,
        relevance=min(1.0, max(0.0, relevance)),
        exact_match=em,
        f1=f1,
        answer_coverage=(statements - tally.uncovered) / statements if statements else 1.0,
        answer_statements=statements,
        uncovered_statements=tally.uncovered,
        claims=tally.claims,
        supported_claims=tally.supported,
        cited_claims=tally.cited,
        citations=tally.citations,
        valid_citations=tally.valid,
        accurate_citations=tally.accurate,
        fresh_citations=tally.fresh,
        oldest_evidence_age_days=oldest,
        oldest_evidence_age_ratio=(oldest / max_age_days) if oldest is not None else 0.0,
        judge_scores=tally.judge_scores,
        answer=response.answer,
    )


__all__ = ["CaseResult", "Rubric", "answer_statements", "score_case", "score_failure"]
