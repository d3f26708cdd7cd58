"""The report: summary.json (schemaVersion 1, its JSON Schema, rejected otherwise) and summary.md (snapshot)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from goldkeeper.errors import DataIntegrityError
from goldkeeper.quality.baseline import BaselineStore, RunIdentity
from goldkeeper.quality.gate import run_gate
from goldkeeper.quality.report import (
    build_summary,
    load_summary,
    render_markdown,
    summary_schema,
    validate_summary,
    write_report,
)
from goldkeeper.quality.trend import TrendStore
from quality_support import grounded, identity, policy, write_metrics

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NOW = "2026-11-01T15:00:00Z"


def scenario(tmp_path: Path, ident: RunIdentity | None = None) -> TrendStore:
    """Three runs: a baseline run, an improvement, then a fail (faithfulness drift) with aging pressure."""
    ident = ident or identity()
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    baselines = BaselineStore(tmp_path / "baselines")
    steps = [
        grounded(),
        grounded(relevance=0.7902, citation_coverage=0.8901),
        grounded(relevance=0.7902, citation_coverage=0.8901, faithfulness=0.8712, oldest_evidence_age_ratio=0.86),
    ]
    for i, values in enumerate(steps):
        paths = write_metrics(tmp_path, grounded=values)
        if i == 0:
            from goldkeeper.quality.baseline import load_metrics

            baselines.record(ident, load_metrics(paths))
        if i == 2:
            trend.runs_dir.mkdir(parents=True, exist_ok=True)
            (trend.runs_dir / "README.txt").write_text("notes kept by the operator\n")
        run_gate(
            metrics_paths=paths,
            identity=ident,
            policy=policy(),
            baselines=baselines,
            trend=trend,
            retention_max_runs=200,
            now=T0 + timedelta(hours=i),
        )
    return trend


def test_summary_md_matches_snapshot(tmp_path: Path) -> None:
    trend = scenario(tmp_path, identity(prompt="v1 <b>beta</b> | tuned"))
    text = render_markdown(build_summary(trend, now=NOW))
    snapshot = SNAPSHOTS / "summary.md"
    if os.environ.get("GOLDKEEPER_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8")


def test_empty_summary_md(tmp_path: Path) -> None:
    text = render_markdown(build_summary(TrendStore(tmp_path / "none"), now=NOW))
    assert text.startswith("# AI eval summary\n\n**Status:** no eval runs yet")
    assert "No retention pass has run yet." in text


def test_summary_json_content(tmp_path: Path) -> None:
    files = write_report(scenario(tmp_path))
    summary = json.loads(files.summary_json.read_text())
    assert summary["schemaVersion"] == 1
    assert summary["status"] == "fail" and summary["reviewPriority"] == "regression"
    assert summary["severityHistory"] == ["improved", "regression"] and summary["sparkline"] == "+!"
    assert summary["runCount"] == 3 and summary["previous"]["id"] == "20261101T130000.000000Z"
    assert [w["code"] for w in summary["warnings"]] == ["citation_freshness_aging_pressure"]
    assert summary["retention"]["preserved"] == 1
    faith = next(t for t in summary["trend"] if t["metric"] == "faithfulness")
    assert [p["value"] for p in faith["points"]] == [0.9134, 0.9134, 0.8712]
    assert json.loads(files.schema_json.read_text()) == summary_schema()
    jsonschema.Draft202012Validator.check_schema(summary_schema())
    assert load_summary(files.summary_json) == summary


def test_empty_summary_is_valid(tmp_path: Path) -> None:
    files = write_report(TrendStore(tmp_path / "artifacts" / "evals"))
    summary = load_summary(files.summary_json)
    assert summary["status"] == "empty" and summary["latest"] is None and summary["runCount"] == 0


@pytest.mark.parametrize("version", [0, 2, "1", None, True, 1.5])
def test_consumer_rejects_other_schema_versions(tmp_path: Path, version: object) -> None:
    files = write_report(TrendStore(tmp_path / "artifacts" / "evals"))
    data = json.loads(files.summary_json.read_text())
    data["schemaVersion"] = version
    files.summary_json.write_text(json.dumps(data))
    with pytest.raises(DataIntegrityError, match=r"unsupported summary schemaVersion"):
        load_summary(files.summary_json)


def test_consumer_rejects_missing_schema_version_and_bad_fields(tmp_path: Path) -> None:
    summary = build_summary(TrendStore(tmp_path), now=NOW)
    del summary["schemaVersion"]
    with pytest.raises(DataIntegrityError, match="unsupported summary schemaVersion None"):
        validate_summary(summary)
    summary = build_summary(TrendStore(tmp_path), now=NOW)
    summary["status"] = "green"
    with pytest.raises(DataIntegrityError, match="field status: 'green' is not one of"):
        validate_summary(summary)
