"""Every grounded score on hand-made cases with known answers (no database, no model)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from goldkeeper.config import GroundedParams
from goldkeeper.evals.grounded import (
    EvidenceIndex,
    Rubric,
    aggregate,
    resolve_citation,
    score_answers,
    score_case,
    score_failure,
)
from goldkeeper.evals.judges import LexicalJudge, content_tokens, make_judge
from goldkeeper.evals.response import Citation, Claim, Response
from goldkeeper.evals.squad import exact_match, f1_score, normalize_answer
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance

A1 = UUID("00000000-0000-0000-0000-00000000000a")
A2 = UUID("00000000-0000-0000-0000-00000000000b")
C1 = UUID("00000000-0000-0000-0000-0000000000c1")
C2 = UUID("00000000-0000-0000-0000-0000000000c2")
C3 = UUID("00000000-0000-0000-0000-0000000000c3")
URL1 = "https://en.wikipedia.org/wiki/Normans"
URL2 = "https://en.wikipedia.org/wiki/Oxygen"
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
MAX_AGE = 365.0


@pytest.fixture(scope="module")
def index() -> EvidenceIndex:
    return EvidenceIndex.from_analyses(
        [
            Analysis(
                id=A1,
                url=URL1,
                title="Normans",
                created_at=AS_OF - timedelta(days=100),
                chunks=[
                    Chunk(id=C1, chunk_index=0, content="The Normans gave their name to Normandy, a region in France."),
                    Chunk(id=C2, chunk_index=1, content="Rollo was the first ruler of Normandy in the 10th century."),
                ],
            ),
            Analysis(
                id=A2,
                url=URL2,
                title="Oxygen",
                created_at=AS_OF - timedelta(days=500),
                chunks=[Chunk(id=C3, chunk_index=0, content="Oxygen is a chemical element with symbol O.")],
            ),
        ]
    )


def answer_query(qid: str = "q1", refs: list[str] | None = None, fields: list[str] | None = None, must_not=()) -> Query:
    return Query(
        id=qid,
        text="In what country is Normandy located?",
        domain="history",
        expected=Expected(chunks=[Relevance(id=C1)], analyses=[Relevance(id=A1)]),
        reference_answers=refs if refs is not None else ["France"],
        expected_behavior=ExpectedBehavior(
            behavior="answer", citation_fields=fields or ["chunk_id", "source_url"], must_not=list(must_not)
        ),
    )


def refuse_query(qid: str = "q2") -> Query:
    return Query(
        id=qid,
        text="Who gave their name to Oxygen?",
        domain="science",
        expected_behavior=ExpectedBehavior(behavior="refuse"),
    )


def cite(chunk=C1, url=URL1, **extra) -> Citation:
    return Citation(chunk_id=chunk, source_url=url, **extra)


def answered(claims: list[Claim], answer: str = "France", qid: str = "q1") -> Response:
    return Response(query_id=qid, answer=answer, refused=False, claims=claims)


def score(query, response, index, rubric=None, relevance=0.5, judge=None):
    return score_case(
        query,
        response,
        index,
        judge or LexicalJudge(0.8),
        rubric or Rubric(),
        as_of=AS_OF,
        max_age_days=MAX_AGE,
        relevance=relevance,
    )


# ------------------------------------------------------------------ judge


def test_lexical_judge_scores_share_of_claim_content_words() -> None:
    judge = LexicalJudge(0.8)
    evidence = "The Normans gave their name to Normandy, a region in France."
    assert judge.judge("Normandy is a region in France.", evidence).score == 1.0
    # content words: normandy, region, germany -> 2 of 3 found
    verdict = judge.judge("Normandy is a region in Germany.", evidence)
    assert verdict.score == pytest.approx(2 / 3)
    assert not verdict.supported and "germany" in verdict.reason
    assert judge.judge("The the of a", evidence).supported is False
    assert content_tokens("Regions named") == ["region", "nam"]


def test_judge_threshold_is_inclusive_and_validated() -> None:
    evidence = "alpha beta gamma delta"
    assert LexicalJudge(0.75).judge("alpha beta gamma omega", evidence).supported
    assert not LexicalJudge(0.76).judge("alpha beta gamma omega", evidence).supported
    with pytest.raises(ValueError):
        make_judge("nli-unknown", 0.5)
    with pytest.raises(ValueError):
        LexicalJudge(1.5)


# ------------------------------------------------------------------ EM / F1


def test_squad_normalisation_em_and_f1() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("the France.", ["France"]) == 1.0
    assert exact_match("in France", ["France"]) == 0.0
    # pred tokens: in, france; ref: france -> P=1/2, R=1 -> F1=2/3
    assert f1_score("in France", ["France", "Paris"]) == pytest.approx(2 / 3)
    assert f1_score("", []) == 1.0 and exact_match("", []) == 1.0
    assert f1_score("Paris", ["France"]) == 0.0


def test_chinese_and_japanese_answers_are_scored_by_character() -> None:
    """No spaces between their words: each character is a token, CJK punctuation goes as ASCII's does."""
    # pred 東 京 で す, ref 東 京 -> P=2/4, R=1 -> F1=2/3 (was 0: one token each, nothing shared)
    assert f1_score("東京です", ["東京"]) == pytest.approx(2 / 3)
    assert exact_match("東京。", ["東京"]) == 1.0 and exact_match("「東京」", ["東京"]) == 1.0  # was 0
    assert exact_match("東京", ["東 京"]) == 1.0 and exact_match("北京", ["東京"]) == 0.0
    assert f1_score("北京市", ["北京"]) == pytest.approx(0.8)  # 2 of 3 / 2 of 2
    assert exact_match("ＡＢＣ！", ["ＡＢＣ"]) == 1.0  # fullwidth punctuation, as ASCII's
    assert normalize_answer("Rollo, 東京タワー・展望台。") == "rollo 東 京 タ ワ ー 展 望 台"
    assert normalize_answer("서울 특별시") == "서울 특별시"  # Korean has spaces: its words stay whole
    # what the official SQuAD script does is unchanged for text without these characters
    assert normalize_answer("The “Eiffel” Tower — a landmark") == "“eiffel” tower — landmark"


