"""`eval compare`: deltas, wins/ties/losses and the paired randomization test on hand-made files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli_support import run_cli
from goldkeeper.cli import _register_all
from goldkeeper.cli.main import cli
from goldkeeper.errors import EvalError
from goldkeeper.evals.compare import compare_records, randomization_p


def records(mode: str, values: dict[str, float], metric: str = "ndcg_cut_10") -> list[dict]:
    return [
        {"mode": mode, "query": q, metric: v, "retrieved": [], "first_relevant_rank": None} for q, v in values.items()
    ]


def test_deltas_and_wins_ties_losses() -> None:
    a = records("hybrid", {"q1": 0.5, "q2": 1.0, "q3": 0.0, "q4": 0.2})
    b = records("hybrid", {"q1": 1.0, "q2": 1.0, "q3": 0.5, "q5": 0.9})
    result = compare_records(a, b)
    assert result.paired == 3 and result.only_a == 1 and result.only_b == 1
    (m,) = result.metrics
    assert m.metric == "hybrid.ndcg_cut_10"
    assert m.mean_a == pytest.approx(0.5) and m.mean_b == pytest.approx(2.5 / 3)
    assert m.delta == pytest.approx(1 / 3)
    assert (m.wins, m.ties, m.losses) == (2, 1, 0)


def test_randomization_p_exact_for_tiny_sample() -> None:
    # two queries, both +1: of the 4 equally likely sign patterns, 2 reach |mean| >= 1 -> p -> 0.5
    p = randomization_p(np.array([1.0, 1.0]), permutations=20000, seed=0)
    assert p == pytest.approx(0.5, abs=0.02)
    # identical systems: every permutation is as extreme -> p = 1
    assert randomization_p(np.zeros(10)) == 1.0


def test_randomization_detects_a_consistent_improvement_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    diffs = 0.1 + rng.normal(0, 0.05, size=200)
    assert randomization_p(diffs) == pytest.approx(1 / 10001)
    noise = rng.normal(0, 0.05, size=200)
    assert randomization_p(noise) == randomization_p(noise) > 0.01


def test_compare_two_modes_of_one_file() -> None:
    data = records("vector", {"q1": 0.0, "q2": 1.0}) + records("hybrid", {"q1": 1.0, "q2": 1.0})
    result = compare_records(data, data, mode_a="vector", mode_b="hybrid")
    assert result.metrics[0].metric == "vector->hybrid.ndcg_cut_10"
    assert result.metrics[0].delta == 0.5
    with pytest.raises(EvalError, match="give both"):
        compare_records(data, data, mode_a="vector")


def test_cli_json(tmp_path: Path) -> None:
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(records("fulltext", {"q1": 0.0, "q2": 0.5})))
    pb.write_text(json.dumps(records("fulltext", {"q1": 1.0, "q2": 0.5})))
    _register_all()
    result = CliRunner().invoke(cli, ["eval", "compare", str(pa), str(pb), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["paired_queries"] == 2
    assert data["test"]["permutations"] == 10000 and data["test"]["seed"] == 0
    assert data["metrics"][0]["delta"] == 0.5 and data["metrics"][0]["wins"] == 1
    bad = CliRunner().invoke(cli, ["eval", "compare", str(pa), str(pb), "-m", "nope"])
    assert bad.exit_code != 0


def _compare_process(pa: Path, pb: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """``goldkeeper eval compare A B`` in its own process: what a user sees on stderr, warnings included."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDKEEPER_")}
    env |= {"PYTHONPATH": str(Path(__file__).parents[1] / "src"), "GOLDKEEPER_HOME": str(home)}
    probe = "import sys; from goldkeeper.cli import main; main(sys.argv[1:])"
    argv = [sys.executable, "-c", probe, "eval", "compare", str(pa), str(pb)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("a", "b", "culprit"),
    [
        # the difference overflows: -1e308 - 1e308
        ({"q1": 1e308, "q2": 0.5}, {"q1": -1e308, "q2": 0.7}, "differences"),
        # each value and difference is a double, the sum of B's values is not
        ({"q1": 0.1, "q2": 0.2}, {"q1": 1.5e308, "q2": 1.5e308}, "values"),
    ],
)
def test_cli_refuses_scores_that_overflow(
    tmp_path: Path, a: dict[str, float], b: dict[str, float], culprit: str
) -> None:
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(records("fulltext", a)))
    pb.write_text(json.dumps(records("fulltext", b)))
    done = _compare_process(pa, pb, tmp_path / "home")
    assert done.returncode == 6, done.stdout + done.stderr
    assert "nan" not in done.stdout and "Warning" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"query {'q2' if culprit == 'values' else 'q1'!r} (mode 'fulltext')" in lines[0]
    assert f"'ndcg_cut_10' {culprit} overflow a double" in lines[0]
    assert str(pb) in lines[0]


def test_compare_records_refuses_a_value_that_is_not_finite() -> None:
    a = records("fulltext", {"q1": 0.5})
    b = records("fulltext", {"q1": float("inf")})
    with pytest.raises(
        EvalError, match=r"B: query 'q1' \(mode 'fulltext'\): 'ndcg_cut_10' is inf, not a finite number"
    ):
        compare_records(a, b)


def test_the_table_keeps_one_cell_per_metric_whatever_the_files_names(tmp_path: Path) -> None:
    """Mode and metric names are the files' text: a `|` in one must not add a column to the printed table."""
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(records("hy|brid", {"q1": 0.0, "q2": 0.5}, metric="nd|cg\\")))
    pb.write_text(json.dumps(records("hy|brid", {"q1": 1.0, "q2": 0.5}, metric="nd|cg\\")))
    _register_all()
    result = CliRunner().invoke(cli, ["eval", "compare", str(pa), str(pb)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ")]
    header, row = rows[0], rows[1]
    cells = lambda line: [c for c in re.split(r"(?<!\\)\|", line)[1:-1]]  # noqa: E731 - Markdown's own split
    assert len(cells(row)) == len(cells(header)) == 8
    assert cells(row)[0].strip() == "hy\\|brid.nd\\|cg\\\\"


@pytest.mark.parametrize(("field", "value"), [("query", ["q1"]), ("query", None), ("mode", 3)])
def test_a_query_or_mode_that_is_not_a_string_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: object
) -> None:
    """A list as query id was paired as its Python text ("['q1']"); now the file and field are named."""
    rows = records("hybrid", {"q1": 0.5, "q2": 1.0})
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(rows))
    rows[0][field] = value
    pb.write_text(json.dumps(rows))
    code, out, err = run_cli(["eval", "compare", str(pa), str(pb)], capsys)
    assert (code, out) == (6, "")
    assert err == f"error: {pb}: a record's '{field}' is {value!r}, not a string\n"
