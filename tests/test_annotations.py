"""GitHub annotations in the seed's form, from a live gate and from a recorded gate result (the PR workflow's
last step: `goldkeeper gate --annotations artifacts/gate.json`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_support import run_cli as cli
from goldkeeper.quality.gate import GateInputs, evaluate, github_annotations
from quality_support import (
    POLICY_FILE,
    float_metrics,
    grounded,
    identity,
    policy,
    write_metrics,
    write_rubric_floors,
    write_tiny_store,
)

SEED_WATCH = (
    "::warning title=AI eval watch::Review priority is watch. current-run vs previous-run. Review severity%3A watch."
)


@pytest.fixture
def gate_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_store(project / "golden")
    write_metrics(project)
    write_rubric_floors(project)
    (project / "config").mkdir()
    shutil.copy(POLICY_FILE, project / "config" / "regression-policy.json")
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "test-model@sha256:00")
    for var in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GOLDKEEPER_PROMPT_VERSION"):
        monkeypatch.delenv(var, raising=False)
    return project


def test_watch_annotation_follows_the_seed_form() -> None:
    previous = {"id": "20261101T000000.000000Z", "metrics": float_metrics(), "gate": {"severity": None}}
    current = {**float_metrics(), "relevance": 0.7602}
    verdict = evaluate(GateInputs(current, identity(), None, previous, [previous], policy()))
    lines = github_annotations({**verdict, "runId": "20261102T000000.000000Z"})
    assert len(lines) == 1 and lines[0].startswith(SEED_WATCH + " ")
    assert lines[0] == (
        SEED_WATCH + " Runs%3A 20261102T000000.000000Z vs 20261101T000000.000000Z. 1 metric(s) worse than the "
        "previous run%3A relevance 0.7702 -> 0.7602 (-0.0100, watch)."
    )


def test_aging_pressure_without_previous_run_is_watch_and_says_so() -> None:
    verdict = evaluate(
        GateInputs({**float_metrics(), "oldest_evidence_age_ratio": 0.9}, identity(), None, None, [], policy())
    )
    (line,) = github_annotations(verdict)
    assert line.startswith(
        "::warning title=AI eval watch::Review priority is watch. current-run (no previous run). "
        "Review severity%3A watch. citation freshness is flat or improved"
    )


def test_recorded_gate_result_is_annotated_and_enforced(gate_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["gate"], capsys)[0] == 0
    write_metrics(gate_project, grounded=grounded(relevance=0.7602))
    assert cli(["gate", "--no-report", "--output", "artifacts/gate.json"], capsys)[0] == 0
    document = json.loads((gate_project / "artifacts" / "gate.json").read_text())
    code, out, err = cli(["gate", "--annotations", "artifacts/gate.json"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "gate: PASS; review priority watch (artifacts/gate.json)"
    assert lines[1] == (
        f"{SEED_WATCH} Runs%3A {document['runId']} vs {document['previousRunId']}. 1 metric(s) worse than the "
        "previous run%3A relevance 0.7702 -> 0.7602 (-0.0100, watch)."
    )
    assert len(list((gate_project / "artifacts" / "evals" / "runs").glob("*.json"))) == 2  # it did not gate again

    write_metrics(gate_project, grounded=grounded(relevance=0.40))
    assert cli(["gate", "--no-report", "--output", "artifacts/gate.json"], capsys)[0] == 10
    code, out, err = cli(["gate", "--annotations", "artifacts/gate.json"], capsys)
    assert code == 10 and "error: gate failed: relevance = 0.4000 is below its floor 0.5" in err
    assert "::warning title=AI eval regression::Review priority is regression. current-run vs previous-run. " in out
    assert "::error title=AI eval gate failed::relevance = 0.4000 is below its floor 0.5" in out


def test_a_file_that_is_no_gate_result_is_exit_5(gate_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (gate_project / "other.json").write_text('{"passed": 1}')
    code, _, err = cli(["gate", "--annotations", "other.json"], capsys)
    assert code == 5 and "not a gate result (`goldkeeper gate --output`): status missing" in err
    code, _, err = cli(["gate", "--annotations", "missing.json"], capsys)
    assert code == 5 and "gate result not found" in err


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"reviewPriority": "watch\n::error::injected \x1b[2J"}, "reviewPriority is none of"),
        ({"status": "failed"}, "status is none of pass, fail"),
        ({"reasons": [1]}, "reasons[0].code missing or of the wrong type"),
        ({"reasons": [{"code": "c", "message": 5}]}, "reasons[0].message missing or of the wrong type"),
        ({"warnings": [{"code": 1, "message": "x"}]}, "warnings[0].code missing or of the wrong type"),
        ({"comparisons": [{}]}, "comparisons[0].metric missing or of the wrong type"),
        (
            {"comparisons": [{"metric": "m", "severity": "watch", "previous": "a", "latest": 1, "delta": 1}]},
            "comparisons[0].previous missing or of the wrong type",
        ),
    ],
)
def test_a_gate_result_with_foreign_values_is_exit_5_and_nothing_of_it_is_printed(
    gate_project: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], named: str
) -> None:
    # a recorded document's text reaches the CI log: a raw newline there starts a workflow command
    document = {"status": "fail", "reviewPriority": "watch", "reasons": [{"code": "c", "message": "m"}], "warnings": []}
    (gate_project / "gate.json").write_text(json.dumps({**document, "comparisons": [], **change}))
    code, out, err = cli(["gate", "--annotations", "gate.json"], capsys)
    assert code == 5, err
    assert out == "" and f"gate.json: not a gate result (`goldkeeper gate --output`): {named}" in err
    assert "\x1b" not in err and len(err.splitlines()) == 1


def test_annotations_show_the_controls_of_metric_names_escaped() -> None:
    # metric names come from the metrics files: ESC or a bidi override reached the CI log and the annotation raw
    hostile = "x\x1b[2J\u202eliaf\r\n::error::forged"
    previous = {"id": "20261101T000000.000000Z", "metrics": {hostile: 0.9}, "gate": {"severity": None}}
    verdict = evaluate(GateInputs({hostile: 0.5}, identity(), None, previous, [previous], policy()))
    lines = github_annotations({**verdict, "runId": "20261102T000000.000000Z"})
    assert lines and all(line.isprintable() for line in lines), lines
    assert "x\\x1b[2J\\u202eliaf%0D%0A%3A%3Aerror%3A%3Aforged 0.9000 -> 0.5000" in lines[0]