# ------------------------------------------------------------------ citations


def test_citation_validity_rules(index: EvidenceIndex) -> None:
    required = ["chunk_id", "source_url"]
    assert resolve_citation(cite(), required, index).error is None
    assert "missing source_url" in resolve_citation(Citation(chunk_id=C1), required, index).error
    unknown = UUID(int=99)
    assert "not in the dataset" in resolve_citation(cite(chunk=unknown), required, index).error
    assert "not the URL" in resolve_citation(cite(url=URL2), required, index).error
    assert "does not belong" in resolve_citation(cite(analysis_id=A2), required, index).error
    assert "names no analysis" in resolve_citation(cite(entity_id="Q42"), required, index).error
    assert resolve_citation(cite(entity_id=str(A1)), required, index).error is None
    assert "no evidence" in resolve_citation(Citation(source_url=URL1), ["source_url"], index).error
    early = cite(retrieved_at=AS_OF - timedelta(days=1000))
    assert "before the evidence existed" in resolve_citation(early, required, index).error
    whole = resolve_citation(Citation(analysis_id=A1), ["analysis_id"], index)
    assert whole.error is None and "Rollo" in whole.evidence and whole.chunk_id is None


# ------------------------------------------------------------------ per-case scores


def test_fully_grounded_answer_passes(index: EvidenceIndex) -> None:
    response = answered([Claim(text="Normandy is a region in France.", citations=[cite()])])
    case = score(answer_query(), response, index, relevance=0.42)
    assert case.passed and case.reasons == []
    assert (case.faithfulness, case.citation_coverage, case.citation_accuracy, case.citation_freshness) == (1, 1, 1, 1)
    assert case.exact_match == 1.0 and case.f1 == 1.0 and case.relevance == 0.42
    assert case.oldest_evidence_age_days == pytest.approx(100)
    assert case.oldest_evidence_age_ratio == pytest.approx(100 / 365)


