"""DVC's own views stay readable: metrics files hold metrics only, and the retrieval plot is one
percentile curve per mode (101 points whatever the number of queries)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from goldkeeper.config import RetrievalParams
from goldkeeper.evals.metrics import evaluate
from goldkeeper.evals.retrieval import ModeResult, RetrievalResult, headline_measures, ndcg_percentiles, write_outputs


def result_with(n_queries: int, k: int = 10) -> RetrievalResult:
    """A real evaluation of a synthetic run: query i finds its one relevant chunk at rank i % 15 + 1."""
    qrels = {f"q{i}": {f"c{i}": 1} for i in range(n_queries)}
    modes = []
    for mode, shift in (("vector", 0), ("hybrid", 3)):
        run = {
            f"q{i}": {**{f"x{j}": 1.0 - j / 100 for j in range(20)}, f"c{i}": 1.0 - ((i + shift) % 15) / 100 + 0.005}
            for i in range(n_queries)
        }
        report = evaluate(qrels, run, headline_measures(k), complete=True)
        modes.append(ModeResult(mode, report, run))
    return RetrievalResult(RetrievalParams(), k, modes, qrels, n_queries, 0, 0, "model", 10)


def test_the_plot_is_101_sorted_points_per_mode_for_any_number_of_queries(tmp_path: Path) -> None:
    result = result_with(2500)
    written = write_outputs(
        result, tmp_path / "m.json", tmp_path / "pq.json", tmp_path / "trec", plots_dir=tmp_path / "plots"
    )
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["ndcg-hybrid.json", "ndcg-vector.json"]
    assert written["plot.vector"] == tmp_path / "plots" / "ndcg-vector.json"
    for mode in result.modes:
        points = json.loads((tmp_path / "plots" / f"ndcg-{mode.mode}.json").read_text())
        assert [p["percentile"] for p in points] == list(range(101))
        values = [p["ndcg_at_k"] for p in points]
        assert values == sorted(values)
        per_query = np.asarray(mode.report.per_query["ndcg_cut_10"])
        assert values[0] == round(float(per_query.min()), 6) and values[-1] == round(float(per_query.max()), 6)
        assert values[50] == round(float(np.sort(per_query)[1249]), 6)  # the median query (inverted cdf)
    assert ndcg_percentiles(result, result.modes[0]) == json.loads((tmp_path / "plots/ndcg-vector.json").read_text())
    # a mode no longer evaluated leaves no stale plot behind
    write_outputs(
        result_with(3),
        tmp_path / "m.json",
        tmp_path / "pq.json",
        tmp_path / "trec",
        plots_dir=tmp_path / "plots",
    )
    (tmp_path / "plots" / "ndcg-fulltext.json").write_text("[]")
    (tmp_path / "plots" / "ndcg-my-notes.json").write_text("{}")  # the user's file: not a name goldkeeper writes
    write_outputs(result, tmp_path / "m.json", tmp_path / "pq.json", tmp_path / "trec", plots_dir=tmp_path / "plots")
    assert not (tmp_path / "plots" / "ndcg-fulltext.json").exists()
    assert (tmp_path / "plots" / "ndcg-my-notes.json").read_text() == "{}"


def test_k_stable_names_equal_the_k_named_ones() -> None:
    metrics = result_with(40, k=5).metrics()
    for mode in ("vector", "hybrid"):
        assert metrics[f"{mode}.ndcg_at_k"] == metrics[f"{mode}.ndcg_cut_5"]
        assert metrics[f"{mode}.P_at_k"] == metrics[f"{mode}.P_5"]
        assert metrics[f"{mode}.recall_at_k"] == metrics[f"{mode}.recall_5"]
        assert metrics[f"{mode}.pass_rate_at_k"] == metrics[f"{mode}.pass_rate_5"] == metrics[f"{mode}.success_at_k"]
    assert metrics["k"] == 5


def test_gate_metrics_output_holds_numbers_only(project: Path, capsys, monkeypatch) -> None:
    import shutil

    from cli_support import run_cli
    from quality_support import POLICY_FILE, write_metrics, write_tiny_store

    write_tiny_store(project / "golden")
    write_metrics(project)
    # the test metrics (faithfulness 0.91) pass the policy; the rubric's dataset-level floors are set to match
    rubric = "rubric:\n  grounded_precision: 0.85\n  citation_coverage: 0.85\n  citation_freshness: 0.85\n"
    (project / "params.yaml").write_text(rubric)
    (project / "config").mkdir()
    shutil.copy(POLICY_FILE, project / "config" / "regression-policy.json")
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "test-model@sha256:00")
    for var in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GOLDKEEPER_PROMPT_VERSION"):
        monkeypatch.delenv(var, raising=False)
    args = ["gate", "--no-report", "--output", "artifacts/gate.json", "--metrics-output", "metrics/gate.json"]
    code, _, _ = run_cli(args, capsys)
    assert code == 0
    document = json.loads((project / "artifacts/gate.json").read_text())
    numbers = json.loads((project / "metrics/gate.json").read_text())
    assert numbers == {
        "passed": 1,
        "failFast": 0,
        "reasons": 0,
        "warnings": len(document["warnings"]),
    }
    assert {"runId", "runPath", "retention"} <= set(document)  # they stay in the full document
