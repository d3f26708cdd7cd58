"""`eval compare`: deltas, wins/ties/losses and the paired randomization test on hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

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
