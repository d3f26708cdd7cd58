"""``goldkeeper eval grounded``: score answers with the cite-or-refuse policy."""

from __future__ import annotations

from pathlib import Path

import click

from goldkeeper.cli.evals import eval_group
from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json
from goldkeeper.project import GroundedRun


@click.command("grounded")
@click.option(
    "--answerer",
    metavar="NAME",
    help="extractive (built-in baseline), command:PROGRAM (prompts as JSON lines on stdin, responses on stdout) "
    "or responses:FILE (JSON lines). Default: params.yaml grounded.answerer.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Aggregate metrics JSON (default: grounded.out, metrics/grounded.json).",
)
@click.option(
    "--per-case",
    "per_case",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Per-case results with the reason each case failed (default: grounded.per_case_out, reports/grounded-per-case.json).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N queries (by id).")
@click.option(
    "--as-of", "as_of", metavar="TIME", help="Measure evidence age at this RFC 3339 time (default: grounded.as_of)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the aggregate metrics as JSON.")
@pass_state
def grounded_command(
    state: AppState,
    answerer: str | None,
    out: Path | None,
    per_case: Path | None,
    limit: int | None,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Answer every golden query with an answerer and score the answers.

    Scores (means over cases, each in [0, 1]): faithfulness = grounded precision (claims supported by
    their cited evidence, judged by params.yaml grounded.judge (default aligned; lexical, nli or
    command:PROGRAM)), citation coverage, citation accuracy,
    citation freshness (plus the oldest evidence age ratio), relevance (embedding similarity of answer
    and prompt), refusal precision/recall, exact match and F1 against the reference answers, and the
    pass rate against the rubric. Malformed or missing responses fail their case, never the run.
    """
    project = state.project(grounded={"as_of": as_of}, option_names={"grounded.as_of": "--as-of"})
    run = project.eval_grounded(answerer=answerer, limit=limit, out=out, per_case=per_case)
    for warning in run.report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if run.report.stray:
        click.echo(f"warning: {len(run.report.stray)} response line(s) matched no query (see {run.per_case})", err=True)
    if as_json:
        echo_json(run.report.metrics)
    else:
        _echo_metrics(run)


#: the scores printed, in this order
_HEADLINE = (
    "faithfulness",
    "citation_coverage",
    "citation_accuracy",
    "citation_freshness",
    "relevance",
    "refusal_precision",
    "refusal_recall",
    "exact_match",
    "f1",
    "pass_rate",
)


def _echo_metrics(run: GroundedRun) -> None:
    report, m = run.report, run.report.metrics
    click.echo(f"grounded eval of {m['cases']} queries with {report.answerer} (dataset {report.dataset_version[:12]})")
    for key in _HEADLINE:
        click.echo(f"  {key:<20} {m[key]:.4f}")
    click.echo(
        f"  answered {m['answered']}, refused {m['refused']}, malformed {m['malformed']}, missing {m['missing']}"
    )
    click.echo(f"metrics: {run.out}  per case: {run.per_case}")


def register(cli: click.Group) -> None:
    if grounded_command.name not in eval_group.commands:
        eval_group.add_command(grounded_command)
