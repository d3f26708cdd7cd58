"""summary.json (schemaVersion 1): built from the trend, validated against its JSON Schema.

Nothing here computes a verdict: the gate stored it in each run, and the summary copies it.
``load_summary`` is the consumer side: it rejects any schemaVersion other than
:data:`SUMMARY_SCHEMA_VERSION` and anything the JSON Schema does not allow.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from goldkeeper.errors import DataIntegrityError
from goldkeeper.fileio import read_json
from goldkeeper.quality.gate import SPARK
from goldkeeper.quality.report.notes import review_reasons, severity_counts, what_changed
from goldkeeper.quality.trend import TrendStore

SUMMARY_SCHEMA_VERSION = 1
SUMMARY_FILES = ("summary.json", "summary.schema.json", "summary.md", "index.html")


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of summary.json (shipped in goldkeeper/quality/dashboard/)."""
    text = resources.files("goldkeeper.quality").joinpath("dashboard/summary.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def build_summary(trend: TrendStore, now: str | None = None) -> dict[str, Any]:
    """The summary of the runs in the trend (an explicit empty summary when there are none), read under the trend's
    shared lock: a gate writing meanwhile is seen before or after, never half done."""
    with trend.locked(shared=True):
        return summarize(trend.runs(), trend.index().get("retention"), now=now)


def summarize(runs: list[dict[str, Any]], retention: dict[str, Any] | None, now: str | None = None) -> dict[str, Any]:
    """The summary of ``runs`` (oldest first) and the last retention report.

    ``generatedAt`` is ``now`` when given, else the timestamp of the newest run ("" without runs): never
    the render time, so re-rendering an unchanged trend writes the same bytes (a committed report stays clean).
    """
    summary = _empty_summary(len(runs), retention, now or (runs[-1]["timestamp"] if runs else ""))
    if not runs:
        return summary
    latest = runs[-1]
    gate = latest["gate"]
    previous = next((r for r in reversed(runs[:-1]) if r["id"] == gate.get("previousRunId")), None)
    summary.update(
        status=gate["status"],
        reviewPriority=gate["reviewPriority"],
        latest=_latest_run(latest),
        previous=_previous_run(runs[:-1], gate.get("previousRunId")),
        severity=gate["severity"],
        severityHistory=list(gate["severityHistory"]),
        sparkline="".join(SPARK[s] for s in gate["severityHistory"]),
        diff=gate["comparisons"],
        warnings=gate["warnings"],
        freshness=gate["freshness"],
        trend=_trend(runs, sorted(latest["metrics"])),
        severityCounts=severity_counts(list(gate["severityHistory"])),
        reviewReasons=review_reasons(gate),
        changes=what_changed(latest, previous),
    )
    return summary


def _empty_summary(run_count: int, retention: dict[str, Any] | None, generated_at: str) -> dict[str, Any]:
    """Every key of a summary, in the order summary.json has always listed them, with no run in it."""
    return {
        "schemaVersion": SUMMARY_SCHEMA_VERSION,
        "generatedAt": generated_at,
        "status": "empty",
        "reviewPriority": "none",
        "runCount": run_count,
        "latest": None,
        "previous": None,
        "severity": None,
        "severityHistory": [],
        "sparkline": "",
        "diff": [],
        "warnings": [],
        "freshness": None,
        "trend": [],
        "retention": retention,
        "retentionPruneReport": retention,
        "severityCounts": severity_counts([]),
        "reviewReasons": [],
        "changes": [],
    }


def _latest_run(run: dict[str, Any]) -> dict[str, Any]:
    """The latest run with the parts of its stored gate verdict that the report shows."""
    gate = run["gate"]
    return {
        "id": run["id"],
        "timestamp": run["timestamp"],
        "identity": run["identity"],
        "metrics": run["metrics"],
        "status": gate["status"],
        "failFast": gate["failFast"],
        "reasons": gate["reasons"],
        "floors": gate.get("floors", {}),
        "rubric": gate.get("rubric", {}),
        "baselineKey": gate["baselineKey"],
        "baselineFound": gate["baselineFound"],
    }


def _previous_run(earlier: list[dict[str, Any]], run_id: str | None) -> dict[str, Any] | None:
    """The run the gate compared with (newest match first); None when it is gone or there was none."""
    previous = next((r for r in reversed(earlier) if r["id"] == run_id), None)
    if previous is None:
        return None
    return {"id": previous["id"], "timestamp": previous["timestamp"], "metrics": previous["metrics"]}


def _trend(runs: list[dict[str, Any]], metrics: list[str]) -> list[dict[str, Any]]:
    """One series per metric of the latest run, with a point for every run that has that metric."""
    return [
        {
            "metric": metric,
            "points": [
                {"runId": r["id"], "timestamp": r["timestamp"], "value": r["metrics"][metric]}
                for r in runs
                if metric in r["metrics"]
            ],
        }
        for metric in metrics
    ]


def validate_summary(data: Any, source: str = "summary") -> dict[str, Any]:
    """Accept a summary only in schemaVersion 1 and only as its JSON Schema allows."""
    if not isinstance(data, dict):
        raise DataIntegrityError(f"{source}: a summary must be a JSON object")
    version = data.get("schemaVersion")
    if version != SUMMARY_SCHEMA_VERSION or isinstance(version, bool):
        raise DataIntegrityError(
            f"{source}: unsupported summary schemaVersion {version!r} (this goldkeeper reads {SUMMARY_SCHEMA_VERSION})",
            field="schemaVersion",
        )
    import jsonschema  # noqa: PLC0415 - start-up: 0.16 s, and `import goldkeeper.cli` loads this module

    try:
        jsonschema.validate(data, summary_schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise DataIntegrityError(f"{source}: field {where}: {exc.message}", field=where) from exc
    return data


def load_summary(path: Path) -> dict[str, Any]:
    """Read summary.json as a consumer: other schema versions are rejected."""
    return validate_summary(read_json(path, "summary"), source=str(path))


__all__ = [
    "SUMMARY_FILES",
    "SUMMARY_SCHEMA_VERSION",
    "build_summary",
    "load_summary",
    "summarize",
    "summary_schema",
    "validate_summary",
]
