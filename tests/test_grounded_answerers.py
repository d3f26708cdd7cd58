"""Answerers and every malformed-response path: responses:FILE, command:PROGRAM, extractive (no database)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from goldkeeper.config import GroundedParams
from goldkeeper.errors import EvalError, UsageError
from goldkeeper.evals.answerers import (
    AnswerSet,
    CommandAnswerer,
    ExtractiveAnswerer,
    Hit,
    ResponsesFileAnswerer,
    prompt_json,
    split_sentences,
)
from goldkeeper.evals.grounded import Rubric, score_answers
from goldkeeper.evals.judges import LexicalJudge
from goldkeeper.evals.response import parse_response_line, response_json_schema
from test_grounded_scores import AS_OF, C1, C2, C3, URL1, answer_query, index, refuse_query  # noqa: F401

SCRIPT = Path(__file__).parent / "data" / "answerers" / "scripted.py"
GOOD = {
    "query_id": "q1",
    "answer": "France",
    "refused": False,
    "claims": [{"text": "Normandy is a region in France.", "citations": [{"chunk_id": str(C1), "source_url": URL1}]}],
}


def line(obj) -> str:
    return json.dumps(obj)


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "query_id", "message"),
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "expected a JSON object, got list"),
        (line({"query_id": "q1", "answer": "x"}), "q1", "field refused: Field required"),
        (line({"query_id": "q1", "refused": "no"}), "q1", "field refused: Input should be a valid boolean"),
        (
            line({"query_id": "q1", "refused": False, "claims": [{"text": "t", "citations": [{"chunk_id": "nope"}]}]}),
            "q1",
            "field claims.0.citations.0.chunk_id",
        ),
        (line({"query_id": "q1", "refused": False, "claims": "all of them"}), "q1", "field claims"),
        (line({"query_id": "q1", "refused": True, "confidence": 0.3}), "q1", "field confidence: Extra inputs"),
        (line({"query_id": 7, "refused": True}), None, "field query_id: Input should be a valid string"),
        (line({"refused": True}), None, "field query_id: Field required"),
        (
            line({**GOOD, "claims": [{"text": "t", "citations": [{"retrieved_at": "2026-01-01T00:00:00"}]}]}),
            "q1",
            "timezone",
        ),
    ],
)
def test_malformed_lines_give_a_reason_never_an_exception(text: str, query_id, message: str) -> None:
    parsed = parse_response_line(text)
    assert parsed.response is None and parsed.query_id == query_id
    assert parsed.error.startswith("malformed response") and message in parsed.error


def test_valid_line_and_published_schema_agree() -> None:
    parsed = parse_response_line(line(GOOD))
    assert parsed.error is None and parsed.response.claims[0].citations[0].chunk_id == C1
    schema = response_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(GOOD, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"query_id": "q1", "refused": "no"}, schema)
    assert set(schema["$defs"]["Citation"]["properties"]) == {
        "chunk_id",
        "analysis_id",
        "source_url",
        "retrieved_at",
        "entity_id",
        "property_path",
    }


def test_collect_unknown_duplicate_and_stray_lines() -> None:
    answers = AnswerSet()
    lines = [
        line(GOOD),
        "",
        "garbage",
        line({"query_id": "zzz", "refused": True}),
        line({"query_id": "q2", "refused": True}),
        line({"query_id": "q2", "refused": False}),
        line({"query_id": "q3", "refused": 1}),
    ]
    answers.collect(lines, {"q1", "q2", "q3"}, "out.jsonl")
    assert set(answers.responses) == {"q1"}
    assert answers.failures["q2"] == ("malformed", "duplicate response: out.jsonl lines 5 and 6 both answer this query")
    assert answers.failures["q3"][1].startswith("out.jsonl line 7: malformed response: field refused")
    assert answers.stray[0].startswith("out.jsonl line 3: malformed response: not valid JSON")
    assert answers.stray[1] == "out.jsonl line 4: unknown query id 'zzz'"


def test_collect_blames_the_query_of_a_line_that_is_not_json() -> None:
    """A line naming a query but not parsing (NaN, bad bytes, a BOM) fails that query, not "missing response"."""
    answers = AnswerSet()
    lines = [
        b"\xef\xbb\xbf" + line({"query_id": "q1", "refused": True}).encode(),
        '{"query_id": "q2", "refused": true, "claims": [], "confidence": NaN}',
        b'{"query_id": "q3", "answer": "caf\xe9", "refused": false}',
    ]
    answers.collect(lines, {"q1", "q2", "q3"}, "out.jsonl")
    assert set(answers.responses) == {"q1"} and answers.stray == []
    outcome, reason = answers.failures["q2"]
    assert outcome == "malformed" and reason.startswith("out.jsonl line 2: malformed response: not valid JSON")
    assert "NaN" in reason and "null" in reason
    assert "not UTF-8" in answers.failures["q3"][1] and "byte offset 33" in answers.failures["q3"][1]


def test_collect_query_id_in_another_case_names_the_query() -> None:
    answers = AnswerSet()
    answers.collect([line({"query_id": "Q1", "refused": True})], {"q1", "q2"}, "out.jsonl")
    assert answers.failures["q1"] == (
        "malformed",
        "out.jsonl line 1: query id 'Q1' differs from this query's id 'q1' in case only: ids are case-sensitive, "
        "write 'q1'",
    )
    assert answers.stray == ["out.jsonl line 1: unknown query id 'Q1' (query 'q1' in another case)"]
    answered = AnswerSet()  # the query answered under its own id as well: that answer counts
    answered.collect([line({"query_id": "Q1", "refused": True}), line(GOOD)], {"q1"}, "out.jsonl")
    assert set(answered.responses) == {"q1"} and answered.failures == {}


# ------------------------------------------------------------------ responses:FILE


def test_responses_file_scored_with_every_failure_kind(tmp_path: Path, index) -> None:  # noqa: F811
    path = tmp_path / "responses.jsonl"
    path.write_text(
        "\n".join([line(GOOD), line({"query_id": "q2", "refused": "yes"}), line({"query_id": "q9", "refused": True})])
        + "\n"
    )
    queries = [answer_query(), refuse_query(), refuse_query("q3")]
    answers = ResponsesFileAnswerer(path).answer(queries)
    params = GroundedParams(as_of=AS_OF)
    report = score_answers(
        queries, answers, index, judge=LexicalJudge(0.8), rubric=Rubric(), params=params, embedder=None
    )
    by_id = {c.query_id: c for c in report.cases}
    assert by_id["q1"].passed and by_id["q1"].exact_match == 1.0
    assert by_id["q2"].outcome == "malformed" and "field refused" in by_id["q2"].reasons[0]
    assert by_id["q3"].outcome == "missing"
    assert report.stray == [f"{path} line 3: unknown query id 'q9'"]
    assert report.metrics["pass_rate"] == pytest.approx(1 / 3)
    assert report.metrics["refusal_recall"] == 0.0  # q2 and q3 expected refusals, none made


def test_responses_file_missing_is_an_eval_error(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="cannot read the responses file"):
        ResponsesFileAnswerer(tmp_path / "none.jsonl").answer([answer_query()])


# ------------------------------------------------------------------ command:PROGRAM


def command(mode: str, *args: str, batch_size: int = 2, timeout_s: float = 30.0) -> CommandAnswerer:
    cmd = " ".join([sys.executable, str(SCRIPT), mode, *args])
    return CommandAnswerer(cmd, cwd=Path.cwd(), batch_size=batch_size, timeout_s=timeout_s)


def test_command_answerer_round_trip_in_batches(tmp_path: Path) -> None:
    store = tmp_path / "known.jsonl"
    store.write_text(line(GOOD) + "\n" + line({"query_id": "q2", "refused": True}) + "\n")
    queries = [answer_query(), refuse_query(), refuse_query("q3")]
    answers = command("lookup", str(store)).answer(queries)
    assert answers.responses["q1"].claims[0].citations[0].chunk_id == C1
    assert answers.responses["q2"].refused and "q3" not in answers.responses and not answers.failures


def test_command_failures_are_per_batch() -> None:
    queries = [answer_query("a"), refuse_query("b"), refuse_query("c")]
    answers = command("fail-on", "c", batch_size=2).answer(queries)
    assert set(answers.responses) == {"a", "b"}
    outcome, reason = answers.failures["c"]
    assert outcome == "malformed"
    assert reason == "answerer command exited with status 2 on batch 2 (1 prompts): scripted answerer: cannot answer c"


def test_command_exit_status_and_timeout_reasons() -> None:
    failed = command("fail").answer([answer_query()])
    assert "exited with status 3" in failed.failures["q1"][1] and "model server unavailable" in failed.failures["q1"][1]
    slow = command("sleep", "5", timeout_s=0.5).answer([answer_query()])
    assert slow.failures["q1"][1] == "answerer command timed out after 0.5 s on batch 1 (1 prompts)"


def test_command_timeout_stops_the_programs_it_started(tmp_path: Path) -> None:
    # a wrapper script whose worker hangs: the timeout must stop the worker too, not leave it running
    pid_file = tmp_path / "worker.pid"
    wrapper = tmp_path / "rag.sh"
    wrapper.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {pid_file}\nwait\n")
    wrapper.chmod(0o755)
    answers = CommandAnswerer(str(wrapper), cwd=tmp_path, batch_size=1, timeout_s=1.0).answer([answer_query()])
    assert answers.failures["q1"][1] == "answerer command timed out after 1 s on batch 1 (1 prompts)"
    worker = Path(f"/proc/{pid_file.read_text().strip()}/stat")
    deadline = time.monotonic() + 5
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is delivered asynchronously
    assert not _running(worker), "the hung worker survived the timeout"


def _running(stat: Path) -> bool:
    """Whether the process of /proc/PID/stat runs (a killed orphan may stay a zombie until init reaps it)."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_command_garbage_output_and_bad_programs() -> None:
    answers = command("garbage").answer([answer_query()])
    assert "field refused" in answers.failures["q1"][1]
    assert answers.stray and "not valid JSON" in answers.stray[0]
    with pytest.raises(EvalError, match="cannot run"):
        CommandAnswerer("/no/such/program", cwd=Path.cwd(), batch_size=1, timeout_s=1).answer([answer_query()])
    with pytest.raises(UsageError):
        CommandAnswerer("'unterminated", cwd=Path.cwd(), batch_size=1, timeout_s=1)


