"""index.html: the self-contained, read-only dashboard of a summary.

No scripts and no external resources; every text from a record is escaped. The page frame
(styles, header) is the template ``goldkeeper/quality/dashboard/index.html`` (package data);
this module renders the sections that go into it.
"""

from __future__ import annotations

import html
import math
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from goldkeeper.dataset.inert import terminal_safe
from goldkeeper.quality.report.charts import chart
from goldkeeper.quality.report.notes import SEVERITY_RANK
from goldkeeper.quality.report.values import meets_floor, number, runs_label, severity_label

_EMPTY_STATE = (
    '<section id="empty-state" data-state="empty"><h2>No eval runs yet</h2>'
    "<p>There is nothing to show: no run is recorded in artifacts/evals/trend-index.json. "
    "Run <code>goldkeeper eval retrieval</code>, <code>goldkeeper eval grounded</code> and "
    "<code>goldkeeper gate</code>, then <code>goldkeeper report</code>.</p></section>"
)


@cache
def _template() -> Template:
    text = resources.files("goldkeeper.quality").joinpath("dashboard/index.html").read_text(encoding="utf-8")
    return Template(text)


def _h(text: Any) -> str:
    # controls shown escaped as in summary.md: a bidi override would reverse how a name reads on the page
    return html.escape(terminal_safe(str(text)), quote=True)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def render_html(summary: dict[str, Any]) -> str:
    """The self-contained, read-only dashboard: no scripts, no external resources, all text escaped."""
    latest = summary["latest"]
    if latest is None:
        content = _EMPTY_STATE + _retention_html(summary["retention"])
        return _template().substitute(
            title="AI eval dashboard: no runs", generated=_h(summary["generatedAt"] or "none"), content=content
        )
    sections = [
        _status_html(summary),
        _changes_html(summary),
        _metrics_html(summary),
        _identity_html(latest),
        _freshness_html(summary["freshness"] or {}),
        _warnings_html(summary["warnings"]),
        _trend_html(summary),
        _diff_html(summary),
    ]
    content = "\n".join(sections) + _retention_html(summary["retention"])
    return _template().substitute(
        title=_h(f"AI eval dashboard: {summary['status']}"), generated=_h(summary["generatedAt"]), content=content
    )


def _status_html(summary: dict[str, Any]) -> str:
    """The gate verdict, review priority, severity and its history, then the failed checks."""
    latest = summary["latest"]
    return (
        f'<section id="status" data-status="{_h(summary["status"])}"><h2>Status</h2>'
        f'<p>Gate <span class="badge {_h(summary["status"])}" id="gate-status">{_h(summary["status"])}</span>'
        + (' <strong id="fail-fast">fail-fast</strong>' if latest["failFast"] else "")
        + f' &middot; review priority <span class="badge {_h(summary["reviewPriority"])}" id="review-priority">'
        f"{_h(summary['reviewPriority'])}</span>"
        f' &middot; severity vs previous <span id="severity">{_h(severity_label(summary["severity"], summary["previous"] is not None))}</span>'
        f' &middot; history <span class="spark" id="sparkline" title="! regression, ~ watch, = stable, + improved">'
        f"{_h(summary['sparkline'] or '-')}</span></p>"
        + _review_reasons_html(summary)
        + _severity_counts_html(summary)
        + _reasons_html(latest["reasons"])
        + "</section>"
    )


def _review_reasons_html(summary: dict[str, Any]) -> str:
    """Why the review priority is what it is (first screen)."""
    items = "".join(f"<li>{_h(reason)}</li>" for reason in summary.get("reviewReasons", []))
    return f'<p><strong>Why {_h(summary["reviewPriority"])}:</strong></p><ul id="review-reasons">{items}</ul>'


def _severity_counts_html(summary: dict[str, Any]) -> str:
    """The severity distribution over the policy window (the stored severity history)."""
    counts = summary.get("severityCounts") or {}
    window = len(summary["severityHistory"])
    cells = " ".join(
        f'<span class="badge {_h(level)}" data-severity="{_h(level)}">{_h(level)} {int(counts.get(level, 0))}</span>'
        for level in SEVERITY_RANK
    )
    return f'<p id="severity-counts">Severity over the last {runs_label(window)} (policy window): {cells}</p>'


