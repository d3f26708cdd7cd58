"""Conformance with trec_eval 10.0 on random qrels and runs (tests/data/trec_eval-random, see PROVENANCE.md).

Every line of trec_eval's ``-q -m all_trec`` output (graded -2..3 judgments, score ties, negative
scores, queries missing on either side, 1 to 1,600 documents per query) must be printed identically,
in the same order, by goldkeeper's evaluator and by ``goldkeeper eval trec``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from goldkeeper.cli import _register_all
from goldkeeper.cli.main import cli
from goldkeeper.errors import EvalError
from goldkeeper.evals.metrics import build_ranked, evaluate, evaluate_ranked, join, resolve_measures
from goldkeeper.evals.metrics.base import PAD
from goldkeeper.evals.metrics.join import rank_columns
from goldkeeper.evals.trec import (
    evaluate_files,
    format_report,
    read_qrels,
    read_run,
    write_qrels,
    write_run,
)
from goldkeeper.evals.trec_arrow import read_coded

DATA = Path(__file__).parent / "data" / "trec_eval-random"

# (qrels, run, -c, trec_eval's output)
CASES = [
    ("r1.f.qrels", "r1.run", False, "r1.f.all_trec.q.out"),
    ("r1.qrels", "r1.run", True, "r1.all_trec.q.c.out"),
    ("t.qrels", "t.run", False, "t.all_trec.q.out"),
]


def _columnar(qrels: Path, run: Path, measures: list[str], complete: bool = False) -> str:
    """``-q`` output through the columnar reader (pyarrow) whatever the files' size."""
    coded = read_coded(qrels, run, complete=complete)
    assert coded is not None
    ranked = rank_columns(coded.qids, coded.run, coded.qrels, coded.n_docs, check_duplicates=True)
    return format_report(evaluate_ranked(ranked, resolve_measures(measures), runid=coded.runid), per_query=True)


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
    # both readers: the line-by-line parser (small files) and pyarrow's columns (large ones)
    assert _columnar(DATA / qrels, DATA / run, ["all_trec"], complete) == reference


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


def _reference_ranking(qrels: dict, run: dict, complete: bool) -> dict[str, list[int]]:
    """trec_eval's ranking written the plain way: per query, sort by (score, docno) descending."""
    qids = sorted(q for q in qrels if complete or q in run)
    out = {}
    for q in qids:
        docs = sorted((run.get(q) or {}).items(), key=lambda item: (item[1] + 0.0, item[0]), reverse=True)
        out[q] = [qrels[q].get(d, -1) if qrels[q].get(d, 0) >= 0 else -2 for d, _ in docs]
    return out


_docnos = st.sampled_from(["a", "b", "c", "d10", "d9", "D", "é", "z"])
_scores = st.sampled_from([0.0, -0.0, 1.0, -1.5, 1.00000001, 1.00000002, 7.0]) | st.floats(-5, 5)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    qrels=st.dictionaries(st.sampled_from(["q1", "q2", "q10", "Q"]), st.dictionaries(_docnos, st.integers(-2, 4))),
    run=st.dictionaries(st.sampled_from(["q1", "q2", "q10", "r"]), st.dictionaries(_docnos, _scores)),
    complete=st.booleans(),
)
def test_vectorised_join_ranks_as_trec_eval(qrels: dict, run: dict, complete: bool) -> None:
    ranked = build_ranked(qrels, run, complete=complete)
    expected = _reference_ranking(qrels, run, complete)
    assert ranked.qids == list(expected)
    for row, q in enumerate(ranked.qids):
        n = int(ranked.num_ret[row])
        assert n == len(expected[q])
        assert ranked.rel[row, :n].tolist() == expected[q], q
        assert (ranked.rel[row, n:] == PAD).all()
        levels = [sum(1 for v in qrels[q].values() if v == level) for level in range(ranked.rel_levels.shape[1])]
        assert ranked.rel_levels[row].tolist() == levels


