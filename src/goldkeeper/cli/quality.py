"""``goldkeeper baseline``, ``gate``, ``report`` and ``serve``: baselines, the CI gate and the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import click

from goldkeeper.cli.main import AppState, InputFile, input_file, pass_state, with_options
from goldkeeper.cli.output import echo_json, echo_text
from goldkeeper.errors import NegativeVerdict
from goldkeeper.fileio import append_text
from goldkeeper.quality.gate_run import GateResult, read_gate_document
from goldkeeper.quality.report.values import severity_label
from goldkeeper.quality.serve import DEFAULT_PORT, DashboardServer

METRICS_HELP = (
    "A metrics file written by the evals (repeatable). Default: gate.metrics in params.yaml, else "
    "retrieval.out and grounded.out (metrics/retrieval.json, metrics/grounded.json)."
)


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
    baseline, path = state.project().record_baseline(metrics)
    if as_json:
        echo_json({**baseline.as_json(), "path": str(path)})
        return
    click.echo(f"baseline {baseline.key}: {len(baseline.metrics)} metrics recorded in {path}")


@baseline_group.command("show")
@click.option("--key", help="A baseline key (file name without .json). Default: the current identity.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def baseline_show(state: AppState, key: str | None, as_json: bool) -> None:
    """Show the baseline of the current identity (or of --key)."""
    baseline = state.project().baseline(key)
    if as_json:
        echo_json(baseline.as_json())
        return
    ident = baseline.identity
    click.echo(f"baseline {baseline.key} (recorded {baseline.recorded_at})")
    # identities and metric names come from the metrics files and the environment: shown with escapes inert
    echo_text(f"  dataset  {ident.dataset_id} @ {ident.dataset_version}")
    echo_text(f"  model    {ident.model_version}")
    echo_text(f"  prompt   {ident.prompt_version}")
    width = max((len(m) for m in baseline.metrics), default=0)
    for metric, value in baseline.metrics.items():
        echo_text(f"  {metric:<{width}}  {value:.4f}")


@baseline_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def baseline_list(state: AppState, as_json: bool) -> None:
    """List the recorded baselines."""
    baselines = state.project().baselines.list()
    if as_json:
        echo_json([b.as_json() for b in baselines])
        return
    if not baselines:
        click.echo("no baselines recorded (run `goldkeeper baseline record`)")
    for b in baselines:
        ident = b.identity
        echo_text(
            f"{b.key}  {b.recorded_at}  {ident.dataset_id}@{ident.dataset_version[:12]}  "
            f"model={ident.model_version}  prompt={ident.prompt_version}  ({len(b.metrics)} metrics)"
        )


# -- gate ------------------------------------------------------------------------------------------------


def _github(result: GateResult, *, as_json: bool) -> None:
    """On GitHub Actions: the annotations, summary.md appended to the step summary. With ``--json`` the annotations
    go to stderr (the runner reads workflow commands there too), so stdout stays the one JSON document."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for line in result.github_annotations():
        click.echo(line, err=as_json)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        append_text(summary_file, result.markdown + "\n")


def _echo_gate(result: GateResult) -> None:
    verdict = result.verdict
    state = "PASS" if result.passed else ("FAIL (fail-fast)" if verdict["failFast"] else "FAIL")
    click.echo(
        f"gate: {state}; review priority {verdict['reviewPriority']}; "
        f"severity vs previous run: {severity_label(verdict['severity'], verdict['previousRunId'] is not None)}; "
        f"baseline {verdict['baselineKey']} {'found' if verdict['baselineFound'] else 'not recorded'}"
    )
    for reason in verdict["reasons"]:  # messages name the metrics of the user's files and policy
        echo_text(f"  fail: {reason['message']}")
    for warning in verdict["warnings"]:
        echo_text(f"  warning {warning['code']}: {warning['message']}")
    retention = result.outcome.retention
    if retention is not None:
        click.echo(
            f"retention ({retention.mode}, max {retention.max_runs}): retained {retention.retained}, "
            f"orphaned {retention.orphaned}, deleted {retention.deleted}, preserved {retention.preserved}"
        )
    if result.dashboard is not None:
        click.echo(f"dashboard: {result.dashboard}")