def _changes_html(summary: dict[str, Any]) -> str:
    """What changed from the previous run to the latest, worst first."""
    notes = summary.get("changes") or []
    if not notes:
        body = '<p class="muted">No previous run to compare with.</p>'
    else:
        body = "<ul>" + "".join(f"<li>{_h(note)}</li>" for note in notes) + "</ul>"
    return f'<section id="changes"><h2>What changed (latest vs previous)</h2>{body}</section>'


def _reasons_html(reasons: list[dict[str, Any]]) -> str:
    if not reasons:
        return '<p id="reasons" class="muted">All gate checks passed.</p>'
    return (
        '<ul id="reasons">'
        + "".join(f'<li data-code="{_h(r["code"])}">{_h(r["message"])}</li>' for r in reasons)
        + "</ul>"
    )


def _identity_html(latest: dict[str, Any]) -> str:
    """What the latest run measured: dataset, model and prompt versions, and its baseline."""
    ident = latest["identity"]
    return (
        '<section id="run-identity"><h2>Run identity</h2><table>'
        f'<tr><th>run</th><td><code id="run-id">{_h(latest["id"])}</code> at {_h(latest["timestamp"])}</td></tr>'
        f'<tr><th>dataset</th><td id="dataset-id">{_h(ident["datasetId"])}</td></tr>'
        f'<tr><th>dataset version</th><td><code id="dataset-version">{_h(ident["datasetVersion"])}</code></td></tr>'
        f'<tr><th>model version</th><td><code id="model-version">{_h(ident["modelVersion"])}</code></td></tr>'
        f'<tr><th>prompt version</th><td id="prompt-version">{_h(ident["promptVersion"])}</td></tr>'
        f"<tr><th>baseline</th><td><code>{_h(latest['baselineKey'])}</code> "
        f"({'found' if latest['baselineFound'] else 'none recorded'})</td></tr>"
        "</table></section>"
    )


def _metrics_html(summary: dict[str, Any]) -> str:
    """The latest value of each metric with its change, severity and floor badge: worst severity first, then name."""
    latest = summary["latest"]
    diff = {row["metric"]: row for row in summary["diff"]}
    rank = len(SEVERITY_RANK)

    def order(metric: str) -> tuple[int, str]:
        row = diff.get(metric)
        return (SEVERITY_RANK.get(row["severity"], rank) if row else rank, metric)

    rows = []
    for metric in sorted(latest["metrics"], key=order):
        value, row, floor = latest["metrics"][metric], diff.get(metric), latest["floors"].get(metric)
        verdict = "" if floor is None else ("pass" if meets_floor(value, floor) else "fail")
        badge = f'<span class="badge {verdict}">{verdict} (floor {floor:g})</span>' if floor is not None else ""
        badge += _rubric_badge(metric, value, latest.get("rubric") or {})
        severity = (
            f'<span class="badge {_h(row["severity"])}">{_h(row["severity"])}</span>'
            if row
            else '<span class="muted">n/a</span>'
        )
        delta = f"{row['delta']:+.4f}" if row else "n/a"
        rows.append(
            f'<tr data-metric="{_h(metric)}"><td>{_h(metric)}</td><td class="num value">{value:.4f}</td>'
            f'<td class="num">{delta}</td><td>{severity}</td><td>{badge}</td></tr>'
        )
    return (
        '<section id="metrics"><h2>Latest metrics (worst severity first)</h2><table><tr><th>metric</th><th>value</th>'
        "<th>delta vs previous</th><th>severity</th><th>floor</th></tr>" + "".join(rows) + "</table></section>"
    )


def _rubric_badge(metric: str, value: float, rubric: dict[str, float]) -> str:
    """A badge for a metric the rubric's dataset-level thresholds check (faithfulness is grounded_precision)."""
    threshold = rubric.get(metric, rubric.get("grounded_precision") if metric == "faithfulness" else None)
    if threshold is None:
        return ""
    verdict = "pass" if meets_floor(value, threshold) else "fail"
    return f' <span class="badge {verdict}" data-rubric="{_h(metric)}">{verdict} (rubric {threshold:g})</span>'


