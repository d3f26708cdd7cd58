"""Writing the report: summary.json (+ its JSON Schema), summary.md and index.html, each atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldkeeper.fileio import write_json, write_text
from goldkeeper.progress import SILENT, Progress
from goldkeeper.quality.report.html import render_html
from goldkeeper.quality.report.markdown import render_markdown
from goldkeeper.quality.report.summary import build_summary, summary_schema, validate_summary
from goldkeeper.quality.trend import TrendStore


@dataclass(frozen=True)
class ReportFiles:
    summary_json: Path
    schema_json: Path
    summary_md: Path
    index_html: Path
    summary: dict[str, Any]


def write_report(
    trend: TrendStore, out_dir: Path | None = None, now: str | None = None, progress: Progress = SILENT
) -> ReportFiles:
    """Render summary.json (+ its schema), summary.md and index.html into ``out_dir`` (default: the trend root)."""
    # every stored run read, the summary schema-validated, a chart per metric: seconds for thousands of runs
    with progress.task("writing the report", None):
        return _write_report(trend, out_dir or trend.root, now)


def _write_report(trend: TrendStore, out: Path, now: str | None) -> ReportFiles:
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


__all__ = ["ReportFiles", "write_report"]