def _large_random(queries: int, seed: int = 7) -> tuple[dict, dict]:
    """Uneven rankings (1 to 150 documents) with many ties, -0.0, docnos whose byte order is not numeric."""
    rng = np.random.default_rng(seed)
    names = [f"d{i}" for i in range(400)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(queries):
        if q % 10:  # every tenth query only in the qrels
            picked = rng.choice(400, size=int(rng.integers(1, 150)), replace=False)
            scores = np.round(rng.normal(size=picked.size), 1) * (1 - 2 * (rng.random(picked.size) < 0.5))
            run[f"q{q}"] = {names[d]: float(s) for d, s in zip(picked, scores, strict=True)}
        if q % 13:  # and every thirteenth only in the run
            judged = rng.choice(400, size=int(rng.integers(1, 25)), replace=False)
            qrels[f"q{q}"] = {names[d]: int(v) for d, v in zip(judged, rng.integers(-2, 4, judged.size), strict=True)}
    return qrels, run


def test_a_run_of_many_blocks_ranks_as_trec_eval(tmp_path: Path) -> None:
    qrels, run = _large_random(3000)
    assert sum(map(len, run.values())) > 3 * join.BLOCK  # ranked in several blocks (and threads)
    for complete in (False, True):
        ranked = build_ranked(qrels, run, complete=complete)
        expected = _reference_ranking(qrels, run, complete)
        assert ranked.qids == list(expected)
        for row, q in enumerate(ranked.qids):
            n = int(ranked.num_ret[row])
            assert ranked.rel[row, :n].tolist() == expected[q], q
            assert (ranked.rel[row, n:] == PAD).all()
    report = evaluate(qrels, run, ["all_trec"], runid="sys")
    for q in report.qids[::97]:  # each query's values do not depend on the block it was in
        alone = evaluate({q: qrels[q]}, {q: run[q]}, ["all_trec"])
        assert alone.query(q) == report.query(q), q
    write_qrels(tmp_path / "q", qrels)
    write_run(tmp_path / "r", run, "sys")
    assert _columnar(tmp_path / "q", tmp_path / "r", ["all_trec"]) == report.to_trec_eval(per_query=True)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(  # a query judged in a file has at least one line
    qrels=st.dictionaries(
        st.sampled_from(["q1", "q2", "q10"]), st.dictionaries(_docnos, st.integers(-2, 3), min_size=1)
    ),
    run=st.dictionaries(st.sampled_from(["q1", "q2", "q10", "r"]), st.dictionaries(_docnos, _scores, min_size=1)),
)
def test_file_path_equals_dict_path(tmp_path_factory: pytest.TempPathFactory, qrels: dict, run: dict) -> None:
    folder = tmp_path_factory.mktemp("files")
    write_qrels(folder / "q", qrels)
    write_run(folder / "r", run, "sys")
    for complete in (False, True):
        from_files = evaluate_files(folder / "q", folder / "r", ["all_trec"], complete=complete)
        from_dicts = evaluate(qrels, run, ["all_trec"], complete=complete, runid="sys" if run else "")
        assert from_files.to_trec_eval(per_query=True) == from_dicts.to_trec_eval(per_query=True)
        if qrels and run:  # the columnar reader takes non-empty files
            assert _columnar(folder / "q", folder / "r", ["all_trec"], complete) == from_dicts.to_trec_eval(True)


def test_columnar_reader_normalises_blanks_and_comments(tmp_path: Path) -> None:
    clean_q, clean_r = DATA / "t.qrels", DATA / "t.run"
    reference = format_report(evaluate_files(clean_q, clean_r, ["all_trec"]), per_query=True)
    messy_q, messy_r = tmp_path / "q", tmp_path / "r"
    messy_q.write_text("# judgments\n" + clean_q.read_text().replace(" ", "\t"))
    messy_r.write_text("  # a run\r\n" + " " + clean_r.read_text().replace(" ", "  ").replace("\n", " \r\n"))
    assert _columnar(messy_q, messy_r, ["all_trec"]) == reference  # the fast path takes them
    assert format_report(evaluate_files(messy_q, messy_r, ["all_trec"]), per_query=True) == reference


@pytest.mark.parametrize(
    ("qrels", "run", "message"),
    [
        ("1 0 a 1\n", "1 Q0 a 1 0.5 s\n1 Q0 a 2 0.4 s\n", r"r:2: query 1 retrieves document a twice"),
        ("1 0 a 1\n", "1 Q0 a 1 0.5 s\n2 Q0 b 1 0.5 s\n2 Q0 b 2 0.5 s\n", r"r:3: query 2 retrieves document b twice"),
        ("1 0 a 1\n1 0 a 0\n", "1 Q0 a 1 0.5 s\n", r"q:2: duplicate judgment for query 1 document a"),
        ("1 0 a 1\n3 0 a 1\n3 0 a 0\n", "1 Q0 a 1 0.5 s\n", r"q:3: duplicate judgment for query 3 document a"),
        ("1 0 a 1.5\n", "1 Q0 a 1 0.5 s\n", r"q:1: relevance '1.5' is not an integer"),
        ("1 0 a 1\n", "1 Q0 a 1 0.5\n", r"r:1: a run line needs 6 fields"),
        ("1 0 a 1\n", "1 Q0 a 1 x s\n", r"r:1: score 'x' is not a number"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, qrels: str, run: str, message: str) -> None:
    (tmp_path / "q").write_text(qrels)
    (tmp_path / "r").write_text(run)
    with pytest.raises(EvalError, match=message):
        evaluate_files(tmp_path / "q", tmp_path / "r", complete=True)


def test_small_files_skip_pyarrow(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from goldkeeper.evals.trec import evaluate_files; "
        f"evaluate_files(Path({str(DATA / 't.qrels')!r}), Path({str(DATA / 't.run')!r})); "
        "print('pyarrow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