def _freshness_html(fresh: dict[str, Any]) -> str:
    """Citation freshness against its reference, and how old the oldest cited evidence is."""
    return (
        '<section id="freshness"><h2>Citation freshness and evidence aging</h2><table>'
        f'<tr><th>citation freshness</th><td class="num">{_h(number(fresh.get("citationFreshness")))}</td></tr>'
        f'<tr><th>reference citation freshness (previous run, else baseline)</th><td class="num">{_h(number(fresh.get("previousCitationFreshness")))}</td></tr>'
        f'<tr><th>oldest cited evidence (share of the freshness window)</th><td class="num" id="age-ratio">'
        f"{_h(number(fresh.get('oldestEvidenceAgeRatio')))}</td></tr>"
        f'<tr><th>aging threshold</th><td class="num">{_h(fresh.get("agingThreshold", "n/a"))}</td></tr>'
        f'<tr><th>aging pressure</th><td id="aging-pressure">{"yes" if fresh.get("agingPressure") else "no"}</td></tr>'
        "</table></section>"
    )


def _warnings_html(warnings: list[dict[str, Any]]) -> str:
    if warnings:
        warn = (
            "<ul>"
            + "".join(
                f'<li data-code="{_h(w["code"])}"><code>{_h(w["code"])}</code>: {_h(w["message"])}</li>'
                for w in warnings
            )
            + "</ul>"
        )
    else:
        warn = '<p class="muted">No warnings.</p>'
    return f'<section id="warnings"><h2>Warnings</h2>{warn}</section>'


def _trend_html(summary: dict[str, Any]) -> str:
    """A chart per metric over the runs that have a finite value for it, worst severity first."""
    floors = summary["latest"]["floors"]
    severity = {row["metric"]: SEVERITY_RANK.get(row["severity"], len(SEVERITY_RANK)) for row in summary["diff"]}
    charts = []
    for series in sorted(summary["trend"], key=lambda t: (severity.get(t["metric"], len(SEVERITY_RANK)), t["metric"])):
        points = [p for p in series["points"] if _finite(p["value"])]
        if points:
            charts.append(
                f'<figure data-metric="{_h(series["metric"])}">{chart(series["metric"], points, floors.get(series["metric"]))}'
                f"<figcaption>{_h(series['metric'])} ({runs_label(len(points))})</figcaption></figure>"
            )
    return f'<section id="trend"><h2>Trend ({runs_label(summary["runCount"])})</h2><div class="charts">{"".join(charts)}</div></section>'


def _diff_html(summary: dict[str, Any]) -> str:
    """The latest run against the previous one, metric by metric, with each change's severity."""
    if summary["diff"]:
        prev = summary["previous"] or {}
        diff_rows = "".join(
            f'<tr data-metric="{_h(d["metric"])}" data-severity="{_h(d["severity"])}"><td>{_h(d["metric"])}</td>'
            f'<td class="num">{d["previous"]:.4f}</td><td class="num">{d["latest"]:.4f}</td><td class="num">{d["delta"]:+.4f}</td>'
            f'<td><span class="badge {_h(d["severity"])}">{_h(d["severity"])}</span></td></tr>'
            for d in summary["diff"]
        )
        diff = (
            f"<p>Previous run <code>{_h(prev.get('id', ''))}</code>.</p><table><tr><th>metric</th><th>previous</th>"
            f"<th>latest</th><th>delta</th><th>severity</th></tr>{diff_rows}</table>"
        )
    else:
        diff = '<p class="muted">No previous run to compare with.</p>'
    return f'<section id="diff"><h2>Latest vs previous</h2>{diff}</section>'


def _retention_html(retention: dict[str, Any] | None) -> str:
    if not retention:
        return '<section id="retention"><h2>Retention</h2><p class="muted">No retention pass has run yet.</p></section>'
    return (
        f'<section id="retention"><h2>Retention</h2><p>Mode <strong>{_h(retention["mode"])}</strong>, keep at most '
        f"{_h(retention['maxRuns'])} runs: retained {_h(retention['retained'])}, orphaned {_h(retention['orphaned'])}, "
        f"deleted {_h(retention['deleted'])}, preserved {_h(retention['preserved'])}.</p></section>"
    )


__all__ = ["render_html"]
