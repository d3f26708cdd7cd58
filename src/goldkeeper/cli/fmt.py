"""``goldkeeper fmt``: validate a hand-edited golden store and rewrite it in canonical form."""

from __future__ import annotations

from pathlib import Path

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json
from goldkeeper.errors import NegativeVerdict, VerificationFailed


@click.command("fmt")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 10 when fmt would change a file, 0 when not.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (changed files, moved records) as JSON.")
@pass_state
def fmt_command(state: AppState, directory: Path | None, check: bool, as_json: bool) -> None:
    """Make a hand-edited golden store DIRECTORY (default: params store.path) canonical again.

    Validates it exactly as `verify` does (schema, references, URL and prompt contracts), except
    for what fmt recomputes: the manifest's shard sha256, record counts and totals, the records'
    shard placement and order, canonical bytes. Then rewrites every shard in canonical form, moves
    records to the shard their id hashes to, and recomputes the manifest, atomically.

    Exit 0 when done (or, with --check, when nothing would change), 5 when the content is invalid
    (every problem listed, nothing written), 10 with --check when a file would change.
    """
    try:
        result = state.project().fmt(directory, check=check)
    except VerificationFailed as exc:
        if exc.report is not None:
            if as_json:
                echo_json(exc.report.to_dict())
            else:
                click.echo(exc.report.to_text())
        raise
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(result.to_text())
    if check and result.would_change:
        raise NegativeVerdict(f"{result.target}: not in canonical form: {len(result.changed)} file(s) would change")


def register(cli: click.Group) -> None:
    cli.add_command(fmt_command)
