"""``goldkeeper import squad``: load a SQuAD 2.0 file into the golden tables."""

from __future__ import annotations

from pathlib import Path

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json
from goldkeeper.project import raise_for_conflicts, require_one_source


@click.group("import")
def import_group() -> None:
    """Import records from other formats into the database (then `goldkeeper dump` them to golden/)."""


@import_group.command("squad")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sample", is_flag=True, help="Import the SQuAD 2.0 sample bundled with goldkeeper (12 articles).")
@click.option("--replace", is_flag=True, help="Replace the golden rows already in the database (one transaction).")
@click.option("--dry-run", is_flag=True, help="Show what would be added, skipped and replaced; change nothing.")
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=512 * 1024 * 1024,
    show_default=True,
    help="Refuse a FILE larger than this (read in blocks: a device or pipe is cut off at the limit).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def squad_command(
    state: AppState, file: Path | None, sample: bool, replace: bool, dry_run: bool, max_bytes: int, as_json: bool
) -> None:
    """Import a SQuAD 2.0 JSON FILE: article -> analysis, paragraph -> chunk, question -> query.

    Answerable questions expect their paragraph and carry their reference answers; unanswerable
    ones expect a refusal. Ids are deterministic (uuid5; queries keep SQuAD's question ids), so
    importing the same file twice changes nothing. Loading works like `goldkeeper restore`: one
    transaction, conflicts listed, chunks embedded with the configured model.
    """
    require_one_source(file, sample)
    report = state.project().import_squad(file, replace=replace, dry_run=dry_run, max_bytes=max_bytes)
    if as_json:
        echo_json(report.to_json())
    else:
        for line in report.summary_lines():
            click.echo(line)
    raise_for_conflicts(report)


def register(cli: click.Group) -> None:
    cli.add_command(import_group)
