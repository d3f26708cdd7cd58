"""`goldkeeper eval grounded` end to end on a small slice of the SQuAD sample, through the real CLI.

responses:FILE and command:PROGRAM need no database (queries and evidence come from the golden
store); the extractive answerer retrieves from a restored database.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cli_support import run_cli as run
from goldkeeper.evals.answerers import split_sentences
from goldkeeper.importers.squad import load_squad, sample_path
from goldkeeper.store import write_store

SCRIPT = Path(__file__).parent / "data" / "answerers" / "scripted.py"
PARAMS = """\
store:
  path: golden
grounded:
  as_of: "2026-11-01T00:00:00Z"
  max_evidence_age_days: 3650
  refusal_threshold: {threshold}
"""


@pytest.fixture(scope="module")
def squad_slice():
    records = load_squad(sample_path())
    analysis = records.analyses[0]
    analysis = analysis.model_copy(update={"chunks": analysis.chunks[:3]})
    chunk_ids = {c.id for c in analysis.chunks}
    # the questions of those three paragraphs: answerable ones point at them; unanswerable ones share the domain
    keep = [q for q in records.queries if q.domain == analysis.title][:60]
    keep = [q for q in keep if not q.expected.chunks or q.expected.chunks[0].id in chunk_ids]
    return analysis, keep


def make_project(project: Path, squad_slice, threshold: float = 0.5) -> None:
    analysis, queries = squad_slice
    (project / "params.yaml").write_text(PARAMS.format(threshold=threshold))
    write_store(project / "golden", "slice", [analysis], queries, {"analyses": 1, "queries": 2})


def oracle_responses(squad_slice) -> list[dict]:
    """What a perfect system answers: the sentence holding a reference answer, cited; refusals otherwise."""
    analysis, queries = squad_slice
    by_id = {c.id: c for c in analysis.chunks}
    lines = []
    for q in queries:
        if q.expected_behavior.behavior == "refuse":
            lines.append({"query_id": q.id, "answer": "", "refused": True, "claims": []})
            continue
        chunk = by_id[q.expected.chunks[0].id]
        ref = q.reference_answers[0]
        sentence = next((s for s in split_sentences(chunk.content) if ref in s), chunk.content)
        citation = {"chunk_id": str(chunk.id), "source_url": analysis.url, "retrieved_at": "2026-10-01T00:00:00Z"}
        lines.append(
            {"query_id": q.id, "answer": ref, "refused": False, "claims": [{"text": sentence, "citations": [citation]}]}
        )
    return lines


def test_responses_file_end_to_end(project: Path, squad_slice, capsys) -> None:
    make_project(project, squad_slice)
    lines = oracle_responses(squad_slice)
    broken = lines[1]["query_id"]
    body = [json.dumps(x) for x in lines]
    body[1] = json.dumps({"query_id": broken, "refused": "maybe"})
    body.append(json.dumps({"query_id": "not-a-query", "refused": True}))
    (project / "answers.jsonl").write_text("\n".join(body) + "\n")
    code, out, err = run(["eval", "grounded", "--answerer", "responses:answers.jsonl", "--json"], capsys)
    assert code == 0, err
    metrics = orjson.loads(out)
    assert metrics == orjson.loads((project / "metrics" / "grounded.json").read_bytes())
    n = len(lines)
    assert metrics["cases"] == n and metrics["malformed"] == 1
    assert metrics["pass_rate"] == pytest.approx((n - 1) / n, abs=1e-6)
    assert metrics["exact_match"] == pytest.approx((n - 1) / n, abs=1e-6)
    assert metrics["citation_freshness"] == pytest.approx((n - 1) / n, abs=1e-6)
    assert metrics["refusal_precision"] == 1.0
    assert 0.0 < metrics["relevance"] < 1.0
    # SQuAD's 2018 release date at as_of 2026-11-01: about 3,065 days of a 3,650-day window
    assert metrics["oldest_evidence_age_ratio"] == pytest.approx(3065 / 3650, abs=0.001)
    assert "warning: aging pressure" in err and "1 response line(s) matched no query" in err
    report = orjson.loads((project / "reports" / "grounded-per-case.json").read_bytes())
    failed = [c for c in report["cases"] if not c["passed"]]
    assert [c["query_id"] for c in failed] == [broken]
    assert failed[0]["reasons"] == [
        f"{project / 'answers.jsonl'} line 2: malformed response: field refused: Input should be a valid boolean"
    ]
    assert report["unmatched_responses"][0].endswith("unknown query id 'not-a-query'")


def test_command_answerer_end_to_end(project: Path, squad_slice, capsys) -> None:
    make_project(project, squad_slice)
    (project / "known.jsonl").write_text("\n".join(json.dumps(x) for x in oracle_responses(squad_slice)) + "\n")
    program = shlex.join([sys.executable, str(SCRIPT), "lookup", "known.jsonl"])
    code, out, err = run(["eval", "grounded", "--answerer", f"command:{program}", "--json"], capsys)
    assert code == 0, err
    metrics = orjson.loads(out)
    assert metrics["pass_rate"] == 1.0 and metrics["faithfulness"] == 1.0 and metrics["refusal_recall"] == 1.0
    failing = shlex.join([sys.executable, str(SCRIPT), "fail"])
    code, out, err = run(["eval", "grounded", "--answerer", f"command:{failing}", "--out", "m.json"], capsys)
    assert code == 0, err
    assert orjson.loads((project / "m.json").read_bytes())["pass_rate"] == 0.0
    cases = orjson.loads((project / "reports" / "grounded-per-case.json").read_bytes())["cases"]
    assert all("exited with status 3" in c["reasons"][0] for c in cases)


def test_usage_and_config_errors_are_one_line(project: Path, squad_slice, capsys) -> None:
    make_project(project, squad_slice)
    code, _, err = run(["eval", "grounded", "--answerer", "oracle"], capsys)
    assert code == 2 and err.strip() == (
        "error: unknown answerer 'oracle': use extractive, command:PROGRAM or responses:FILE"
    )
    code, _, err = run(["eval", "grounded", "--answerer", "responses:nope.jsonl"], capsys)
    assert code == 6 and "nope.jsonl: cannot read the responses file" in err


def test_a_bad_as_of_is_named_where_it_came_from(project: Path, squad_slice, capsys) -> None:
    # the command line's value is a bad argument of that option (exit 2), not a params.yaml error
    make_project(project, squad_slice)
    for value, problem in [("2026-01-01T00:00:00", "should have timezone info"), ("garbage", "valid datetime")]:
        code, _, err = run(["eval", "grounded", "--answerer", "responses:x", "--as-of", value], capsys)
        assert code == 2 and err.startswith("error: --as-of: Input ") and problem in err, err
        assert len(err.splitlines()) == 1 and "params" not in err
    params = project / "params.yaml"
    params.write_text(params.read_text().replace('"2026-11-01T00:00:00Z"', "garbage"))
    code, _, err = run(["eval", "grounded", "--answerer", "responses:x"], capsys)
    assert code == 3 and err.startswith("error: params: grounded.as_of: Input should be a valid datetime"), err
    # a good --as-of replaces the bad params value; another bad key of the section is still params'
    params.write_text(params.read_text().replace("max_evidence_age_days: 3650", "max_evidence_age_days: soon"))
    code, _, err = run(["eval", "grounded", "--answerer", "responses:x", "--as-of", "2026-01-01T00:00:00Z"], capsys)
    assert code == 3 and err.startswith("error: params: grounded.max_evidence_age_days"), err


@pytest.mark.slow
def test_extractive_answerer_end_to_end_on_a_restored_slice(project: Path, squad_slice, database_url, capsys) -> None:
    from goldkeeper.config import EmbeddingParams
    from goldkeeper.dataset.restore import restore_store
    from goldkeeper.embed import load_embedder

    make_project(project, squad_slice, threshold=0.0)
    restore_store(database_url, project / "golden", load_embedder(EmbeddingParams()))
    analysis, queries = squad_slice
    n, refusals = len(queries), sum(q.expected_behavior.behavior == "refuse" for q in queries)

    code, out, err = run(["--database-url", database_url, "eval", "grounded", "--json"], capsys)
    assert code == 0, err
    never = orjson.loads(out)  # threshold 0: answers everything, each claim a verbatim sentence, cited
    assert never["cases"] == n and never["answered"] == n and never["refused"] == 0 and never["malformed"] == 0
    assert never["answered_faithfulness"] == 1.0 and never["refusal_recall"] == 0.0
    cases = orjson.loads((project / "reports" / "grounded-per-case.json").read_bytes())["cases"]
    sentences = {s for c in analysis.chunks for s in split_sentences(c.content)}
    assert all(c["answer"] in sentences and c["valid_citations"] == 1 for c in cases)
    answerable = [c for c in cases if c["expected"] == "answer"]
    assert sum(c["citation_accuracy"] for c in answerable) / len(answerable) > 0.5  # mostly the right paragraph
    assert 0.0 < never["answerable_f1"] < 1.0

    (project / "params.yaml").write_text(PARAMS.format(threshold=1.01))
    code, out, err = run(["--database-url", database_url, "eval", "grounded", "--json"], capsys)
    always = orjson.loads(out)  # above any score: refuses everything
    assert always["refused"] == n and always["refusal_recall"] == 1.0
    assert always["refusal_precision"] == pytest.approx(refusals / n, abs=1e-6)
    assert always["pass_rate"] == pytest.approx(refusals / n, abs=1e-6)


@pytest.mark.slow
def test_demo_step_scores_the_demo_database(project: Path, squad_slice) -> None:
    from goldkeeper.config import load_settings
    from goldkeeper.demo import DemoStep, run_demo
    from goldkeeper.demo.steps import grounded_step as demo_step
    from goldkeeper.demo.steps import restore_step

    make_project(project, squad_slice, threshold=0.0)
    with (project / "params.yaml").open("a") as fh:
        fh.write("  demo_limit: 7\n")
    settings = load_settings(root=project, env={})
    report = run_demo(settings, steps=[DemoStep("restore", restore_step), DemoStep("eval_grounded", demo_step)])
    step = report.steps[1]
    assert step.data["metrics"]["cases"] == 7 and step.data["metrics"]["answered"] == 7
    assert step.summary.startswith("7 queries with extractive: faithfulness ")
    written = orjson.loads(Path(step.data["metrics_file"]).read_bytes())
    assert written == step.data["metrics"] and Path(step.data["metrics_file"]).is_relative_to(project / ".goldkeeper")
    assert not (project / "metrics").exists()  # the project's own outputs are not touched


@pytest.mark.parametrize("option", [["--out", "answers.jsonl"], ["--per-case", "./sub/../answers.jsonl"]])
def test_an_output_path_naming_the_responses_file_is_refused(
    project: Path, squad_slice, capsys, option: list[str]
) -> None:
    # the user's answers (maybe hours of LLM calls) must not be replaced by the metrics
    make_project(project, squad_slice)
    (project / "sub").mkdir()
    body = "".join(json.dumps(x) + "\n" for x in oracle_responses(squad_slice))
    (project / "answers.jsonl").write_text(body)
    code, out, err = run(["eval", "grounded", "--answerer", "responses:answers.jsonl", *option], capsys)
    assert (code, out) == (2, "")
    assert err == f"error: {project / option[1]}: is the responses file being evaluated; write the results elsewhere\n"
    assert (project / "answers.jsonl").read_text() == body
    assert not (project / "metrics").exists()


def test_a_responses_file_with_a_byte_order_mark_and_crlf_reads_every_line(project: Path, squad_slice, capsys) -> None:
    make_project(project, squad_slice)
    lines = oracle_responses(squad_slice)
    (project / "answers.jsonl").write_bytes(b"\xef\xbb\xbf" + b"".join(orjson.dumps(x) + b"\r\n" for x in lines))
    code, out, err = run(["eval", "grounded", "--answerer", "responses:answers.jsonl", "--json"], capsys)
    assert code == 0, err
    metrics = orjson.loads(out)
    assert (metrics["malformed"], metrics["missing"], metrics["pass_rate"]) == (0, 0, 1.0)


def test_one_path_for_the_metrics_and_the_per_case_results_is_refused(project: Path, squad_slice, capsys) -> None:
    make_project(project, squad_slice)
    (project / "sub").mkdir()
    code, out, err = run(["eval", "grounded", "--out", "m.json", "--per-case", "sub/../m.json"], capsys)
    assert (code, out) == (2, "")
    assert "named for both the metrics and the per-case results" in err and "\n" not in err.rstrip("\n")
    assert not (project / "m.json").exists()


def test_responses_file_and_outputs_from_a_subdirectory(project: Path, squad_slice, capsys, monkeypatch) -> None:
    """From work/ (params.yaml found in the project above): --answerer responses:FILE, --out and --per-case are
    relative to work/, as typed in the shell; the store is the project's (a git repository: the search stays in it)."""
    make_project(project, squad_slice)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    work = project / "work"
    work.mkdir()
    (work / "answers.jsonl").write_text("\n".join(json.dumps(x) for x in oracle_responses(squad_slice)) + "\n")
    monkeypatch.chdir(work)
    argv = ["eval", "grounded", "--answerer", "responses:answers.jsonl", "--json"]
    code, out, err = run([*argv, "--out", "m.json", "--per-case", "pc.json"], capsys)
    assert code == 0, err
    assert orjson.loads(out) == orjson.loads((work / "m.json").read_bytes())
    assert orjson.loads(out)["cases"] == len(squad_slice[1]) and (work / "pc.json").is_file()
    assert not (project / "m.json").exists() and not (project / "metrics").exists()
    code, _, err = run([*argv, "--out", "answers.jsonl"], capsys)  # the responses file itself: refused
    assert code == 2 and "is the responses file being evaluated" in err, err
