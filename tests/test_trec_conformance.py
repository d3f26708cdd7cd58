"""Conformance with trec_eval 10.0 on its own test files (tests/data/trec_eval, see PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from goldkeeper.cli import _register_all
from goldkeeper.cli.main import cli
from goldkeeper.evals.trec import evaluate_files, format_report

DATA = Path(__file__).parent / "data" / "trec_eval"
QRELS = DATA / "qrels.test"
RUN = DATA / "results.test"


def _lines_by_key(text: str) -> dict[tuple[str, str], str]:
    out = {}
    for line in text.splitlines():
        label, qid, _ = line.split("\t")
        out[(label.strip(), qid)] = line
    return out


def test_default_output_reproduces_out_test_exactly() -> None:
    ours = format_report(evaluate_files(QRELS, RUN))
    assert ours == (DATA / "out.test").read_text()


@pytest.mark.parametrize(("expected", "per_query"), [("out.test.a", False), ("out.test.aq", True)])
def test_all_trec_matches_every_implemented_measure(expected: str, per_query: bool) -> None:
    reference = (DATA / expected).read_text()
    ours = format_report(evaluate_files(QRELS, RUN, ["all_trec"]), per_query=per_query)
    ref_lines = _lines_by_key(reference)
    our_lines = _lines_by_key(ours)
    # every line trec_eval printed is printed identically, in the same order
    assert list(our_lines) == list(ref_lines)
    for key, line in ref_lines.items():
        assert our_lines[key] == line, key


def test_cli_prints_trec_eval_format() -> None:
    _register_all()
    result = CliRunner().invoke(cli, ["eval", "trec", "-q", "-m", "all_trec", str(QRELS), str(RUN)])
    assert result.exit_code == 0, result.output
    assert result.output == (DATA / "out.test.aq").read_text()


def test_cli_measure_with_cutoffs() -> None:
    _register_all()
    result = CliRunner().invoke(cli, ["eval", "trec", "-m", "P.5,10", "-m", "ndcg_cut.10", str(QRELS), str(RUN)])
    assert result.exit_code == 0, result.output
    reference = _lines_by_key((DATA / "out.test.a").read_text())
    assert result.output.splitlines() == [
        reference[("P_5", "all")],
        reference[("P_10", "all")],
        reference[("ndcg_cut_10", "all")],
    ]


def test_malformed_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from goldkeeper.errors import EvalError
    from goldkeeper.evals.trec import read_qrels, read_run

    bad_qrels = tmp_path / "q"
    bad_qrels.write_text("1 0 d1 1\n1 0 d2\n")
    with pytest.raises(EvalError, match=r"q:2: a qrels line needs 4 fields"):
        read_qrels(bad_qrels)
    bad_qrels.write_text("1 0 d1 x\n")
    with pytest.raises(EvalError, match="relevance 'x' is not an integer"):
        read_qrels(bad_qrels)
    bad_run = tmp_path / "r"
    bad_run.write_text("1 Q0 d1 1 0.5 run\n1 Q0 d1 2 0.4 run\n")
    with pytest.raises(EvalError, match="r:2: query 1 retrieves document d1 twice"):
        read_run(bad_run)
    from goldkeeper.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "trec", str(QRELS), str(bad_run)])
    assert exit_info.value.code == 6
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "retrieves document d1 twice" in err and "Traceback" not in err


def test_written_run_round_trips_through_the_reader(tmp_path: Path) -> None:
    from goldkeeper.evals.trec import read_run, write_qrels, write_run

    run = {"q1": {"a": 0.5, "b": 0.5, "c": 1 / 3}, "q2": {"x": 2.0}}
    write_run(tmp_path / "r", run, "sys")
    write_qrels(tmp_path / "q", {"q1": {"b": 1}, "q2": {"x": 2}})
    lines = (tmp_path / "r").read_text().splitlines()
    assert lines[0].split()[:4] == ["q1", "Q0", "b", "1"]  # tie on score: docno descending
    again, runid = read_run(tmp_path / "r")
    assert runid == "sys" and set(again["q1"]) == {"a", "b", "c"}
    report = evaluate_files(tmp_path / "q", tmp_path / "r", ["recip_rank"])
    assert report.summary["recip_rank"] == 1.0