def test_partially_supported_and_uncited_claims(index: EvidenceIndex) -> None:
    claims = [
        Claim(text="Normandy is a region in France.", citations=[cite()]),  # supported, accurate
        Claim(text="Rollo ruled Germany for centuries.", citations=[cite(chunk=C2)]),  # cited, unsupported
        Claim(text="Normans liked apples.", citations=[]),  # uncited
        Claim(text="Oxygen is a chemical element.", citations=[cite(chunk=C3, url=URL2)]),  # supported, wrong & stale
    ]
    case = score(answer_query(), answered(claims, answer="in France"), index)
    assert case.faithfulness == pytest.approx(2 / 4)
    assert case.citation_coverage == pytest.approx(3 / 4)
    assert case.citation_accuracy == pytest.approx(1 / 3)  # C1 expected; C2 and C3 are not
    assert case.citation_freshness == pytest.approx(2 / 3)  # C3's analysis is 500 days old
    assert case.oldest_evidence_age_ratio == pytest.approx(500 / 365)
    assert case.f1 == pytest.approx(2 / 3) and case.exact_match == 0.0
    assert not case.passed
    text = " | ".join(case.reasons)
    assert "claim 1 not supported" in text and "claim 2 has no valid citation" in text
    assert "grounded precision 0.50 < rubric 0.95" in text and "citation freshness 0.67" in text


def test_invalid_citation_counts_against_coverage_accuracy_and_must_not(index: EvidenceIndex) -> None:
    fake = Claim(text="Normandy is a region in France.", citations=[cite(url="https://fake.example/x")])
    case = score(answer_query(must_not=["fabricate_citation", "answer_without_evidence"]), answered([fake]), index)
    assert case.citation_coverage == 0.0 and case.faithfulness == 0.0 and case.citation_accuracy == 0.0
    assert case.citations == 1 and case.valid_citations == 0 and case.citation_freshness == 0.0
    assert any("must_not fabricate_citation" in r for r in case.reasons)
    assert any("must_not answer_without_evidence" in r for r in case.reasons)
    assert case.reasons[0].startswith("claim 0 citation 0: source_url")


def test_required_citation_fields_come_from_the_query(index: EvidenceIndex) -> None:
    query = answer_query(fields=["chunk_id", "source_url", "retrieved_at", "entity_id"])
    bare = answered([Claim(text="Normandy is a region in France.", citations=[cite()])])
    case = score(query, bare, index)
    assert case.citation_coverage == 0.0 and "missing retrieved_at, entity_id" in case.reasons[0]
    full = answered(
        [Claim(text="Normandy is a region in France.", citations=[cite(retrieved_at=AS_OF, entity_id=str(C1))])]
    )
    assert score(query, full, index).passed


def test_analysis_level_citation_is_accurate_for_expected_analysis(index: EvidenceIndex) -> None:
    query = answer_query(fields=["analysis_id"])
    claim = Claim(text="Rollo was the first ruler of Normandy.", citations=[Citation(analysis_id=A1)])
    response = answered([claim], answer="Rollo.")
    case = score(query, response, index)
    assert case.citation_accuracy == 1.0 and case.faithfulness == 1.0


def test_answer_without_claims_scores_zero(index: EvidenceIndex) -> None:
    case = score(answer_query(), answered([], answer="France"), index)
    assert case.faithfulness == case.citation_coverage == case.citation_accuracy == case.citation_freshness == 0.0
    assert case.exact_match == 1.0  # the answer text itself is still compared
    assert not case.passed and "no claims" in case.reasons[0]


def test_refusal_rules_never_nan(index: EvidenceIndex) -> None:
    refusal = Response(query_id="q2", refused=True)
    good = score(refuse_query(), refusal, index, relevance=0.0)
    assert good.passed and good.outcome == "refused"
    assert all(getattr(good, k) == 1.0 for k in ("faithfulness", "citation_coverage", "exact_match", "f1", "relevance"))
    bad = score(answer_query(), Response(query_id="q1", refused=True), index)
    assert not bad.passed and "an answer was expected" in bad.reasons[0]
    assert all(getattr(bad, k) == 0.0 for k in ("faithfulness", "citation_freshness", "exact_match", "f1"))
    # answering where a refusal is expected: claim scores stay honest, EM/F1 are 0, the case fails
    wrong = score(
        refuse_query(),
        answered([Claim(text="Oxygen is a chemical element.", citations=[cite(C3, URL2)])], answer="Oxygen", qid="q2"),
        index,
    )
    assert not wrong.passed and wrong.reasons[0].startswith("answered, but a refusal was expected")
    assert wrong.faithfulness == 1.0 and wrong.citation_accuracy == 0.0 and wrong.f1 == 0.0
    for case in (good, bad, wrong):
        assert not any(isinstance(v, float) and math.isnan(v) for v in case.to_json().values())