#: the gate's options (see `goldkeeper gate --help`)
GATE_OPTIONS = [
    click.option(
        "--policy",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Regression policy JSON. Default: gate.policy in params.yaml.",
    ),
    click.option(
        "--metrics", "metrics", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help=METRICS_HELP
    ),
    click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        help="Trend/report directory. Default: report.dir (artifacts/evals).",
    ),
    click.option(
        "--retention-max-runs",
        type=click.IntRange(min=1),  # 0 or less is a bad argument: exit 2 (the library's ConfigError said 3)
        metavar="N",
        help="Keep at most N runs. Default: $GOLDKEEPER_EVAL_RETENTION_MAX_RUNS, else 200.",
    ),
    click.option("--retention-dry-run", is_flag=True, help="Report what retention would delete, delete nothing."),
    click.option(
        "--require-baseline", is_flag=True, default=None, help="Fail when no baseline exists for the identity."
    ),
    click.option("--no-record", is_flag=True, help="Do not store this run in the trend (and do not write the report)."),
    click.option(
        "--no-report",
        is_flag=True,
        help="Store the run but do not write summary.*/index.html (the `report` stage does).",
    ),
    click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the gate result JSON here (e.g. artifacts/gate.json: verdict, reasons, run, retention).",
    ),
    click.option(
        "--metrics-output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the verdict as numbers only here (passed, failFast, reasons, warnings): a DVC metrics file.",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the gate result as JSON."),
    click.option(
        "--annotations",
        "recorded",
        type=InputFile(exists=False),  # a missing file: read_gate_document's own error
        help="Do not gate: print the GitHub annotations of a recorded gate result (e.g. artifacts/gate.json, "
        "as on GitHub Actions) and exit 0 when it passed, 10 when it failed (the PR workflow's last step).",
    ),
]


def _recorded(path: Path) -> None:
    """``gate --annotations FILE``: the verdict line and the annotations of a recorded gate result."""
    recorded = read_gate_document(path)
    document = recorded.document
    click.echo(f"gate: {'PASS' if recorded.passed else 'FAIL'}; review priority {document['reviewPriority']} ({path})")
    for line in recorded.annotations():
        click.echo(line)
    if not recorded.passed:
        raise NegativeVerdict(f"gate failed: {recorded.failure_message()}")


@click.command("gate")
@with_options(GATE_OPTIONS)
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
    metrics_output: Path | None,
    as_json: bool,
    recorded: Path | None,
) -> None:
    """Gate CI on the eval metrics: exit 0 when they pass, 10 when they regress.

    Checks the current run (the metrics files of the evals) against the policy's floors and,
    for the same identity, against the baseline's max<Metric>Drop limits; a citation accuracy
    or freshness drop beyond its limit fails fast. Severity against the previous run:
    regression, watch, stable or improved. The run is stored in artifacts/evals/runs/, the
    trend index is pruned to the retention limit and the report is rewritten. On GitHub
    Actions it prints warning annotations and appends summary.md to $GITHUB_STEP_SUMMARY.
    """
    if recorded is not None:
        _recorded(input_file("recorded", recorded))
        return
    result = state.project().gate(
        policy=policy,
        metrics=metrics,
        directory=directory,
        retention_max_runs=retention_max_runs,
        retention_dry_run=retention_dry_run,
        require_baseline=require_baseline,
        record=not no_record,
        report=not no_report,
        output=output,
        metrics_output=metrics_output,
    )
    if as_json:
        echo_json(result.to_json())
    else:
        _echo_gate(result)
    _github(result, as_json=as_json)
    if not result.passed:
        raise NegativeVerdict(f"gate failed: {result.failure_message()}")


# -- report / serve --------------------------------------------------------------------------------------


@click.command("report")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trend directory. Default: report.dir (artifacts/evals).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the written paths and the summary as JSON.")
@pass_state
def report_command(state: AppState, directory: Path | None, as_json: bool) -> None:
    """Write summary.json (+ summary.schema.json), summary.md and the index.html dashboard from the trend."""
    files = state.project().report(directory)
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
    click.echo(
        f"report: {summary['runCount']} run(s), status {summary['status']}, review priority {summary['reviewPriority']}"
    )
    click.echo(f"summary: {files.summary_md}")
    click.echo(f"dashboard: {files.index_html}")


@click.command("serve")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0 = any free port).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trend directory. Default: report.dir (artifacts/evals).",
)
@pass_state
def serve_command(state: AppState, port: int, directory: Path | None) -> None:
    """Serve the dashboard read-only on 127.0.0.1, with /api/ai-evals/summary and /api/openapi. Ctrl-C stops it."""
    server = DashboardServer(state.project().trend(directory, read=True).root, port=port)
    click.echo(f"serving the eval dashboard on {server.url} (summary: {server.url}api/ai-evals/summary); Ctrl-C stops")
    try:
        server.serve_forever()  # closes the listening socket however it ends
    except KeyboardInterrupt:
        # Ctrl-C is how a server is stopped, yet it is an interruption like any other command's: exit 130 (as
        # cli.main gives them), so a script or supervisor sees it ended by a signal. One line, not "aborted".
        click.echo("stopped")
        raise SystemExit(130) from None


def register(cli: click.Group) -> None:
    cli.add_command(baseline_group)
    cli.add_command(gate_command)
    cli.add_command(report_command)
    cli.add_command(serve_command)
