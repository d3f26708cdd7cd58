"""The gate: floors, drift against the baseline, fail-fast paths, severity classes, warnings, annotations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_support import run_cli as cli
from goldkeeper.quality.baseline import BaselineStore, load_metrics
from goldkeeper.quality.gate import GateInputs, classify, evaluate, run_gate
from goldkeeper.quality.gate import github_annotations as annotations
from goldkeeper.quality.policy import parse_policy
from goldkeeper.quality.trend import TrendStore
from quality_support import (
    POLICY_FILE,
    float_metrics,
    grounded,
    identity,
    policy,
    policy_data,
    write_metrics,
    write_rubric_floors,
    write_tiny_store,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def metrics(**changes: float) -> dict[str, float]:
    return {**float_metrics(), **changes}


def baseline_with(tmp_path: Path, **changes: float):
    store = BaselineStore(tmp_path / "baselines")
    return store.record(identity(), metrics(**changes))


def run(
    current: dict[str, float],
    *,
    baseline=None,
    previous: dict[str, float] | None = None,
    history=(),
    **policy_changes: Any,
):
    prev = {"id": "20261101T000000.000000Z", "metrics": previous, "gate": {"severity": None}} if previous else None
    return evaluate(
        GateInputs(
            metrics=current,
            identity=identity(),
            baseline=baseline,
            previous=prev,
            history=list(history),
            policy=policy(**policy_changes),
        )
    )


# -- severity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (-0.05, "regression"),
        (-0.02, "regression"),
        (-0.01, "watch"),
        (-0.005, "watch"),
        (-0.004, "stable"),
        (0.0, "stable"),
        (0.004, "stable"),
        (0.005, "improved"),
        (0.2, "improved"),
    ],
)
def test_classify_thresholds(delta: float, expected: str) -> None:
    assert classify(delta, True, policy()) == expected


def test_lower_is_better_flips_the_sign() -> None:
    assert classify(0.05, False, policy()) == "regression"
    assert classify(-0.05, False, policy()) == "improved"


def test_severity_regression(tmp_path: Path) -> None:
    result = run(metrics(relevance=0.74), previous=metrics())
    assert result["severity"] == "regression" and result["reviewPriority"] == "regression"
    row = next(c for c in result["comparisons"] if c["metric"] == "relevance")
    assert row["severity"] == "regression" and row["delta"] == pytest.approx(0.74 - 0.7702)
    assert result["status"] == "pass"  # the policy's drift limits are against the baseline, floors are met


def test_severity_watch() -> None:
    result = run(metrics(**{"hybrid.ndcg_cut_10": 0.805}), previous=metrics())
    assert result["severity"] == "watch" and result["reviewPriority"] == "watch"


def test_severity_stable() -> None:
    result = run(metrics(faithfulness=0.9150), previous=metrics())
    assert result["severity"] == "stable" and result["reviewPriority"] == "stable"
    assert {c["severity"] for c in result["comparisons"]} == {"stable"}


def test_severity_improved() -> None:
    result = run(metrics(faithfulness=0.95), previous=metrics())
    assert result["severity"] == "improved" and result["reviewPriority"] == "improved"


def test_first_run_has_no_severity() -> None:
    result = run(metrics())
    assert result["severity"] is None and result["comparisons"] == [] and result["reviewPriority"] == "none"


def test_severity_history_window() -> None:
    history = [{"gate": {"severity": s}} for s in ["stable", "improved", "watch", "regression", "stable"]]
    result = run(
        metrics(faithfulness=0.95), previous=metrics(), history=history, severityHistoryPolicy={"maxComparisons": 4}
    )
    assert result["severityHistory"] == ["watch", "regression", "stable", "improved"]


# -- floors and drift ----------------------------------------------------------------------------------


def test_passes_with_baseline(tmp_path: Path) -> None:
    result = run(metrics(), baseline=baseline_with(tmp_path))
    assert result["status"] == "pass" and result["reasons"] == [] and result["baselineFound"]


def test_floor_failure() -> None:
    result = run(metrics(pass_rate=0.32))
    assert result["status"] == "fail" and not result["failFast"]
    assert [r["code"] for r in result["reasons"]] == ["floor"]
    assert "pass_rate = 0.3200 is below its floor 0.4" in result["reasons"][0]["message"]


def test_drift_failure(tmp_path: Path) -> None:
    result = run(metrics(faithfulness=0.87), baseline=baseline_with(tmp_path))
    assert result["status"] == "fail"
    assert [(r["code"], r["metric"]) for r in result["reasons"]] == [("drift", "faithfulness")]
    assert "maxFaithfulnessDrop = 0.03" in result["reasons"][0]["message"]


def test_drift_within_limit_passes(tmp_path: Path) -> None:
    assert run(metrics(faithfulness=0.89), baseline=baseline_with(tmp_path))["status"] == "pass"


def test_retrieval_metric_drift_limit(tmp_path: Path) -> None:
    result = run(metrics(**{"hybrid.ndcg_cut_10": 0.80}), baseline=baseline_with(tmp_path), maxHybridNdcgCut10Drop=0.01)
    assert [(r["code"], r["metric"]) for r in result["reasons"]] == [("drift", "hybrid.ndcg_cut_10")]


def test_no_baseline_is_a_warning_unless_required() -> None:
    result = run(metrics())
    assert result["status"] == "pass" and [w["code"] for w in result["warnings"]] == ["no_baseline"]
    required = evaluate(GateInputs(metrics(), identity(), None, None, [], policy(), require_baseline=True))
    assert required["status"] == "fail" and required["reasons"][0]["code"] == "no_baseline"


# -- fail-fast -----------------------------------------------------------------------------------------


def test_fail_fast_on_citation_drift(tmp_path: Path) -> None:
    # faithfulness also breaks its floor: fail-fast stops before that is even checked
    result = run(metrics(citation_accuracy=0.90, faithfulness=0.5), baseline=baseline_with(tmp_path))
    assert result["status"] == "fail" and result["failFast"]
    assert [r["code"] for r in result["reasons"]] == ["citation_drift"]
    assert result["reasons"][0]["message"].startswith("fail-fast: citation_accuracy dropped 0.0512")


def test_fail_fast_on_citation_freshness_drift(tmp_path: Path) -> None:
    result = run(metrics(citation_freshness=0.80, pass_rate=0.1), baseline=baseline_with(tmp_path))
    assert result["status"] == "fail" and result["failFast"]
    assert [r["code"] for r in result["reasons"]] == ["citation_freshness_drift"]


def test_citation_accuracy_fails_fast_before_freshness(tmp_path: Path) -> None:
    result = run(metrics(citation_accuracy=0.90, citation_freshness=0.80), baseline=baseline_with(tmp_path))
    assert [r["code"] for r in result["reasons"]] == ["citation_drift"]


def test_fail_fast_disabled_reports_every_failure(tmp_path: Path) -> None:
    result = run(
        metrics(citation_accuracy=0.90, faithfulness=0.5),
        baseline=baseline_with(tmp_path),
        failFastOnCitationDrift=False,
    )
    assert not result["failFast"]
    assert sorted((r["code"], r["metric"]) for r in result["reasons"]) == [
        ("drift", "citation_accuracy"),
        ("drift", "faithfulness"),
        ("floor", "faithfulness"),
    ]


# -- aging pressure ------------------------------------------------------------------------------------


def test_aging_pressure_when_freshness_flat() -> None:
    result = run(metrics(oldest_evidence_age_ratio=0.85), previous=metrics(oldest_evidence_age_ratio=0.7))
    codes = [w["code"] for w in result["warnings"]]
    assert "citation_freshness_aging_pressure" in codes
    assert result["freshness"]["agingPressure"] is True and result["freshness"]["agingThreshold"] == 0.8


def test_no_aging_pressure_below_threshold_or_when_freshness_drops() -> None:
    below = run(metrics(oldest_evidence_age_ratio=0.5), previous=metrics())
    assert not below["freshness"]["agingPressure"]
    dropped = run(metrics(citation_freshness=0.85, oldest_evidence_age_ratio=0.9), previous=metrics())
    assert not dropped["freshness"]["agingPressure"]
    assert "citation_freshness_aging_pressure" not in [w["code"] for w in dropped["warnings"]]


# -- annotations ---------------------------------------------------------------------------------------


def test_annotations_for_regression_and_failure(tmp_path: Path) -> None:
    result = run(metrics(faithfulness=0.65), previous=metrics(), baseline=baseline_with(tmp_path))
    lines = annotations(result)
    assert lines[0].startswith("::warning title=AI eval regression::Review priority is regression. ")
    assert "faithfulness 0.9134 -> 0.6500 (-0.2634, regression)" in lines[0]
    assert lines[1].startswith(
        "::error title=AI eval gate failed::faithfulness = 0.6500 is below its floor 0.7; faithfulness dropped 0.2634"
    )
    assert all("\n" not in line for line in lines)


def test_annotations_for_watch_and_none_for_stable() -> None:
    watch = annotations(run(metrics(relevance=0.7602), previous=metrics()))
    assert watch == [
        "::warning title=AI eval watch::Review priority is watch. current-run vs previous-run. Review severity%3A "
        "watch. 1 metric(s) worse than the previous run%3A relevance 0.7702 -> 0.7602 (-0.0100, watch)."
    ]
    assert annotations(run(metrics(), previous=metrics())) == []


def test_annotation_text_is_escaped() -> None:
    result = run(metrics(**{"hybrid.ndcg_cut_10": 0.75}), previous=metrics())
    result["reasons"] = [
        {"code": "floor", "metric": "x", "value": 0.0, "limit": 1.0, "message": "50% down\nsecond line"}
    ]
    result["status"] = "fail"
    line = annotations(result)[-1]
    assert line == "::error title=AI eval gate failed::50%25 down%0Asecond line"


# -- the operation and the CLI -------------------------------------------------------------------------


def test_run_gate_records_runs_and_compares_with_previous(tmp_path: Path) -> None:
    paths = write_metrics(tmp_path)
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    baselines = BaselineStore(tmp_path / "baselines")
    first = run_gate(
        metrics_paths=paths,
        identity=identity(),
        policy=policy(),
        baselines=baselines,
        trend=trend,
        retention_max_runs=10,
        now=T0,
    )
    assert first.passed and first.result["severity"] is None
    write_metrics(tmp_path, grounded=grounded(relevance=0.70))
    second = run_gate(
        metrics_paths=paths,
        identity=identity(),
        policy=policy(),
        baselines=baselines,
        trend=trend,
        retention_max_runs=10,
        now=T0 + timedelta(hours=1),
    )
    assert second.result["severity"] == "regression" and second.result["previousRunId"] == first.run["id"]
    assert [r["id"] for r in trend.runs()] == [first.run["id"], second.run["id"]]
    assert "cases" not in second.run["metrics"] and second.run["metrics"]["relevance"] == 0.70


def test_no_baseline_names_the_newest_baseline_of_the_dataset_and_what_differs(tmp_path: Path) -> None:
    """A baseline recorded before the dataset changed is not compared with: the warning says which one it was."""
    paths = write_metrics(tmp_path)
    baselines = BaselineStore(tmp_path / "baselines")

    def no_baseline_message() -> str:
        outcome = run_gate(
            metrics_paths=paths,
            identity=identity(),
            policy=policy(),
            baselines=baselines,
            trend=TrendStore(tmp_path / "evals"),
            retention_max_runs=10,
            record=False,
        )
        return next(w["message"] for w in outcome.result["warnings"] if w["code"] == "no_baseline")

    assert no_baseline_message().startswith(f"no baseline for this identity ({identity().key}); drift checks")
    older = baselines.record(identity().model_copy(update={"dataset_version": "0" * 64}), metrics())
    assert (
        f"({identity().key}; the newest baseline of squad-v2-dev-12, {older.key} recorded {older.recorded_at}, "
        "has another datasetVersion); drift checks skipped" in no_baseline_message()
    )


_GATES = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from goldkeeper.quality.baseline import BaselineStore
from goldkeeper.quality.gate import run_gate
from goldkeeper.quality.trend import TrendStore
from quality_support import identity, policy
root = Path(sys.argv[1])
paths = [root / "metrics" / "retrieval.json", root / "metrics" / "grounded.json"]
for _ in range(int(sys.argv[3])):
    run_gate(metrics_paths=paths, identity=identity(), policy=policy(), baselines=BaselineStore(root / "baselines"),
             trend=TrendStore(root / "artifacts" / "evals"), retention_max_runs=1000)
"""