def test_freshness_window_and_rubric_thresholds(index: EvidenceIndex) -> None:
    response = answered([Claim(text="Normandy is a region in France.", citations=[cite()])])
    case = score_case(answer_query(), response, index, LexicalJudge(0.8), Rubric(), as_of=AS_OF, max_age_days=99.0)
    assert case.citation_freshness == 0.0 and not case.passed
    lenient = Rubric(grounded_precision=0.5, citation_coverage=0.5, citation_freshness=0.0)
    half = answered([Claim(text="Normandy is a region in France.", citations=[cite()]), Claim(text="Uncited words.")])
    assert score(answer_query(), half, index, rubric=Rubric()).passed is False
    assert score(answer_query(), half, index, rubric=lenient).reasons == ["claim 1 has no valid citation"]


# ------------------------------------------------------------------ aggregate


def test_aggregate_refusal_precision_recall_and_means(index: EvidenceIndex) -> None:
    grounded = answered([Claim(text="Normandy is a region in France.", citations=[cite()])])
    cases = [
        score(answer_query("a1"), grounded.model_copy(update={"query_id": "a1"}), index, relevance=0.8),  # answered ok
        score(answer_query("a2"), Response(query_id="a2", refused=True), index),  # wrong refusal
        score(refuse_query("r1"), Response(query_id="r1", refused=True), index),  # right refusal
        score(refuse_query("r2"), grounded.model_copy(update={"query_id": "r2"}), index, relevance=0.6),  # missed
        score_failure(refuse_query("r3"), "malformed", "malformed response: not valid JSON"),
    ]
    m = aggregate(cases, aging_warn_ratio=0.25, rubric=Rubric())
    assert m["cases"] == 5 and m["refused"] == 2 and m["answered"] == 2 and m["malformed"] == 1
    assert m["refusal_precision"] == 0.5  # r1 right, a2 wrong
    assert m["refusal_recall"] == pytest.approx(1 / 3)  # r1 of r1, r2, r3
    assert m["refusal_f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3), abs=1e-6)
    assert m["pass_rate"] == pytest.approx(2 / 5)
    # faithfulness per case: 1, 0, 1, 1, 0
    assert m["faithfulness"] == m["grounded_precision"] == pytest.approx(3 / 5)
    # accuracy: a1 1, a2 0, r1 1, r2 0 (no expected evidence), r3 0
    assert m["citation_accuracy"] == pytest.approx(2 / 5)
    assert m["relevance"] == pytest.approx((0.8 + 0 + 1 + 0.6 + 0) / 5)
    assert m["exact_match"] == pytest.approx(2 / 5) and m["answerable_exact_match"] == 0.5
    assert m["unanswerable_accuracy"] == pytest.approx(1 / 3)
    assert m["aging_pressure_cases"] == 2 and m["oldest_evidence_age_ratio"] == pytest.approx(100 / 365, abs=1e-6)
    assert m["rubric_met"] == 0


def test_aggregate_without_refusals_is_defined() -> None:
    m = aggregate([], aging_warn_ratio=0.8, rubric=Rubric())
    assert m["refusal_precision"] == 1.0 and m["refusal_recall"] == 1.0 and m["pass_rate"] == 0.0
    assert not any(isinstance(v, float) and math.isnan(v) for v in m.values())


def test_score_answers_reports_missing_failed_and_stray(index: EvidenceIndex) -> None:
    from goldkeeper.evals.answerers import AnswerSet

    answers = AnswerSet()
    answers.responses["q1"] = answered([Claim(text="Normandy is a region in France.", citations=[cite()])])
    answers.fail("q2", "answerer command exited with status 3 on batch 1 (2 prompts)")
    answers.stray.append("x line 4: unknown query id 'zzz'")
    params = GroundedParams(as_of=AS_OF, max_evidence_age_days=MAX_AGE, aging_warn_ratio=0.2)
    report = score_answers(
        [answer_query(), refuse_query(), refuse_query("q3")],
        answers,
        index,
        judge=LexicalJudge(0.8),
        rubric=Rubric(),
        params=params,
        embedder=None,
        answerer_name="t",
    )
    by_id = {c.query_id: c for c in report.cases}
    assert by_id["q1"].passed
    assert by_id["q2"].outcome == "malformed" and "status 3" in by_id["q2"].reasons[0]
    assert by_id["q3"].outcome == "missing" and by_id["q3"].reasons == [
        "missing response: the answerer returned none for this query"
    ]
    assert report.metrics["missing"] == 1 and report.metrics["malformed"] == 1
    assert report.per_case_json()["unmatched_responses"] == ["x line 4: unknown query id 'zzz'"]
    assert any("aging pressure" in w for w in report.warnings)
    assert any("no embedder" in w for w in report.warnings)


def test_chunk_citation_is_accurate_when_the_query_lists_only_analyses(index: EvidenceIndex) -> None:
    query = answer_query().model_copy(update={"expected": Expected(analyses=[Relevance(id=A1)])})
    claims = [
        Claim(text="Rollo was the first ruler of Normandy.", citations=[cite(chunk=C2)]),
        Claim(text="Oxygen is a chemical element.", citations=[cite(chunk=C3, url=URL2)]),
    ]
    assert score(query, answered(claims), index).citation_accuracy == 0.5


def test_relevance_is_the_embedding_cosine_of_answer_and_prompt(index: EvidenceIndex) -> None:
    from goldkeeper.config import EmbeddingParams
    from goldkeeper.embed import load_embedder
    from goldkeeper.evals.answerers import AnswerSet

    claim = Claim(text="Normandy is a region in France.", citations=[cite()])
    same, other = answer_query("same"), answer_query("other")
    answers = AnswerSet()
    answers.responses["same"] = answered([claim], answer=same.text, qid="same")  # the prompt itself: cosine 1
    answers.responses["other"] = answered([claim], answer="Photosynthesis converts light into sugar.", qid="other")
    report = score_answers(
        [same, other],
        answers,
        index,
        judge=LexicalJudge(0.8),
        rubric=Rubric(),
        params=GroundedParams(as_of=AS_OF),
        embedder=load_embedder(EmbeddingParams()),
    )
    by_id = {c.query_id: c for c in report.cases}
    assert by_id["same"].relevance == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= by_id["other"].relevance < 0.3
    assert report.metrics["relevance"] == pytest.approx(
        (by_id["same"].relevance + by_id["other"].relevance) / 2, abs=1e-6
    )


def test_evidence_dated_after_as_of_is_named_with_the_key_to_change(index: EvidenceIndex) -> None:
    """A new project's params.yaml pins grounded.as_of; documents written after it were counted fresh at a
    negative age without a word (freshness never aged them). The run now warns and names the key to move."""
    from goldkeeper.evals.answerers import AnswerSet

    answers = AnswerSet()
    answers.responses["q1"] = answered([Claim(text="Normandy is a region in France.", citations=[cite()])])

    def warnings(as_of: datetime) -> list[str]:
        params = GroundedParams(as_of=as_of, max_evidence_age_days=MAX_AGE)
        return score_answers(
            [answer_query()], answers, index, judge=LexicalJudge(0.8), rubric=Rubric(), params=params, embedder=None
        ).warnings

    early = AS_OF - timedelta(days=300)  # after A2 (500 days before AS_OF), before A1 (100 days before)
    assert "1 of 2 analyses are dated after grounded.as_of 2025-03-07T00:00:00Z (the newest: 2025-09-23T00:00:00Z)" in (
        " ".join(warnings(early))
    )
    assert any("set grounded.as_of in params.yaml (or --as-of)" in w for w in warnings(early))
    assert not any("dated after grounded.as_of" in w for w in warnings(AS_OF))
