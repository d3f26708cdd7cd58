"""``goldkeeper import squad|backup|prompts|jsonl`` and ``goldkeeper export backup|prompts|jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from goldkeeper.cli.main import AppState, pass_state, with_options
from goldkeeper.cli.output import echo_json, echo_text
from goldkeeper.project import raise_for_conflicts, require_one_source

if TYPE_CHECKING:
    from goldkeeper.dataset.restore import RestoreReport


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
    _echo_import(state.project().import_squad(file, replace=replace, dry_run=dry_run, max_bytes=max_bytes), as_json)


def _echo_import(report: RestoreReport, as_json: bool) -> None:
    """Every import's report (its warnings on stderr), then exit 4 when a dry run found conflicts."""
    for warning in report.warnings:  # they name records: inert, as every line that may hold record text
        echo_text(warning, err=True)
    if as_json:
        echo_json(report.to_json())
    else:
        for line in report.summary_lines():
            click.echo(line)
    raise_for_conflicts(report)


FILE_ARGUMENT = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
#: what every file import takes: restore's semantics
IMPORT_OPTIONS = [
    FILE_ARGUMENT,
    click.option("--replace", is_flag=True, help="Replace the rows of the kinds the file holds (one transaction)."),
    click.option("--dry-run", is_flag=True, help="Show what would be added, skipped and replaced; change nothing."),
    click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
]


@import_group.command("backup")
@with_options(IMPORT_OPTIONS)
@pass_state
def backup_command(state: AppState, file: Path, replace: bool, dry_run: bool, as_json: bool) -> None:
    """Import a SkillForge backup FILE (version, created_at, metadata counts, analyses[]).

    Titles missing in the file are derived from the URL, section_path strings are split on "/",
    the metadata counts are checked against the content (rules: docs/commands.md). --replace
    replaces analyses only; queries stay.
    """
    _echo_import(state.project().import_file("backup", file, replace=replace, dry_run=dry_run), as_json)


@import_group.command("prompts")
@with_options(IMPORT_OPTIONS)
@pass_state
def prompts_command(state: AppState, file: Path, replace: bool, dry_run: bool, as_json: bool) -> None:
    """Import a MetaMuseum prompt FILE (rows with id, domain, difficulty, prompt, expectedBehavior).

    camelCase as in the file; free-text grounding requirements are kept; difficulty is kept or
    mapped by a documented rule (docs/commands.md). --replace replaces queries only; analyses stay.
    """
    _echo_import(state.project().import_file("prompts", file, replace=replace, dry_run=dry_run), as_json)


@import_group.command("jsonl")
@with_options(IMPORT_OPTIONS)
@click.option(
    "--kind", type=click.Choice(["analyses", "queries"]), help="What the lines hold (default: detected by fields)."
)
@pass_state
def jsonl_command(state: AppState, file: Path, replace: bool, dry_run: bool, as_json: bool, kind: str | None) -> None:
    """Import golden records as JSON lines: analyses (with nested chunks) or queries, one per line.

    Streamed line by line; errors name the line number and the field. --replace replaces the kind
    the file holds only.
    """
    report = state.project().import_file("jsonl", file, kind=kind, replace=replace, dry_run=dry_run)
    _echo_import(report, as_json)


@click.group("export")
def export_group() -> None:
    """Write the golden store (golden/, or --from / --rev) as a file in another format."""


#: what every export takes: the store to read, like restore
EXPORT_OPTIONS = [
    FILE_ARGUMENT,
    click.option(
        "--from",
        "source",
        type=click.Path(file_okay=False, path_type=Path),
        help="Store directory to read (default: params.yaml store.path). With --rev: its path in the repository.",
    ),
    click.option("--rev", metavar="REV", help="Read the store as committed at this git revision."),
    click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON."),
]


def _export(
    state: AppState, fmt: str, file: Path, source: Path | None, rev: str | None, as_json: bool, **kw: str | None
) -> None:
    report = state.project().export_file(fmt, file, source=source, rev=rev, **kw)
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(report.summary())


@export_group.command("backup")
@with_options(EXPORT_OPTIONS)
@pass_state
def export_backup_command(state: AppState, file: Path, source: Path | None, rev: str | None, as_json: bool) -> None:
    """Write the store's analyses as a SkillForge backup FILE (normalisations: docs/commands.md)."""
    _export(state, "backup", file, source, rev, as_json)


@export_group.command("prompts")
@with_options(EXPORT_OPTIONS)
@pass_state
def export_prompts_command(state: AppState, file: Path, source: Path | None, rev: str | None, as_json: bool) -> None:
    """Write the store's queries as a MetaMuseum prompt FILE (a round trip of an imported file is lossless)."""
    _export(state, "prompts", file, source, rev, as_json)


@export_group.command("jsonl")
@with_options(EXPORT_OPTIONS)
@click.option("--kind", type=click.Choice(["analyses", "queries"]), required=True, help="Which records to write.")
@pass_state
def export_jsonl_command(
    state: AppState, file: Path, source: Path | None, rev: str | None, as_json: bool, kind: str
) -> None:
    """Write the store's analyses or queries as JSON lines, one canonical record per line."""
    _export(state, "jsonl", file, source, rev, as_json, kind=kind)


def register(cli: click.Group) -> None:
    cli.add_command(import_group)
    cli.add_command(export_group)
