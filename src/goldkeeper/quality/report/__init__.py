"""The eval report: summary.json (schemaVersion 1), summary.md for CI and the HTML dashboard.

All three are rendered from the trend (artifacts/evals/runs + trend-index.json); nothing here
computes a verdict: the gate stored it in each run.

    summary.py    build, validate and load summary.json (and its JSON Schema)
    markdown.py   summary.md
    html.py       index.html (into the template in goldkeeper/quality/dashboard/)
    values.py     number formats and the floor test both renderings share
    files.py      write all of them: :func:`write_report`, :class:`ReportFiles`
"""

from __future__ import annotations

from goldkeeper.quality.report.files import ReportFiles, write_report
from goldkeeper.quality.report.html import render_html
from goldkeeper.quality.report.markdown import render_markdown
from goldkeeper.quality.report.summary import (
    SUMMARY_FILES,
    SUMMARY_SCHEMA_VERSION,
    build_summary,
    load_summary,
    summarize,
    summary_schema,
    validate_summary,
)

__all__ = [
    "SUMMARY_FILES",
    "SUMMARY_SCHEMA_VERSION",
    "ReportFiles",
    "build_summary",
    "load_summary",
    "render_html",
    "render_markdown",
    "summarize",
    "summary_schema",
    "validate_summary",
    "write_report",
]