def test_gates_run_at_once_keep_every_run(tmp_path: Path) -> None:
    # each gate wrote the index it had read plus its own run: a run of the other gate was dropped from the
    # index, and its file pruned as an orphan by the next retention (2 of 45 `goldkeeper gate` runs, 3 at once)
    write_metrics(tmp_path)
    tests_dir = str(Path(__file__).parent)
    gates = [
        subprocess.Popen([sys.executable, "-c", _GATES, str(tmp_path), tests_dir, "15"], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [gate.communicate()[1] for gate in gates]
    assert all(gate.returncode == 0 for gate in gates), errors
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    assert len(trend.index()["runs"]) == 60 and len(list(trend.runs_dir.iterdir())) == 60
    assert [p.name for p in trend.root.iterdir() if p.name.startswith(".")] == []  # no lock file left


def test_load_metrics_rejects_conflicts_and_missing_files(tmp_path: Path) -> None:
    from goldkeeper.errors import EvalError

    paths = write_metrics(tmp_path, retrieval={"faithfulness": 0.1})
    with pytest.raises(EvalError, match="metric 'faithfulness' is also in"):
        load_metrics(paths)
    with pytest.raises(EvalError, match="metrics file not found"):
        load_metrics([tmp_path / "nope.json"])
    # a key given twice: json keeps the last value, so one of the two was gated without a word
    (tmp_path / "twice.json").write_text('{"faithfulness": 0.91, "faithfulness": 0.1}')
    with pytest.raises(EvalError, match="twice.json: metrics file is not valid JSON: duplicate key 'faithfulness'"):
        load_metrics([tmp_path / "twice.json"])


@pytest.fixture
def gate_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_store(project / "golden")
    write_metrics(project)
    write_rubric_floors(project)
    (project / "config").mkdir()
    shutil.copy(POLICY_FILE, project / "config" / "regression-policy.json")
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "test-model@sha256:00")
    for var in (
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GOLDKEEPER_PROMPT_VERSION",
        "GOLDKEEPER_EVAL_RETENTION_MAX_RUNS",
    ):
        monkeypatch.delenv(var, raising=False)
    return project


def test_cli_gate_exit_codes_and_github_output(
    gate_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(["baseline", "record"], capsys)[0] == 0
    code, out, _ = cli(["gate"], capsys)
    assert code == 0 and "gate: PASS" in out and "dashboard:" in out
    write_metrics(gate_project, grounded=grounded(citation_accuracy=0.91))
    step_summary = gate_project / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    code, out, err = cli(["gate", "--output", "artifacts/gate.json"], capsys)
    assert code == 10
    assert "error: gate failed: fail-fast: citation_accuracy dropped" in err
    assert "::warning title=AI eval regression::Review priority is regression." in out
    assert "::error title=AI eval gate failed::fail-fast: citation_accuracy" in out
    summary = step_summary.read_text()
    assert summary.startswith("# AI eval summary") and "**Status:** FAIL (fail-fast)" in summary
    assert summary == (gate_project / "artifacts" / "evals" / "summary.md").read_text() + "\n"
    gate_json = json.loads((gate_project / "artifacts" / "gate.json").read_text())
    assert gate_json["passed"] == 0 and gate_json["failFast"] is True


def test_cli_gate_json_on_github_actions_is_one_json_document(
    gate_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gate --json` on GitHub Actions: the annotations on stderr (the runner reads them there too), never after
    the JSON on stdout (`json.loads` of stdout failed: Extra data)."""
    write_metrics(gate_project, grounded=grounded(faithfulness=0.5))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, err = cli(["gate", "--no-record", "--json"], capsys)
    assert code == 10 and json.loads(out)["status"] == "fail"
    assert "::warning title=AI eval regression::" in err and "::error title=AI eval gate failed::" in err


def test_a_previous_run_without_a_metric_in_common_is_not_called_a_first_run(
    gate_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The metrics files changed completely: no severity, but there was a previous run (it said `first run`)."""
    assert cli(["gate"], capsys)[0] == 0
    write_metrics(gate_project, retrieval={"other.ndcg": 0.5}, grounded={"other.f1": 0.5})
    code, out, _ = cli(["gate"], capsys)
    why = "n/a (no metric in common with the previous run)"
    assert code == 10 and f"severity vs previous run: {why};" in out and "first run" not in out
    evals = gate_project / "artifacts" / "evals"
    assert f"**Severity vs previous run:** {why}" in (evals / "summary.md").read_text()
    assert f'<span id="severity">{why}</span>' in (evals / "index.html").read_text()


def test_cli_gate_malformed_policy_exits_3(gate_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy_file = gate_project / "config" / "regression-policy.json"
    policy_file.write_text(policy_file.read_text().replace('"maxComparisons": 20', '"maxComparisons": "20"'))
    code, _, err = cli(["gate"], capsys)
    assert code == 3
    assert "regression-policy.json: severityHistoryPolicy.maxComparisons: Input should be a valid integer" in err
    assert not (gate_project / "artifacts").exists()


def test_cli_retention_options_and_report(
    gate_project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = gate_project / "artifacts" / "evals" / "runs"
    for _ in range(3):
        assert cli(["gate"], capsys)[0] == 0
    (runs / "operator-notes.md").write_text("kept\n")
    monkeypatch.setenv("GOLDKEEPER_EVAL_RETENTION_MAX_RUNS", "2")
    code, out, _ = cli(["gate", "--retention-dry-run"], capsys)
    assert code == 0 and "retention (dry-run, max 2): retained 2, orphaned 2, deleted 0, preserved 1" in out
    assert len(list(runs.glob("*.json"))) == 4
    code, _, err = cli(["gate", "--retention-max-runs", "0"], capsys)  # a bad argument: exit 2 (was 3, config)
    assert code == 2 and "Invalid value for '--retention-max-runs': 0 is not in the range x>=1" in err
    code, out, _ = cli(["gate", "--retention-max-runs", "1", "--json"], capsys)
    document = json.loads(out)
    assert document["retention"]["mode"] == "delete" and document["retention"]["deleted"] == 4
    assert sorted(p.name for p in runs.iterdir()) == [f"{document['runId']}.json", "operator-notes.md"]
    code, out, _ = cli(["gate", "--no-record"], capsys)
    assert code == 0 and len(list(runs.glob("*.json"))) == 1
    code, out, _ = cli(["report", "--json"], capsys)
    written = json.loads(out)
    assert code == 0 and written["summary"]["runCount"] == 1
    assert (
        "Mode delete, keep at most 1 runs: retained 1, orphaned 4, deleted 4, preserved 1."
        in Path(written["summaryMarkdown"]).read_text()
    )
    assert Path(written["dashboard"]).read_text().startswith("<!DOCTYPE html>")


def test_a_lower_is_better_name_the_run_lacks_fails_the_verdict(tmp_path: Path) -> None:
    """A misspelt lowerIsBetter entry made the metric higher-is-better: its rise against the baseline passed."""
    base = baseline_with(tmp_path)
    worse = metrics(oldest_evidence_age_ratio=0.60)
    typo = run(worse, baseline=base, lowerIsBetter=["oldest_evidence_age_ratoi"], maxOldestEvidenceAgeRatioDrop=0.1)
    assert [(r["code"], r["metric"]) for r in typo["reasons"]] == [
        ("policy_metric_missing", "lowerIsBetter.oldest_evidence_age_ratoi")
    ]
    assert "lowerIsBetter: no metric 'oldest_evidence_age_ratoi' in the current run" in typo["reasons"][0]["message"]
    # the default list (the key absent) names a grounded metric: a run without that metric is not failed for it
    default = parse_policy({k: v for k, v in policy_data().items() if k != "lowerIsBetter"})
    retrieval_only = {k: v for k, v in metrics().items() if k != "oldest_evidence_age_ratio"}
    result = evaluate(GateInputs(retrieval_only, identity(), None, None, [], default))
    assert default.lower_is_better == ["oldest_evidence_age_ratio"] and result["status"] == "pass"


def test_drift_of_a_lower_is_better_metric(tmp_path: Path) -> None:
    base = baseline_with(tmp_path)
    worse = run(metrics(oldest_evidence_age_ratio=0.60), baseline=base, maxOldestEvidenceAgeRatioDrop=0.1)
    assert [(r["code"], r["metric"]) for r in worse["reasons"]] == [("drift", "oldest_evidence_age_ratio")]
    assert "oldest_evidence_age_ratio worsened 0.1900" in worse["reasons"][0]["message"]
    better = run(metrics(oldest_evidence_age_ratio=0.10), baseline=base, maxOldestEvidenceAgeRatioDrop=0.1)
    assert better["status"] == "pass"


def test_identity_change_against_the_previous_run_is_a_warning() -> None:
    previous = {
        "id": "r1",
        "metrics": metrics(),
        "identity": identity(prompt="v0").as_json(),
        "gate": {"severity": None},
    }
    result = evaluate(GateInputs(metrics(), identity(), None, previous, [], policy()))
    changed = [w for w in result["warnings"] if w["code"] == "identity_changed"]
    assert changed and "another promptVersion" in changed[0]["message"]
    same = dict(previous, identity=identity().as_json())
    assert "identity_changed" not in [
        w["code"] for w in evaluate(GateInputs(metrics(), identity(), None, same, [], policy()))["warnings"]
    ]


def test_a_run_file_deleted_by_hand_names_its_index_entry_and_the_fix(
    gate_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every later gate failed with `eval run not found` (exit 5), not saying which index entry named the file
    nor how to get out of it."""
    for _ in range(2):
        assert cli(["gate"], capsys)[0] == 0
    evals = gate_project / "artifacts" / "evals"
    index = evals / "trend-index.json"
    before = index.read_bytes()
    first = sorted((evals / "runs").glob("*.json"))[0]
    first.unlink()
    expected = (
        f"error: {first}: eval run not found; {index} names it (runs[0], id {first.stem}): restore the file "
        f"(from Git: `git checkout -- {first}`) or delete that entry from the trend index\n"
    )
    for argv in (["gate"], ["report"]):
        code, out, err = cli(argv, capsys)
        assert (code, out, err) == (5, "", expected), argv
    assert index.read_bytes() == before  # nothing recorded or pruned
    data = json.loads(before)
    index.write_text(json.dumps({**data, "runs": data["runs"][1:]}))  # the fix the message names
    assert cli(["gate"], capsys)[0] == 0


def test_report_or_serve_of_a_dir_without_eval_runs_is_one_line_and_exit_2(
    gate_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --dir TYPO` wrote an empty dashboard into a new folder and `serve --dir TYPO` served one, exit 0."""
    assert cli(["gate"], capsys)[0] == 0
    (gate_project / "notes").mkdir()
    for folder in ("artifacts/evlas", "notes"):
        for argv in (["report", "--dir", folder], ["serve", "--port", "0", "--dir", folder]):
            code, out, err = cli(argv, capsys)
            assert (code, out) == (2, ""), argv
            assert err == (
                f"error: --dir {folder}: no eval runs there (no trend-index.json in {gate_project / folder}): "
                "name the folder `goldkeeper gate` records its runs in (report.dir: artifacts/evals)\n"
            ), argv
    assert not (gate_project / "artifacts" / "evlas").exists() and not any((gate_project / "notes").iterdir())
    code, out, _ = cli(["report", "--dir", "artifacts/evals"], capsys)  # the folder gate wrote: rendered
    assert code == 0 and "report: 1 run(s)" in out
