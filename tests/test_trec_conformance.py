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
