"""``goldkeeper demo``: restore and check the golden dataset in a fresh embedded database."""

from __future__ import annotations

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json, progress_for_terminal
from goldkeeper.demo import run_demo


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (steps, timings, counts, model id).")
@click.option(
    "--mapped",
    is_flag=True,
    help="Run through an example application schema and its params database: mapping (both shipped with goldkeeper).",
)
@pass_state
def demo_command(state: AppState, as_json: bool, mapped: bool) -> None:
    """Try goldkeeper end to end on the project's golden/ (or the bundled SQuAD sample).

    Starts a NEW embedded PostgreSQL in .goldkeeper/demo ($GOLDKEEPER_HOME/demo; wiped first;
    --database-url and the project's own database are not used), restores the golden store with
    every chunk embedded by the configured model, verifies the files and the database, runs both
    evals (grounded: the first grounded.demo_limit queries), the gate and the report (its
    dashboard in the demo folder), prints a summary with counts, the dataset version, the
    embedding model id and timings, and stops the server.
    A params.yaml database: section is not used (the demo database has the reference schema).

    --mapped creates an example application schema (app.documents, app.doc_chunks, ...) in
    that fresh database and runs the same pipeline through its mapping, ending with a dump
    through the mapping that must equal the restored store byte for byte; the output names
    the mapping file to copy.
    """
    report = run_demo(state.settings(), mapped=mapped, progress=progress_for_terminal())
    if as_json:
        echo_json(report.to_json())
    else:
        for line in report.summary_lines():
            click.echo(line)


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
