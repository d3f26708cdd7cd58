"""The summary's notes for a reviewer: why the review priority, what changed, how severities were spread.

Descriptions of what the gate stored in each run (its verdict, comparisons and warnings): nothing
here judges a run again.
"""

from __future__ import annotations

from typing import Any

from goldkeeper.quality.gate import AGING_WARNING, SEVERITIES

#: worst first: the order the dashboard lists metrics and changes in
SEVERITY_RANK = {"regression": 0, "watch": 1, "improved": 2, "stable": 3}
_IDENTITY_LABELS = {
    "datasetId": "dataset",
    "datasetVersion": "dataset version",
    "modelVersion": "model version",
    "promptVersion": "prompt version",
}


def severity_counts(history: list[str]) -> dict[str, int]:
    """How many runs of the severity history (the policy window) had each severity."""
    return {level: history.count(level) for level in SEVERITIES}


def _change(row: dict[str, Any]) -> str:
    return f"{row['metric']} {row['previous']:.4f} -> {row['latest']:.4f} ({row['delta']:+.4f}, {row['severity']})"


def by_severity(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comparison rows worst first (regression, watch, improved, stable), then by metric name."""
    return sorted(rows, key=lambda r: (SEVERITY_RANK.get(r["severity"], len(SEVERITY_RANK)), r["metric"]))


def review_reasons(gate: dict[str, Any]) -> list[str]:
    """One sentence per reason the stored verdict's review priority is what it is."""
    priority, severity = gate["reviewPriority"], gate["severity"]
    reasons = [f"the gate failed: {r['message']}" for r in gate["reasons"]]
    worse = [r for r in by_severity(gate["comparisons"]) if r["severity"] in ("regression", "watch")]
    reasons += [f"worse than the previous run: {_change(r)}" for r in worse]
    reasons += [f"evidence aging: {w['message']}" for w in gate["warnings"] if w["code"] == AGING_WARNING]
    if reasons:
        return reasons
    if severity is None:
        return [f"review priority {priority}: no previous run to compare with"]
    if severity == "improved":
        better = [r for r in by_severity(gate["comparisons"]) if r["severity"] == "improved"]
        return [f"better than the previous run: {_change(r)}" for r in better]
    return ["every metric is within the watch threshold of the previous run (diffSeverityPolicy)"]


def what_changed(latest: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    """Notes on the latest run against the previous one: its identity, then every metric that moved."""
    if previous is None:
        return []
    notes = [
        f"{label} changed: {previous['identity'].get(key)} -> {latest['identity'].get(key)}"
        for key, label in _IDENTITY_LABELS.items()
        if previous.get("identity") and previous["identity"].get(key) != latest["identity"].get(key)
    ]
    moved = [r for r in by_severity(latest["gate"]["comparisons"]) if r["delta"] != 0]
    notes += [_change(r) for r in moved]
    added = sorted(set(latest["metrics"]) - set(previous["metrics"]))
    removed = sorted(set(previous["metrics"]) - set(latest["metrics"]))
    if added:
        notes.append(f"new metric(s): {', '.join(added)}")
    if removed:
        notes.append(f"metric(s) no longer measured: {', '.join(removed)}")
    return notes or ["nothing changed: same identity, every metric equal"]


__all__ = ["SEVERITY_RANK", "by_severity", "review_reasons", "severity_counts", "what_changed"]
