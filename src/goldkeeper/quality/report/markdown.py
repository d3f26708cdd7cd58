"""summary.md: the report for humans and $GITHUB_STEP_SUMMARY.

It has no timestamps of its own (only those of the runs), so a snapshot of it stays stable.
"""

from __future__ import annotations

from typing import Any

from goldkeeper.dataset.inert import md_code, md_text
from goldkeeper.quality.report.notes import by_severity
from goldkeeper.quality.report.values import meets_floor, number, severity_label

_METRICS_HEADER = ["| metric | value | badge | previous | delta | severity |", "|---|---:|---|---:|---:|---|"]


def _md(text: Any) -> str:
    """Record text made inert for GitHub-flavoured Markdown (table cells included): see goldkeeper.dataset.inert."""
    return md_text(str(text))


def _code(text: Any) -> str:
    return md_code(str(text))


def _badge(metric: str, value: float, floors: dict[str, float]) -> str:
    floor = floors.get(metric)
    if floor is None:
        return "-"
    return f"PASS >= {floor:g}" if meets_floor(value, floor) else f"FAIL < {floor:g}"


def render_markdown(summary: dict[str, Any]) -> str:
    """summary.md: for humans and $GITHUB_STEP_SUMMARY (no timestamps of its own: stable for snapshots)."""
    lines = ["# AI eval summary", ""]
    if summary["latest"] is None:
        lines += ["**Status:** no eval runs yet (run `goldkeeper eval` then `goldkeeper gate`).", ""]
    else:
        lines += _status_md(summary)
        lines += _list_md("Gate failures", [_md(r["message"]) for r in summary["latest"]["reasons"]])
        lines += _list_md("Warnings", [f"{_code(w['code'])}: {_md(w['message'])}" for w in summary["warnings"]])
        lines += _list_md("What changed against the previous run", [_md(n) for n in summary.get("changes", [])])
        lines += _metrics_md(summary)
    lines += _retention_md(summary["retention"])
    return "\n".join(lines).rstrip() + "\n"


def _status_md(summary: dict[str, Any]) -> list[str]:
    """The verdict, the severity history and the identity of the latest run."""
    latest = summary["latest"]
    status = "PASS" if summary["status"] == "pass" else "FAIL"
    if latest["failFast"]:
        status += " (fail-fast)"
    ident = latest["identity"]
    return [
        f"**Status:** {status}  ",
        f"**Review priority:** {summary['reviewPriority']}  ",
        f"**Severity vs previous run:** {severity_label(summary['severity'], summary['previous'] is not None)}  ",
        f"**Severity history** (oldest to newest, `!` regression `~` watch `=` stable `+` improved): "
        f"`{summary['sparkline'] or '-'}`",
        "",
        f"Run {_code(latest['id'])} at {_md(latest['timestamp'])}; dataset {_md(ident['datasetId'])} "
        f"version {_md(ident['datasetVersion'][:12])}; model {_md(ident['modelVersion'])}; "
        f"prompt {_md(ident['promptVersion'])}; baseline {_md(latest['baselineKey'])} "
        f"({'found' if latest['baselineFound'] else 'none recorded'}).",
        "",
    ]


def _list_md(heading: str, items: list[str]) -> list[str]:
    """A section with a bullet per item; nothing at all when there are no items."""
    if not items:
        return []
    return [f"## {heading}", "", *(f"- {item}" for item in items), ""]


def _metrics_md(summary: dict[str, Any]) -> list[str]:
    """The metrics table: each latest value, its floor badge and its change against the previous run."""
    latest = summary["latest"]
    diff = {row["metric"]: row for row in summary["diff"]}
    lines = ["## Metrics (worst severity first)", "", *_METRICS_HEADER]
    worst_first = [r["metric"] for r in by_severity(summary["diff"])]
    rest = sorted(m for m in latest["metrics"] if m not in diff)
    for metric in [m for m in worst_first if m in latest["metrics"]] + rest:
        value = latest["metrics"][metric]
        row = diff.get(metric)
        previous = number(row["previous"]) if row else "n/a"
        delta = f"{row['delta']:+.4f}" if row else "n/a"
        severity = row["severity"] if row else "n/a"
        badge = _badge(metric, value, latest["floors"])
        lines.append(f"| {_md(metric)} | {value:.4f} | {badge} | {previous} | {delta} | {severity} |")
    lines.append("")
    return lines


def _retention_md(retention: dict[str, Any] | None) -> list[str]:
    if not retention:
        return ["## Retention", "", "No retention pass has run yet.", ""]
    return [
        "## Retention",
        "",
        f"Mode {retention['mode']}, keep at most {retention['maxRuns']} runs: retained {retention['retained']}, "
        f"orphaned {retention['orphaned']}, deleted {retention['deleted']}, preserved {retention['preserved']}.",
        "",
    ]


__all__ = ["render_markdown"]
