"""The rubric's dataset-level thresholds are gate checks (issue 14, point 3), besides the per-case pass rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run_cli as cli
from goldkeeper.config import load_settings
from goldkeeper.config.sections import RubricParams
from goldkeeper.quality.baseline import BaselineStore
from goldkeeper.quality.gate import GateInputs, evaluate, rubric_thresholds, run_gate
from goldkeeper.quality.policy import parse_policy
from goldkeeper.quality.report import write_report
from goldkeeper.quality.trend import TrendStore
from quality_support import float_metrics, grounded, identity, policy, policy_data, write_metrics, write_tiny_store

REPO_ROOT = Path(__file__).resolve().parent.parent


def gate(metrics: dict[str, float], rubric: dict[str, float]) -> dict:
    return evaluate(GateInputs(metrics, identity(), None, None, [], policy(), rubric=rubric))


def test_faithfulness_below_the_rubric_fails_the_gate_with_a_clear_reason() -> None:
    metrics = {**float_metrics(), "faithfulness": 0.80, "citation_coverage": 0.97, "citation_freshness": 0.99}
    result = gate(metrics, rubric_thresholds(RubricParams()))
    assert result["status"] == "fail" and result["reviewPriority"] == "regression"
    assert [r["code"] for r in result["reasons"]] == ["rubric"]
    reason = result["reasons"][0]
    assert reason["metric"] == "grounded_precision" and reason["value"] == 0.80 and reason["limit"] == 0.95
    assert reason["message"] == (
        "grounded_precision (faithfulness) = 0.8000 is below the rubric's dataset-level threshold 0.95 "
        "(rubric.grounded_precision in params.yaml)"
    )
    assert result["rubric"] == {"citation_coverage": 0.95, "citation_freshness": 0.95, "grounded_precision": 0.95}


def test_every_rubric_threshold_is_checked_and_the_named_metric_wins() -> None:
    metrics = {**float_metrics(), "grounded_precision": 0.90, "faithfulness": 0.99}
    metrics.update(citation_coverage=0.94, citation_freshness=0.93)
    reasons = gate(metrics, rubric_thresholds(RubricParams()))["reasons"]
    assert [(r["metric"], r["value"]) for r in reasons] == [
        ("citation_coverage", 0.94),
        ("citation_freshness", 0.93),
        ("grounded_precision", 0.90),
    ]


def test_at_the_threshold_passes_and_no_grounded_metrics_means_no_rubric_check() -> None:
    metrics = {**float_metrics(), "faithfulness": 0.95, "citation_coverage": 0.95, "citation_freshness": 0.95}
    assert gate(metrics, rubric_thresholds(RubricParams()))["status"] == "pass"
    retrieval_only = {k: v for k, v in float_metrics().items() if k.startswith("hybrid.")}
    strict = rubric_thresholds(RubricParams(grounded_precision=1.0, citation_coverage=1.0, citation_freshness=1.0))
    data = {k: v for k, v in policy_data().items() if not (k.startswith("max") and "Hybrid" not in k)}
    data.update(floors={"hybrid.ndcg_cut_10": 0.5}, lowerIsBetter=[], failFastOnCitationDrift=False)
    data["failFastOnCitationFreshnessDrift"] = False
    only_retrieval_floors = parse_policy(data, source="retrieval-policy.json")
    result = evaluate(GateInputs(retrieval_only, identity(), None, None, [], only_retrieval_floors, rubric=strict))
    assert result["status"] == "pass" and result["reasons"] == []
    # without rubric thresholds (a library caller that passes none) nothing is checked
    assert gate({**float_metrics(), "faithfulness": 0.1, "pass_rate": 0.9}, {})["reasons"][0]["code"] == "floor"


@pytest.fixture
def rubric_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_store(project / "golden")
    (project / "config").mkdir()
    (project / "config" / "regression-policy.json").write_text(
        (REPO_ROOT / "config" / "regression-policy.json").read_text()
    )
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "test-model@sha256:00")
    for var in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GOLDKEEPER_PROMPT_VERSION"):
        monkeypatch.delenv(var, raising=False)
    return project


def test_cli_gate_fails_on_the_rubric_and_params_floors_decide(
    rubric_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_metrics(rubric_project, grounded=grounded(faithfulness=0.80, citation_coverage=0.97, citation_freshness=0.97))
    code, out, err = cli(["gate", "--output", "artifacts/gate.json"], capsys)
    assert code == 10, out + err
    assert "error: gate failed: grounded_precision (faithfulness) = 0.8000 is below the rubric's" in err
    document = json.loads((rubric_project / "artifacts" / "gate.json").read_text())
    assert document["passed"] == 0 and document["rubric"]["grounded_precision"] == 0.95
    # the project's own floors, in params.yaml, decide instead
    (rubric_project / "params.yaml").write_text("rubric:\n  grounded_precision: 0.75\n", encoding="utf-8")
    code, out, err = cli(["gate", "--output", "artifacts/gate.json"], capsys)
    assert code == 0, out + err
    assert json.loads((rubric_project / "artifacts" / "gate.json").read_text())["rubric"]["grounded_precision"] == 0.75


def test_this_projects_rubric_floors_hold_for_its_recorded_metrics() -> None:
    """params.yaml's rubric floors are below the metrics its pipeline recorded, with room for the drift limits."""
    settings = load_settings(REPO_ROOT, env={})
    recorded = json.loads((REPO_ROOT / "metrics" / "grounded.json").read_text())
    thresholds = rubric_thresholds(settings.rubric)
    assert thresholds != rubric_thresholds(RubricParams())  # explicit floors, explained in params.yaml
    for metric, minimum in thresholds.items():
        assert recorded[metric] >= minimum + 0.03, (metric, recorded[metric], minimum)


def test_the_report_shows_the_rubric_thresholds_and_which_failed(tmp_path: Path) -> None:
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    outcome = run_gate(
        metrics_paths=write_metrics(tmp_path, grounded=grounded(citation_coverage=0.80)),
        identity=identity(),
        policy=policy(),
        baselines=BaselineStore(tmp_path / "baselines"),
        trend=trend,
        retention_max_runs=200,
        rubric=rubric_thresholds(RubricParams()),
    )
    assert [r["metric"] for r in outcome.result["reasons"]] == [
        "citation_coverage",
        "citation_freshness",
        "grounded_precision",
    ]
    files = write_report(trend)
    assert files.summary["latest"]["rubric"] == {
        "citation_coverage": 0.95,
        "citation_freshness": 0.95,
        "grounded_precision": 0.95,
    }
    page = files.index_html.read_text()
    assert '<span class="badge fail" data-rubric="citation_coverage">fail (rubric 0.95)</span>' in page
    assert '<span class="badge fail" data-rubric="faithfulness">fail (rubric 0.95)</span>' in page
    assert "citation_coverage = 0.8000 is below the rubric&#x27;s dataset-level threshold 0.95" in page
