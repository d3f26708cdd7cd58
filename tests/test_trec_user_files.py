"""`goldkeeper eval trec` and `eval compare` on files a user brings: byte order marks, huge relevance
values, hostile text in ids, odd per-query records. Real files, the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cli_support import run_cli
from goldkeeper import models
from goldkeeper.errors import EvalError
from goldkeeper.evals.metrics import evaluate, resolve_measures
from goldkeeper.evals.metrics.base import MAX_RELEVANCE
from goldkeeper.evals.trec import COLUMNAR_BYTES, evaluate_files
from goldkeeper.evals.trec_arrow import read_coded

QRELS = "q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n"
RUN = "q1 Q0 d2 1 2.0 sys\nq1 Q0 d1 2 1.0 sys\nq2 Q0 d3 1 0.5 sys\n"
BOM = "\ufeff"
#: what a terminal would act on: colour, clear screen, an OSC 8 hyperlink.
ESCAPES = "\x1b[31mred\x1b[2J\x1b]8;;http://evil.example\x1b\\"


def _big(text: str) -> str:
    """``text`` followed by judged queries of no interest, past the size where pyarrow reads the files."""
    filler = "".join(f"z{i} 0 doc{i} 0\n" for i in range(COLUMNAR_BYTES // 14))
    return text + filler


def test_a_byte_order_mark_is_not_part_of_the_first_qid(tmp_path: Path) -> None:
    (tmp_path / "q").write_text(QRELS)
    (tmp_path / "r").write_text(RUN)
    (tmp_path / "q.bom").write_text(BOM + QRELS)  # as Notepad or PowerShell's Out-File write it
    (tmp_path / "r.bom").write_text(BOM + RUN)
    plain = evaluate_files(tmp_path / "q", tmp_path / "r", ["num_q", "map"])
    assert plain.summary == {"num_q": 2, "map": 0.75}
    for qrels, run in [("q.bom", "r"), ("q", "r.bom"), ("q.bom", "r.bom")]:
        report = evaluate_files(tmp_path / qrels, tmp_path / run, ["num_q", "map"])
        assert (report.qids, report.summary) == (plain.qids, plain.summary), (qrels, run)


def test_a_byte_order_mark_before_a_comment_line_is_skipped_by_both_readers(tmp_path: Path) -> None:
    (tmp_path / "q").write_text(BOM + "# judged by hand\n" + _big(QRELS))
    (tmp_path / "r").write_text(BOM + "# bm25\n" + RUN)
    coded = read_coded(tmp_path / "q", tmp_path / "r")  # pyarrow's reader (it skips a mark, not a comment after one)
    assert coded is not None and coded.qids == ["q1", "q2"]
    (tmp_path / "q").write_text(BOM + "# judged by hand\n" + QRELS)
    assert evaluate_files(tmp_path / "q", tmp_path / "r", ["num_q", "map"]).summary == {"num_q": 2, "map": 0.75}


def _cli_with_memory_limit(args: list[str]) -> subprocess.CompletedProcess[str]:
    # 4 GiB of address space: without the check the command would try to allocate 16 GiB per query (the
    # OOM killer ended it, and could end the neighbours), with the limit a MemoryError shows it
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
        "from goldkeeper.cli import main; main(sys.argv[1:])"
    )
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", ["2147483648", "99999999999999999999", "-99999999999999999999"])
def test_a_huge_relevance_is_an_error_naming_the_line(tmp_path: Path, value: str) -> None:
    (tmp_path / "q").write_text(f"q1 0 d1 1\nq1 0 d2 {value}\n")
    (tmp_path / "r").write_text(RUN)
    done = _cli_with_memory_limit(["eval", "trec", "-m", "ndcg", str(tmp_path / "q"), str(tmp_path / "r")])
    assert done.returncode == 6, done.stderr
    assert (
        done.stderr == f"error: {tmp_path / 'q'}:2: relevance '{value}' is out of range (the highest level is 1000)\n"
    )


def test_a_huge_relevance_in_a_large_file_is_named_too(tmp_path: Path) -> None:
    (tmp_path / "q").write_text(_big(f"q1 0 d1 {MAX_RELEVANCE}\nq1 0 d2 {MAX_RELEVANCE + 1}\n"))
    (tmp_path / "r").write_text(RUN)
    done = _cli_with_memory_limit(["eval", "trec", "-m", "ndcg", str(tmp_path / "q"), str(tmp_path / "r")])
    assert done.returncode == 6 and f"q:2: relevance '{MAX_RELEVANCE + 1}' is out of range" in done.stderr


def test_the_highest_relevance_level_and_low_values_still_evaluate(tmp_path: Path) -> None:
    (tmp_path / "q").write_text(f"q1 0 d1 {MAX_RELEVANCE}\nq1 0 d2 -2147483648\n")
    (tmp_path / "r").write_text(RUN)
    assert evaluate_files(tmp_path / "q", tmp_path / "r", ["ndcg"]).summary["ndcg"] == pytest.approx(0.6309, abs=1e-4)


@pytest.mark.parametrize("spec", ["ndcg.5000000000=3", "rbp.-2147483648=1"])
def test_a_huge_gain_level_is_an_error(tmp_path: Path, spec: str) -> None:
    (tmp_path / "q").write_text(QRELS)
    (tmp_path / "r").write_text(RUN)
    done = _cli_with_memory_limit(["eval", "trec", "-m", spec, str(tmp_path / "q"), str(tmp_path / "r")])
    assert done.returncode == 6 and f"is beyond {MAX_RELEVANCE}" in done.stderr, done.stderr


def test_trec_output_shows_escapes_in_qids_and_runid_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "q").write_text(f"q{ESCAPES} 0 d1 1\n")
    (tmp_path / "r").write_text(f"q{ESCAPES} Q0 d1 1 1.0 run{ESCAPES}\n")
    code, out, _ = run_cli(
        ["eval", "trec", "-q", "-m", "runid", "-m", "map", str(tmp_path / "q"), str(tmp_path / "r")], capsys
    )
    assert code == 0
    assert "\x1b" not in out
    assert out == (
        "map                   \tq\\x1b[31mred\\x1b[2J\\x1b]8;;http://evil.example\\x1b\\\t1.0000\n"
        "runid                 \tall\trun\\x1b[31mred\\x1b[2J\\x1b]8;;http://evil.example\\x1b\\\n"
        "map                   \tall\t1.0000\n"
    )


def _per_query(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(records))
    return path


def test_compare_shows_escapes_in_names_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [{"mode": f"m{ESCAPES}", "query": "q1", f"ndcg{ESCAPES}": 0.5}]
    a = _per_query(tmp_path / "a.json", records)
    code, out, _ = run_cli(["eval", "compare", str(a), str(a)], capsys)
    assert code == 0 and "\x1b" not in out and "m\\x1b[31mred" in out


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"query": "q2", "ndcg": "0.7"}, "b.json: query 'q2': 'ndcg' is '0.7', not a number"),
        ({"query": "q2", "ndcg": [0.7]}, "b.json: query 'q2': 'ndcg' is [0.7], not a number"),
        ({"query": "q2", "ndcg": None}, "b.json: query 'q2': 'ndcg' is None, not a number"),
        ({"query": "q2"}, "b.json: query 'q2': 'ndcg' is missing, not a number"),
        ({"query": "q1", "ndcg": 0.9}, "b.json: query 'q1' occurs twice"),
    ],
)
def test_compare_odd_records_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record: dict, message: str
) -> None:
    a = _per_query(tmp_path / "a.json", [{"query": "q1", "ndcg": 0.5}, {"query": "q2", "ndcg": 0.7}])
    b = _per_query(tmp_path / "b.json", [{"query": "q1", "ndcg": 0.5}, record])
    code, out, err = run_cli(["eval", "compare", str(a), str(b)], capsys)
    assert (code, out) == (6, "")
    assert err == f"error: {tmp_path / message}\n"


def test_the_dict_path_refuses_a_huge_relevance_before_allocating() -> None:
    # eval retrieval's path: golden relevance is any integer >= 1 (a typo like 1000000000 would allocate 8 GB)
    with pytest.raises(EvalError, match=f"relevance 2147483648 is above {MAX_RELEVANCE}"):
        evaluate({"q1": {"d1": 2**31}}, {"q1": {"d1": 1.0}}, resolve_measures(["ndcg"]))


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "q").write_text(QRELS)
    (tmp_path / "r").write_bytes(RUN.encode() + b"q2 Q0 caf\xe9 2 0.1 sys\n")  # Latin-1 from an old tool
    code, out, err = run_cli(["eval", "trec", str(tmp_path / "q"), str(tmp_path / "r")], capsys)
    assert (code, out, err) == (6, "", f"error: {tmp_path / 'r'}:4: not UTF-8 text (byte 0xe9)\n")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("iprec_at_recall.inf", "measure 'iprec_at_recall': parameters must be finite numbers (got 'inf')"),
        ("Rprec_mult.0.5,nan", "measure 'Rprec_mult': parameters must be finite numbers (got '0.5,nan')"),
        ("rbp.p=nan", "measure 'rbp': 'nan' is not a finite number in 'p=nan'"),
        ("ndcg.1=inf", "measure 'ndcg': 'inf' is not a finite number in '1=inf'"),
    ],
)
def test_parameters_that_are_not_finite_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    # they printed nan or -0.0000 with numpy's RuntimeWarnings (file and line of goldkeeper's code) on stderr
    (tmp_path / "q").write_text(QRELS)
    (tmp_path / "r").write_text(RUN)
    code, out, err = run_cli(["eval", "trec", "-m", spec, str(tmp_path / "q"), str(tmp_path / "r")], capsys)
    assert (code, out, err) == (6, "", f"error: {message}\n")


def test_a_store_holds_no_relevance_the_metrics_refuse() -> None:
    # the models' bound is a copy (importing the metrics' would load pydantic into `eval trec`)
    assert models.MAX_RELEVANCE == MAX_RELEVANCE
    too_high = {"id": "q1", "text": "t", "domain": "d", "expected_behavior": {"behavior": "answer"}}
    expected = {"chunks": [{"id": "6f1c2d9e-0000-4000-8000-000000000001", "relevance": MAX_RELEVANCE + 1}]}
    with pytest.raises(ValidationError, match="relevance"):
        models.Query.model_validate({**too_high, "expected": expected})