def test_prompt_json_hides_the_expected_outcome() -> None:
    prompt = prompt_json(refuse_query())
    assert prompt["query_id"] == "q2" and prompt["citation_fields"] == ["chunk_id", "source_url"]
    assert "behavior" not in prompt and "expected" not in prompt and "reference_answers" not in prompt


# ------------------------------------------------------------------ extractive (fixed retriever)


def test_split_sentences() -> None:
    assert split_sentences("It rained. Then it stopped! Was it 10 p.m.? Yes 2 times.") == [
        "It rained.",
        "Then it stopped!",
        "Was it 10 p.m.?",
        "Yes 2 times.",
    ]


def test_extractive_answers_with_best_sentence_or_refuses(index) -> None:  # noqa: F811
    def retriever(texts, k):
        return [[Hit(C2, 0.9), Hit(C1, 0.8), Hit(C3, 0.1)][:k] for _ in texts]

    answerer = ExtractiveAnswerer(retriever, index, top_k=3, refusal_threshold=0.5, clock=lambda: AS_OF)
    answerable = answer_query()
    answerable = answerable.model_copy(update={"text": "Normandy is a region in which country?"})
    unanswerable = refuse_query().model_copy(update={"text": "What is the boiling point of mercury?"})
    answers = answerer.answer([answerable, unanswerable])
    reply = answers.responses["q1"]
    assert not reply.refused and reply.answer == "The Normans gave their name to Normandy, a region in France."
    citation = reply.claims[0].citations[0]
    assert (citation.chunk_id, citation.source_url, citation.retrieved_at) == (C1, URL1, AS_OF)
    assert citation.property_path == "chunks[0].content" and citation.entity_id == str(citation.analysis_id)
    assert answers.responses["q2"].refused and answers.responses["q2"].claims == []
    report = score_answers(
        [answer_query().model_copy(update={"text": answerable.text}), refuse_query()],
        answers,
        index,
        judge=LexicalJudge(0.8),
        rubric=Rubric(),
        params=GroundedParams(as_of=AS_OF),
        embedder=None,
    )
    assert report.metrics["pass_rate"] == 1.0 and report.metrics["faithfulness"] == 1.0
    strict = ExtractiveAnswerer(retriever, index, refusal_threshold=1.01)
    assert strict.answer([answerable]).responses["q1"].refused


@pytest.mark.parametrize(
    "text", ["[" * 100_000, '{"query_id": "q1", "answer": ' + "[" * 100_000, b'{"query_id": "q1", "a": ' + b"[" * 3000]
)
def test_a_deeply_nested_line_is_a_malformed_response_not_a_crash(text: str | bytes) -> None:
    """orjson refuses it; the second reading (for NaN and the query id) by Python's json recursed until
    RecursionError, which no one catches: the whole eval ended instead of one case failing."""
    parsed = parse_response_line(text)
    assert parsed.response is None and parsed.error is not None and parsed.error.startswith("malformed response")
