"""Conformance with trec_eval 10.0 on random qrels and runs (tests/data/trec_eval-random, see PROVENANCE.md).

Every line of trec_eval's ``-q -m all_trec`` output (graded -2..3 judgments, score ties, negative
scores, queries missing on either side, 1 to 1,600 documents per query) must be printed identically,
in the same order, by goldkeeper's evaluator and by ``goldkeeper eval trec``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from goldkeeper.cli import _register_all
from goldkeeper.cli.main import cli
from goldkeeper.errors import EvalError
from goldkeeper.evals.trec import evaluate_files, format_report, read_qrels, read_run

DATA = Path(__file__).parent / "data" / "trec_eval-random"

# (qrels, run, -c, trec_eval's output)
CASES = [
    ("r1.f.qrels", "r1.run", False, "r1.f.all_trec.q.out"),
    ("r1.qrels", "r1.run", True, "r1.all_trec.q.c.out"),
    ("t.qrels", "t.run", False, "t.all_trec.q.out"),
]


def _first_difference(ours: str, reference: str) -> tuple[int, str, str] | None:
    for number, (a, b) in enumerate(zip(ours.splitlines(), reference.splitlines(), strict=False), 1):
        if a != b:
            return number, a, b
    return None


@pytest.mark.parametrize(("qrels", "run", "complete", "expected"), CASES)
def test_evaluator_prints_every_line_of_trec_eval(qrels: str, run: str, complete: bool, expected: str) -> None:
    reference = (DATA / expected).read_text()
    ours = format_report(evaluate_files(DATA / qrels, DATA / run, ["all_trec"], complete=complete), per_query=True)
    assert _first_difference(ours, reference) is None
    assert ours == reference


def _param_sections() -> list[tuple[str, str]]:
    """(measure spec, trec_eval's -q output) per section of r1.f.params.q.out."""
    sections: list[tuple[str, str]] = []
    for line in (DATA / "r1.f.params.q.out").read_text().splitlines(keepends=True):
        if line.startswith("## -q -m "):
            sections.append((line.removeprefix("## -q -m ").strip(), ""))
        else:
            spec, text = sections[-1]
            sections[-1] = (spec, text + line)
    return sections


@pytest.mark.parametrize(("spec", "reference"), _param_sections(), ids=[s for s, _ in _param_sections()])
def test_gain_and_persistence_parameters_match_trec_eval(spec: str, reference: str) -> None:
    ours = format_report(evaluate_files(DATA / "r1.f.qrels", DATA / "r1.run", [spec]), per_query=True)
    assert _first_difference(ours, reference) is None
    assert ours == reference


def test_cli_prints_trec_eval_output_with_and_without_c() -> None:
    _register_all()
    runner = CliRunner()
    for qrels, run, complete, expected in CASES[:2]:
        args = [
            "eval",
            "trec",
            "-q",
            "-m",
            "all_trec",
            *(["-c"] if complete else []),
            str(DATA / qrels),
            str(DATA / run),
        ]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.output == (DATA / expected).read_text()


def test_comment_lines_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "q").write_text("# judged by hand\n1 0 a 1\n  # indented\n\n1 0 b 0\n")
    (tmp_path / "r").write_text("# run: bm25\n1 Q0 b 1 2.0 sys\n#1 Q0 a 2 1.0 sys\n1 Q0 a 2 1.0 sys\n")
    assert read_qrels(tmp_path / "q") == {"1": {"a": 1, "b": 0}}
    assert read_run(tmp_path / "r") == ({"1": {"b": 2.0, "a": 1.0}}, "sys")
    report = evaluate_files(tmp_path / "q", tmp_path / "r", ["recip_rank", "num_ret"])
    assert report.summary == {"recip_rank": 0.5, "num_ret": 2}


def test_comment_only_files_evaluate_nothing(tmp_path: Path) -> None:
    (tmp_path / "q").write_text("# nothing judged yet\n")
    (tmp_path / "r").write_text("# nothing retrieved\n")
    report = evaluate_files(tmp_path / "q", tmp_path / "r", ["all_trec"], complete=True)
    assert report.qids == [] and report.summary["num_q"] == 0 and report.summary["map"] == 0.0
    _register_all()
    result = CliRunner().invoke(cli, ["eval", "trec", "-q", str(tmp_path / "q"), str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "num_q                 \tall\t0" in result.output


@pytest.mark.parametrize("score", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_scores_that_are_not_finite_are_errors_with_the_line(tmp_path: Path, score: str) -> None:
    (tmp_path / "q").write_text("1 0 a 1\n")
    (tmp_path / "r").write_text(f"# header\n1 Q0 a 1 0.5 sys\n1 Q0 b 2 {score} sys\n")
    with pytest.raises(EvalError, match=rf"r:3: score '{score}' is not a finite number"):
        evaluate_files(tmp_path / "q", tmp_path / "r")
