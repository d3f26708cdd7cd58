"""Answer coverage (issue 14 point 1): every statement of the answer must be carried by a declared claim."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from goldkeeper.config import GroundedParams
from goldkeeper.evals.answerers import AnswerSet
from goldkeeper.evals.grounded import EvidenceIndex, Rubric, score_answers, score_case
from goldkeeper.evals.grounded.scoring import answer_statements
from goldkeeper.evals.judges import AlignedJudge, LexicalJudge
from goldkeeper.evals.response import Citation, Claim, Response
from goldkeeper.models import Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import open_store

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
VERBATIM = (
    "The Normans (Norman: Nourmands; French: Normands; Latin: Normanni) were the people who in the 10th and 11th "
    "centuries gave their name to Normandy, a region in France."
)


@pytest.fixture(scope="module")
def golden() -> tuple[EvidenceIndex, Query, Claim]:
    store = open_store(GOLDEN)
    index = EvidenceIndex.from_analyses(store.analyses())
    chunk = next(c for c in index.chunks.values() if c.content.startswith(VERBATIM))
    doc = index.analyses[chunk.analysis_id]
    query = Query(
        id="normans",
        text="In what country is Normandy located?",
        domain="history",
        expected=Expected(chunks=[Relevance(id=chunk.id)]),
        reference_answers=["France"],
        expected_behavior=ExpectedBehavior(behavior="answer", citation_fields=["chunk_id", "source_url"]),
    )
    claim = Claim(text=VERBATIM, citations=[Citation(chunk_id=chunk.id, source_url=doc.url)])
    return index, query, claim


def score(golden, answer: str, judge=None):
    index, query, claim = golden
    response = Response(query_id=query.id, answer=answer, refused=False, claims=[claim])
    return score_case(query, response, index, judge or AlignedJudge(), Rubric(), as_of=AS_OF, max_age_days=3650)


@pytest.mark.parametrize("judge", [AlignedJudge(), LexicalJudge()], ids=["aligned", "lexical"])
def test_the_issue_example_fails_whatever_the_judge(golden, judge) -> None:
    case = score(golden, "Charlemagne ruled it; the Normans were Buddhists.", judge)
    assert case.claims == 1 and case.supported_claims == 1  # the one declared claim is verbatim and supported
    assert case.answer_statements == 2 and case.uncovered_statements == 2
    assert case.answer_coverage == 0.0
    assert case.faithfulness == pytest.approx(1 / 3)  # 1 supported of 1 claim + 2 undeclared statements
    assert not case.passed
    assert any("answer statement 0 is not covered" in r and "Charlemagne" in r for r in case.reasons)
    assert any("answer statement 1 is not covered" in r and "Buddhists" in r for r in case.reasons)


def test_an_answer_that_says_what_its_claim_says_passes(golden) -> None:
    for answer in (VERBATIM, "France.", "Normandy is a region in France."):
        case = score(golden, answer)
        assert case.passed, (answer, case.reasons)
        assert case.answer_coverage == 1.0 and case.faithfulness == 1.0


def test_one_extra_sentence_halves_coverage_and_fails(golden) -> None:
    case = score(golden, "Normandy is a region in France. It was founded by Charlemagne in 1066.")
    assert case.answer_statements == 2 and case.uncovered_statements == 1
    assert case.answer_coverage == 0.5 and case.faithfulness == pytest.approx(1 / 2)
    assert not case.passed


def test_a_contradicting_statement_is_not_covered(golden) -> None:
    case = score(golden, "The Normans did not give their name to Normandy.")
    assert case.answer_coverage == 0.0 and not case.passed
    assert "negation" in " ".join(case.reasons)


def test_statements_split_on_sentences_and_semicolons() -> None:
    assert answer_statements("Charlemagne ruled it; the Normans were Buddhists.") == [
        "Charlemagne ruled it;",
        "the Normans were Buddhists.",
    ]
    assert answer_statements("") == [] and answer_statements(" . ; the") == []


def test_score_answers_batches_the_judge_and_reports_coverage(golden) -> None:
    index, query, claim = golden
    calls: list[int] = []

    class CountingJudge(AlignedJudge):
        def judge_many(self, pairs):
            calls.append(len(pairs))
            return super().judge_many(pairs)

        def judge(self, claim_text, evidence):  # only through judge_many in score_answers
            if not calls:
                raise AssertionError("judged one pair at a time before the batch")
            return super().judge(claim_text, evidence)

    answers = AnswerSet()
    answers.responses[query.id] = Response(
        query_id=query.id, answer="Charlemagne ruled it; the Normans were Buddhists.", refused=False, claims=[claim]
    )
    report = score_answers(
        [query],
        answers,
        index,
        judge=CountingJudge(),
        rubric=Rubric(),
        params=GroundedParams(as_of=AS_OF),
        embedder=None,
    )
    assert calls == [3]  # one claim + two statements, one call
    assert report.metrics["answer_coverage"] == 0.0 and report.metrics["pass_rate"] == 0.0
    assert report.metrics["judge"] == "aligned@0.65"
