"""``goldkeeper dump`` and ``goldkeeper restore``: move the golden data between PostgreSQL and golden/."""

from __future__ import annotations

from pathlib import Path

import click

from goldkeeper.cli.main import AppState, pass_state, with_options
from goldkeeper.cli.output import echo_json, echo_text
from goldkeeper.project import raise_for_conflicts


@click.command("dump")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory to write (default: params.yaml store.path, i.e. golden/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result (path, version, counts) as JSON.")
@pass_state
def dump_command(state: AppState, out: Path | None, as_json: bool) -> None:
    """Write the golden rows of the database into the canonical sharded store.

    Analyses whose status is in params.yaml `dump.statuses` (default: completed) are written with
    their chunks, findings and artifact, and every query with its expectations. With params.yaml
    `database:` (your application's own tables) the scope is each table's `where` instead (children:
    of analyses inside the analyses' `where`; `dump.statuses` is not used). Embeddings are not
    written (restore regenerates them). Unchanged data gives byte-identical files; the new store
    replaces the old one atomically.
    """
    report = state.project().dump(out)
    if as_json:
        echo_json(report.to_json())
        return
    counts = report.counts
    click.echo(
        f"dumped {counts['analyses']} analyses ({counts['chunks']} chunks, {counts['findings']} findings, "
        f"{counts['artifacts']} artifacts) and {counts['queries']} queries to {report.path}"
    )
    click.echo(f"version {report.version}" + ("" if report.changed else " (unchanged)"))


#: restore's options (see `goldkeeper restore --help`)
RESTORE_OPTIONS = [
    click.option(
        "--from",
        "source",
        type=click.Path(file_okay=False, path_type=Path),
        help="Store directory to read (default: params.yaml store.path). With --rev: its path inside the repository.",
    ),
    click.option("--rev", metavar="REV", help="Read the store as committed at this git revision (no checkout)."),
    click.option(
        "--replace",
        is_flag=True,
        help="Make the golden tables hold exactly the store within its scope: rows that differ or are not in it "
        "are deleted, except analyses whose status the store's dump did not cover (manifest scope.statuses). "
        "With params database: (your own tables), only rows inside each where; a changed record is updated in "
        "place.",
    ),
    click.option(
        "--dry-run", is_flag=True, help="Only report what would be added, skipped, replaced, removed or in conflict."
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the report (counts and ids) as JSON."),
    click.option(
        "--marker",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write a small deterministic JSON (dataset, version, model id, counts) here: the DVC "
        "restore stage's output, since the database itself is outside DVC.",
    ),
    click.option(
        "--allow-contract-violations",
        "allow",
        multiple=True,
        metavar="CODE",
        help="Restore even though the store breaks this content contract (repeatable, or comma-separated): "
        "url.placeholder, url.scheme, url.invalid, prompt.* codes, or url.* / prompt.*. Structure checks "
        "(manifest.*, shard.*, record.*, ids, references) can never be allowed.",
    ),
]


@click.command("restore")
@with_options(RESTORE_OPTIONS)
@pass_state
def restore_command(
    state: AppState,
    source: Path | None,
    rev: str | None,
    replace: bool,
    dry_run: bool,
    as_json: bool,
    marker: Path | None = None,
    allow: tuple[str, ...] = (),
) -> None:
    """Load the golden store into the database, all or nothing, and embed its chunks.

    Every `goldkeeper verify` contract runs first, before the database is touched: a store verify
    rejects is refused (exit 5, every violation listed as verify lists it); warnings are shown and
    never refuse. Then one transaction under an advisory lock: without --replace, records already
    present with identical content are skipped and records present with different content stop the
    restore with their ids listed (nothing is overwritten). Chunks are embedded with the configured
    model, reusing the embedding cache.
    """
    codes = [code for item in allow for code in item.split(",") if code.strip()]
    report = state.project().restore(
        source=source, rev=rev, replace=replace, dry_run=dry_run, marker=marker, allow=codes
    )
    for warning in report.warnings:  # they name records: inert, as every line that may hold record text
        echo_text(warning, err=True)
    if as_json:
        echo_json(report.to_json())
    else:
        for line in report.summary_lines():
            click.echo(line)
        for name in ("analyses", "queries"):
            removed = getattr(report, name).removed
            if report.dry_run and removed:
                click.echo(f"would remove {name}: " + ", ".join(removed[:20]) + (" ..." if len(removed) > 20 else ""))
            conflicts = getattr(report, name).conflicts
            if conflicts:
                click.echo(
                    f"conflicting {name}: " + ", ".join(conflicts[:20]) + (" ..." if len(conflicts) > 20 else "")
                )
    raise_for_conflicts(report)


def register(cli: click.Group) -> None:
    cli.add_command(dump_command)
    cli.add_command(restore_command)
