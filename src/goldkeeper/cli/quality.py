"""``goldkeeper baseline``, ``gate``, ``report`` and ``serve``: baselines, the CI gate and the dashboard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..config import Settings
from ..errors import ConfigError, NegativeVerdict
from ..quality import GateParams, ReportParams, metrics_paths
from ..quality.baseline import BaselineParams, BaselineStore, load_metrics, resolve_identity, write_json
from ..quality.gate import annotations, run_gate
from ..quality.policy import load_policy
from ..quality.report import render_markdown, summarize, write_report
from ..quality.serve import DEFAULT_PORT, DashboardServer
from ..quality.trend import TrendStore, retention_limit
from .main import AppState, pass_state
from .output import echo_json

METRICS_HELP = (
    "A metrics file written by the evals (repeatable). Default: gate.metrics in params.yaml, else "
    "retrieval.out and grounded.out (metrics/retrieval.json, metrics/grounded.json)."
)


def _metrics_paths(settings: Settings, given: tuple[Path, ...]) -> list[Path]:
    if given:
        return [settings.resolve(p) for p in given]
    return [settings.resolve(p) for p in metrics_paths(settings)]


def _baselines(settings: Settings) -> BaselineStore:
    return BaselineStore(settings.resolve(settings.section("baseline", BaselineParams).dir))


def _trend(settings: Settings, directory: Path | None = None) -> TrendStore:
    return TrendStore(settings.resolve(directory) if directory else settings.resolve(settings.section("report", ReportParams).dir))


# -- baseline --------------------------------------------------------------------------------------------


@click.group("baseline")
def baseline_group() -> None:
    """Versioned metric baselines, keyed by dataset id + version, model version and prompt version.

    The model version is the embedding model name + sha256 of its ONNX file plus the answerer
    ($GOLDKEEPER_MODEL_VERSION overrides it); the prompt version is prompt.version in params.yaml
    ($GOLDKEEPER_PROMPT_VERSION overrides it). Baselines are JSON files in baselines/ (DVC metrics).
    """


@baseline_group.command("record")
@click.option("--metrics", "metrics", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help=METRICS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the recorded baseline as JSON.")
@pass_state
def baseline_record(state: AppState, metrics: tuple[Path, ...], as_json: bool) -> None:
    """Store the current eval metrics as the baseline of the current identity (replacing an older one)."""
    settings = state.settings()
    paths = _metrics_paths(settings, metrics)
    values = load_metrics(paths)
    identity = resolve_identity(settings)
    store = _baselines(settings)
    baseline = store.record(identity, values, [settings.display_path(p) for p in paths])
    if as_json:
        echo_json({**baseline.as_json(), "path": str(store.path_for(identity))})
        return
    click.echo(f"baseline {baseline.key}: {len(values)} metrics recorded in {store.path_for(identity)}")


@baseline_group.command("show")
@click.option("--key", help="A baseline key (file name without .json). Default: the current identity.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def baseline_show(state: AppState, key: str | None, as_json: bool) -> None:
    """Show the baseline of the current identity (or of --key)."""
    settings = state.settings()
    store = _baselines(settings)
    if key:
        path = store.directory / f"{key}.json"
        if not path.exists():
            raise ConfigError(f"{path}: no baseline with key {key!r} (see `goldkeeper baseline list`)")
        baseline = store.load_file(path)
    else:
        identity = resolve_identity(settings)
        found = store.get(identity)
        if found is None:
            raise ConfigError(
                f"{store.path_for(identity)}: no baseline for the current identity {identity.key} "
                "(record one with `goldkeeper baseline record`)"
            )
        baseline = found
    if as_json:
        echo_json(baseline.as_json())
        return
    ident = baseline.identity
    click.echo(f"baseline {baseline.key} (recorded {baseline.recorded_at})")
    click.echo(f"  dataset  {ident.dataset_id} @ {ident.dataset_version}")
    click.echo(f"  model    {ident.model_version}")
    click.echo(f"  prompt   {ident.prompt_version}")
    width = max((len(m) for m in baseline.metrics), default=0)
    for metric, value in baseline.metrics.items():
        click.echo(f"  {metric:<{width}}  {value:.4f}")


@baseline_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def baseline_list(state: AppState, as_json: bool) -> None:
    """List the recorded baselines."""
    baselines = _baselines(state.settings()).list()
    if as_json:
        echo_json([b.as_json() for b in baselines])
        return
    if not baselines:
        click.echo("no baselines recorded (run `goldkeeper baseline record`)")
    for b in baselines:
        ident = b.identity
        click.echo(
            f"{b.key}  {b.recorded_at}  {ident.dataset_id}@{ident.dataset_version[:12]}  "
            f"model={ident.model_version}  prompt={ident.prompt_version}  ({len(b.metrics)} metrics)"
        )


# -- gate ------------------------------------------------------------------------------------------------


def _github(result: dict[str, Any], markdown: str) -> None:
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for line in annotations(result):
        click.echo(line)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        except OSError as exc:
            raise ConfigError(f"{summary_file}: cannot append the step summary: {exc.strerror}") from exc


@click.command("gate")
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), help="Regression policy JSON. Default: gate.policy in params.yaml.")
@click.option("--metrics", "metrics", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help=METRICS_HELP)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Trend/report directory. Default: report.dir (artifacts/evals).")
@click.option("--retention-max-runs", type=int, help="Keep at most N runs. Default: $GOLDKEEPER_EVAL_RETENTION_MAX_RUNS, else 200.")
@click.option("--retention-dry-run", is_flag=True, help="Report what retention would delete, delete nothing.")
@click.option("--require-baseline", is_flag=True, default=None, help="Fail when no baseline exists for the identity.")
@click.option("--no-record", is_flag=True, help="Do not store this run in the trend (and do not write the report).")
@click.option("--no-report", is_flag=True, help="Store the run but do not write summary.*/index.html (the `report` stage does).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the gate result JSON here (e.g. artifacts/gate.json, a DVC metric).")
@click.option("--json", "as_json", is_flag=True, help="Print the gate result as JSON.")
@pass_state
def gate_command(
    state: AppState,
    policy: Path | None,
    metrics: tuple[Path, ...],
    directory: Path | None,
    retention_max_runs: int | None,
    retention_dry_run: bool,
    require_baseline: bool | None,
    no_record: bool,
    no_report: bool,
    output: Path | None,
    as_json: bool,
) -> None:
    """Gate CI on the eval metrics: exit 0 when they pass, 10 when they regress.

    Checks the current run (the metrics files of the evals) against the policy's floors and,
    for the same identity, against the baseline's max<Metric>Drop limits; a citation accuracy
    or freshness drop beyond its limit fails fast. Severity against the previous run:
    regression, watch, stable or improved. The run is stored in artifacts/evals/runs/, the
    trend index is pruned to the retention limit and the report is rewritten. On GitHub
    Actions it prints warning annotations and appends summary.md to $GITHUB_STEP_SUMMARY.
    """
    settings = state.settings()
    params = settings.section("gate", GateParams)
    policy_path = settings.resolve(policy or params.policy)
    loaded = load_policy(policy_path)
    trend = _trend(settings, directory)
    limit = retention_limit(retention_max_runs)
    metrics_paths = _metrics_paths(settings, metrics)
    outcome = run_gate(
        metrics_paths=metrics_paths,
        sources=[settings.display_path(p) for p in metrics_paths],
        identity=resolve_identity(settings),
        policy=loaded,
        baselines=_baselines(settings),
        trend=trend,
        retention_max_runs=limit,
        retention_dry_run=retention_dry_run,
        record=not no_record,
        require_baseline=params.require_baseline if require_baseline is None else require_baseline,
    )
    result = outcome.result
    report_path = None
    if outcome.run_path is not None:
        if no_report:
            markdown = render_markdown(summarize(trend.runs(), trend.index().get("retention")))
        else:
            files = write_report(trend)
            markdown = render_markdown(files.summary)
            report_path = files.index_html
    else:
        markdown = render_markdown(summarize([*trend.runs(), outcome.run], trend.index().get("retention")))
    document = {
        **result,
        "passed": int(outcome.passed),
        "runId": outcome.run["id"],
        "runPath": settings.display_path(outcome.run_path) if outcome.run_path else None,
        "retention": outcome.retention.as_json() if outcome.retention else None,
        "dashboard": settings.display_path(report_path) if report_path else None,
    }
    if output is not None:
        write_json(settings.resolve(output), document)
    if as_json:
        echo_json(document)
    else:
        verdict = "PASS" if outcome.passed else ("FAIL (fail-fast)" if result["failFast"] else "FAIL")
        click.echo(
            f"gate: {verdict}; review priority {result['reviewPriority']}; "
            f"severity vs previous run: {result['severity'] or 'n/a (first run)'}; "
            f"baseline {result['baselineKey']} {'found' if result['baselineFound'] else 'not recorded'}"
        )
        for reason in result["reasons"]:
            click.echo(f"  fail: {reason['message']}")
        for warning in result["warnings"]:
            click.echo(f"  warning {warning['code']}: {warning['message']}")
        if outcome.retention is not None:
            r = outcome.retention
            click.echo(
                f"retention ({r.mode}, max {r.max_runs}): retained {r.retained}, orphaned {r.orphaned}, "
                f"deleted {r.deleted}, preserved {r.preserved}"
            )
        if report_path is not None:
            click.echo(f"dashboard: {report_path}")
    _github(result, markdown)
    if not outcome.passed:
        raise NegativeVerdict(f"gate failed: {result['reasons'][0]['message']}")


# -- report / serve --------------------------------------------------------------------------------------


@click.command("report")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Trend directory. Default: report.dir (artifacts/evals).")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths and the summary as JSON.")
@pass_state
def report_command(state: AppState, directory: Path | None, as_json: bool) -> None:
    """Write summary.json (+ summary.schema.json), summary.md and the index.html dashboard from the trend."""
    trend = _trend(state.settings(), directory)
    files = write_report(trend)
    if as_json:
        echo_json(
            {
                "summaryJson": str(files.summary_json),
                "summarySchema": str(files.schema_json),
                "summaryMarkdown": str(files.summary_md),
                "dashboard": str(files.index_html),
                "summary": files.summary,
            }
        )
        return
    summary = files.summary
    click.echo(f"report: {summary['runCount']} run(s), status {summary['status']}, review priority {summary['reviewPriority']}")
    click.echo(f"summary: {files.summary_md}")
    click.echo(f"dashboard: {files.index_html}")


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 (0 = any free port).")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), help="Trend directory. Default: report.dir (artifacts/evals).")
@pass_state
def serve_command(state: AppState, port: int, directory: Path | None) -> None:
    """Serve the dashboard read-only on 127.0.0.1, with /api/ai-evals/summary and /api/openapi. Ctrl-C stops it."""
    server = DashboardServer(_trend(state.settings(), directory).root, port=port)
    click.echo(f"serving the eval dashboard on {server.url} (summary: {server.url}api/ai-evals/summary); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")


def register(cli: click.Group) -> None:
    cli.add_command(baseline_group)
    cli.add_command(gate_command)
    cli.add_command(report_command)
    cli.add_command(serve_command)
