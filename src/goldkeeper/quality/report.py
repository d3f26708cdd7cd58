"""The eval report: summary.json (schemaVersion 1), summary.md for CI and the HTML dashboard.

All three are rendered from the trend (artifacts/evals/runs + trend-index.json); nothing here
computes a verdict: the gate stored it in each run. ``load_summary`` is the consumer side: it
rejects any schemaVersion other than :data:`SUMMARY_SCHEMA_VERSION` and anything its JSON
Schema does not allow.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from goldkeeper.errors import DataIntegrityError
from goldkeeper.fileio import json_bytes as dump_json
from goldkeeper.fileio import read_json, write_json, write_text
from goldkeeper.quality.gate import SPARK
from goldkeeper.quality.trend import TrendStore

SUMMARY_SCHEMA_VERSION = 1
SUMMARY_FILES = ("summary.json", "summary.schema.json", "summary.md", "index.html")


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of summary.json (shipped in goldkeeper/quality/dashboard/)."""
    text = resources.files("goldkeeper.quality").joinpath("dashboard/summary.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _template() -> Template:
    text = resources.files("goldkeeper.quality").joinpath("dashboard/index.html").read_text(encoding="utf-8")
    return Template(text)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- summary.json --------------------------------------------------------------------------------------


def build_summary(trend: TrendStore, now: str | None = None) -> dict[str, Any]:
    """The summary of the runs in the trend (an explicit empty summary when there are none)."""
    return summarize(trend.runs(), trend.index().get("retention"), now=now)


def summarize(runs: list[dict[str, Any]], retention: dict[str, Any] | None, now: str | None = None) -> dict[str, Any]:
    """The summary of ``runs`` (oldest first) and the last retention report."""
    summary: dict[str, Any] = {
        "schemaVersion": SUMMARY_SCHEMA_VERSION,
        "generatedAt": now or _now(),
        "status": "empty",
        "reviewPriority": "none",
        "runCount": len(runs),
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
    }
    if not runs:
        return summary
    latest = runs[-1]
    gate = latest["gate"]
    previous = next((r for r in reversed(runs[:-1]) if r["id"] == gate.get("previousRunId")), None)
    summary.update(
        status=gate["status"],
        reviewPriority=gate["reviewPriority"],
        latest={
            "id": latest["id"],
            "timestamp": latest["timestamp"],
            "identity": latest["identity"],
            "metrics": latest["metrics"],
            "status": gate["status"],
            "failFast": gate["failFast"],
            "reasons": gate["reasons"],
            "floors": gate.get("floors", {}),
            "baselineKey": gate["baselineKey"],
            "baselineFound": gate["baselineFound"],
        },
        previous=(
            {"id": previous["id"], "timestamp": previous["timestamp"], "metrics": previous["metrics"]} if previous else None
        ),
        severity=gate["severity"],
        severityHistory=list(gate["severityHistory"]),
        sparkline="".join(SPARK[s] for s in gate["severityHistory"]),
        diff=gate["comparisons"],
        warnings=gate["warnings"],
        freshness=gate["freshness"],
        trend=[
            {
                "metric": metric,
                "points": [
                    {"runId": r["id"], "timestamp": r["timestamp"], "value": r["metrics"][metric]}
                    for r in runs
                    if metric in r["metrics"]
                ],
            }
            for metric in sorted(latest["metrics"])
        ],
    )
    return summary


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
    import jsonschema  # imported here: it takes a third of a second

    try:
        jsonschema.validate(data, summary_schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise DataIntegrityError(f"{source}: field {where}: {exc.message}", field=where) from exc
    return data


def load_summary(path: Path) -> dict[str, Any]:
    """Read summary.json as a consumer: other schema versions are rejected."""
    return validate_summary(read_json(path, "summary"), source=str(path))


# -- summary.md ----------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    """Record text made inert for GitHub-flavoured Markdown table cells and HTML."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _badge(metric: str, value: float, floors: dict[str, float]) -> str:
    floor = floors.get(metric)
    if floor is None:
        return "-"
    return f"PASS >= {floor:g}" if value >= floor - 1e-12 else f"FAIL < {floor:g}"


def render_markdown(summary: dict[str, Any]) -> str:
    """summary.md: for humans and $GITHUB_STEP_SUMMARY (no timestamps of its own: stable for snapshots)."""
    lines = ["# AI eval summary", ""]
    latest = summary["latest"]
    if latest is None:
        lines += ["**Status:** no eval runs yet (run `goldkeeper eval` then `goldkeeper gate`).", ""]
        lines += _retention_md(summary["retention"])
        return "\n".join(lines).rstrip() + "\n"
    status = "PASS" if summary["status"] == "pass" else "FAIL"
    if latest["failFast"]:
        status += " (fail-fast)"
    ident = latest["identity"]
    lines += [
        f"**Status:** {status}  ",
        f"**Review priority:** {summary['reviewPriority']}  ",
        f"**Severity vs previous run:** {summary['severity'] or 'n/a (first run)'}  ",
        f"**Severity history** (oldest to newest, `!` regression `~` watch `=` stable `+` improved): "
        f"`{summary['sparkline'] or '-'}`",
        "",
        f"Run `{_md(latest['id'])}` at {_md(latest['timestamp'])}; dataset {_md(ident['datasetId'])} "
        f"version {_md(ident['datasetVersion'][:12])}; model {_md(ident['modelVersion'])}; "
        f"prompt {_md(ident['promptVersion'])}; baseline {_md(latest['baselineKey'])} "
        f"({'found' if latest['baselineFound'] else 'none recorded'}).",
        "",
    ]
    if latest["reasons"]:
        lines += ["## Gate failures", ""]
        lines += [f"- {_md(r['message'])}" for r in latest["reasons"]]
        lines.append("")
    if summary["warnings"]:
        lines += ["## Warnings", ""]
        lines += [f"- `{_md(w['code'])}`: {_md(w['message'])}" for w in summary["warnings"]]
        lines.append("")
    diff = {row["metric"]: row for row in summary["diff"]}
    lines += ["## Metrics", "", "| metric | value | badge | previous | delta | severity |", "|---|---:|---|---:|---:|---|"]
    for metric, value in sorted(latest["metrics"].items()):
        row = diff.get(metric)
        previous = _num(row["previous"]) if row else "n/a"
        delta = f"{row['delta']:+.4f}" if row else "n/a"
        severity = row["severity"] if row else "n/a"
        badge = _badge(metric, value, latest["floors"])
        lines.append(f"| {_md(metric)} | {value:.4f} | {badge} | {previous} | {delta} | {severity} |")
    lines.append("")
    lines += _retention_md(summary["retention"])
    return "\n".join(lines).rstrip() + "\n"


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


# -- index.html ----------------------------------------------------------------------------------------


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _chart(metric: str, points: list[dict[str, Any]], floor: float | None) -> str:
    width, height, pad = 240, 64, 6
    values = [p["value"] for p in points]
    low, high = min(values + ([floor] if floor is not None else [])), max(values + ([floor] if floor is not None else []))
    if 0 <= low and high <= 1:
        low, high = 0.0, 1.0
    span = (high - low) or 1.0

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (i * (width - 2 * pad) / (len(values) - 1) if len(values) > 1 else (width - 2 * pad) / 2)
        y = height - pad - (v - low) / span * (height - 2 * pad)
        return round(x, 2), round(y, 2)

    coords = [xy(i, v) for i, v in enumerate(values)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_h(metric)} trend">'
    ]
    if floor is not None:
        _, fy = xy(0, floor)
        parts.append(f'<line class="floor" x1="{pad}" x2="{width - pad}" y1="{fy}" y2="{fy}" stroke="#cf222e" stroke-dasharray="4 3"/>')
    parts.append(
        '<polyline fill="none" stroke="#0969da" stroke-width="2" points="'
        + " ".join(f"{x},{y}" for x, y in coords)
        + '"/>'
    )
    for (x, y), point in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="2.5" fill="#0969da"><title>{_h(point["runId"])}: {point["value"]:.4f}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def render_html(summary: dict[str, Any]) -> str:
    """The self-contained, read-only dashboard: no scripts, no external resources, all text escaped."""
    latest = summary["latest"]
    if latest is None:
        content = (
            '<section id="empty-state" data-state="empty"><h2>No eval runs yet</h2>'
            "<p>There is nothing to show: no run is recorded in artifacts/evals/trend-index.json. "
            "Run <code>goldkeeper eval retrieval</code>, <code>goldkeeper eval grounded</code> and "
            "<code>goldkeeper gate</code>, then <code>goldkeeper report</code>.</p></section>"
        ) + _retention_html(summary["retention"])
        return _template().substitute(title="AI eval dashboard: no runs", generated=_h(summary["generatedAt"]), content=content)

    ident = latest["identity"]
    sections = []
    sections.append(
        f'<section id="status" data-status="{_h(summary["status"])}"><h2>Status</h2>'
        f'<p>Gate <span class="badge {_h(summary["status"])}" id="gate-status">{_h(summary["status"])}</span>'
        + (' <strong id="fail-fast">fail-fast</strong>' if latest["failFast"] else "")
        + f' &middot; review priority <span class="badge {_h(summary["reviewPriority"])}" id="review-priority">'
        f'{_h(summary["reviewPriority"])}</span>'
        f' &middot; severity vs previous <span id="severity">{_h(summary["severity"] or "n/a (first run)")}</span>'
        f' &middot; history <span class="spark" id="sparkline" title="! regression, ~ watch, = stable, + improved">'
        f'{_h(summary["sparkline"] or "-")}</span></p>'
        + (
            '<ul id="reasons">' + "".join(f'<li data-code="{_h(r["code"])}">{_h(r["message"])}</li>' for r in latest["reasons"]) + "</ul>"
            if latest["reasons"]
            else '<p id="reasons" class="muted">All gate checks passed.</p>'
        )
        + "</section>"
    )
    sections.append(
        '<section id="run-identity"><h2>Run identity</h2><table>'
        f'<tr><th>run</th><td><code id="run-id">{_h(latest["id"])}</code> at {_h(latest["timestamp"])}</td></tr>'
        f'<tr><th>dataset</th><td id="dataset-id">{_h(ident["datasetId"])}</td></tr>'
        f'<tr><th>dataset version</th><td><code id="dataset-version">{_h(ident["datasetVersion"])}</code></td></tr>'
        f'<tr><th>model version</th><td><code id="model-version">{_h(ident["modelVersion"])}</code></td></tr>'
        f'<tr><th>prompt version</th><td id="prompt-version">{_h(ident["promptVersion"])}</td></tr>'
        f'<tr><th>baseline</th><td><code>{_h(latest["baselineKey"])}</code> '
        f'({"found" if latest["baselineFound"] else "none recorded"})</td></tr>'
        "</table></section>"
    )
    rows = []
    for metric, value in sorted(latest["metrics"].items()):
        floor = latest["floors"].get(metric)
        verdict = "" if floor is None else ("pass" if value >= floor - 1e-12 else "fail")
        badge = f'<span class="badge {verdict}">{verdict} (floor {floor:g})</span>' if floor is not None else ""
        rows.append(
            f'<tr data-metric="{_h(metric)}"><td>{_h(metric)}</td><td class="num value">{value:.4f}</td><td>{badge}</td></tr>'
        )
    sections.append(
        '<section id="metrics"><h2>Latest metrics</h2><table><tr><th>metric</th><th>value</th><th>floor</th></tr>'
        + "".join(rows)
        + "</table></section>"
    )
    fresh = summary["freshness"] or {}
    sections.append(
        '<section id="freshness"><h2>Citation freshness and evidence aging</h2><table>'
        f'<tr><th>citation freshness</th><td class="num">{_h(_num(fresh.get("citationFreshness")))}</td></tr>'
        f'<tr><th>reference citation freshness (previous run, else baseline)</th><td class="num">{_h(_num(fresh.get("previousCitationFreshness")))}</td></tr>'
        f'<tr><th>oldest cited evidence (share of the freshness window)</th><td class="num" id="age-ratio">'
        f'{_h(_num(fresh.get("oldestEvidenceAgeRatio")))}</td></tr>'
        f'<tr><th>aging threshold</th><td class="num">{_h(fresh.get("agingThreshold", "n/a"))}</td></tr>'
        f'<tr><th>aging pressure</th><td id="aging-pressure">{"yes" if fresh.get("agingPressure") else "no"}</td></tr>'
        "</table></section>"
    )
    if summary["warnings"]:
        warn = '<ul>' + "".join(
            f'<li data-code="{_h(w["code"])}"><code>{_h(w["code"])}</code>: {_h(w["message"])}</li>' for w in summary["warnings"]
        ) + "</ul>"
    else:
        warn = '<p class="muted">No warnings.</p>'
    sections.append(f'<section id="warnings"><h2>Warnings</h2>{warn}</section>')
    charts = []
    for series in summary["trend"]:
        points = [p for p in series["points"] if _finite(p["value"])]
        if points:
            charts.append(
                f'<figure data-metric="{_h(series["metric"])}">{_chart(series["metric"], points, latest["floors"].get(series["metric"]))}'
                f'<figcaption>{_h(series["metric"])} ({len(points)} run{"s" if len(points) != 1 else ""})</figcaption></figure>'
            )
    sections.append(f'<section id="trend"><h2>Trend ({summary["runCount"]} run{"s" if summary["runCount"] != 1 else ""})</h2><div class="charts">{"".join(charts)}</div></section>')
    if summary["diff"]:
        prev = summary["previous"] or {}
        diff_rows = "".join(
            f'<tr data-metric="{_h(d["metric"])}" data-severity="{_h(d["severity"])}"><td>{_h(d["metric"])}</td>'
            f'<td class="num">{d["previous"]:.4f}</td><td class="num">{d["latest"]:.4f}</td><td class="num">{d["delta"]:+.4f}</td>'
            f'<td><span class="badge {_h(d["severity"])}">{_h(d["severity"])}</span></td></tr>'
            for d in summary["diff"]
        )
        diff = (
            f'<p>Previous run <code>{_h(prev.get("id", ""))}</code>.</p><table><tr><th>metric</th><th>previous</th>'
            f"<th>latest</th><th>delta</th><th>severity</th></tr>{diff_rows}</table>"
        )
    else:
        diff = '<p class="muted">No previous run to compare with.</p>'
    sections.append(f'<section id="diff"><h2>Latest vs previous</h2>{diff}</section>')
    content = "\n".join(sections) + _retention_html(summary["retention"])
    return _template().substitute(
        title=_h(f"AI eval dashboard: {summary['status']}"), generated=_h(summary["generatedAt"]), content=content
    )


def _retention_html(retention: dict[str, Any] | None) -> str:
    if not retention:
        return '<section id="retention"><h2>Retention</h2><p class="muted">No retention pass has run yet.</p></section>'
    return (
        f'<section id="retention"><h2>Retention</h2><p>Mode <strong>{_h(retention["mode"])}</strong>, keep at most '
        f'{_h(retention["maxRuns"])} runs: retained {_h(retention["retained"])}, orphaned {_h(retention["orphaned"])}, '
        f'deleted {_h(retention["deleted"])}, preserved {_h(retention["preserved"])}.</p></section>'
    )


# -- writing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiles:
    summary_json: Path
    schema_json: Path
    summary_md: Path
    index_html: Path
    summary: dict[str, Any]


def write_report(trend: TrendStore, out_dir: Path | None = None, now: str | None = None) -> ReportFiles:
    """Render summary.json (+ its schema), summary.md and index.html into ``out_dir`` (default: the trend root)."""
    out = out_dir or trend.root
    summary = validate_summary(build_summary(trend, now=now), source="generated summary")
    files = ReportFiles(
        summary_json=out / "summary.json",
        schema_json=out / "summary.schema.json",
        summary_md=out / "summary.md",
        index_html=out / "index.html",
        summary=summary,
    )
    write_json(files.summary_json, summary)
    write_json(files.schema_json, summary_schema())
    write_text(files.summary_md, render_markdown(summary))
    write_text(files.index_html, render_html(summary))
    return files


__all__ = [
    "SUMMARY_SCHEMA_VERSION",
    "build_summary",
    "dump_json",
    "load_summary",
    "render_html",
    "render_markdown",
    "summary_schema",
    "validate_summary",
    "write_report",
]
