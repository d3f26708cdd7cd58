"""``goldkeeper db``: manage the embedded PostgreSQL and the reference schema; check a params ``database:`` mapping."""

from __future__ import annotations

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json
from goldkeeper.errors import ConfigError


@click.group("db")
def db_group() -> None:
    """Manage the embedded PostgreSQL 16 + pgvector server and its reference schema, and check params.yaml
    `database:` (your own tables) against a database.

    start, stop, status, url, init: the embedded server (in .goldkeeper/ or $GOLDKEEPER_HOME) and its schema
    `golden`; check: params.yaml `database:`, the mapping onto your application's own tables, against the
    database commands use (--database-url, $GOLDKEEPER_DATABASE_URL, $DATABASE_URL or the embedded server).
    """


@db_group.command("start")
@pass_state
def start(state: AppState) -> None:
    """Start the embedded server and keep it running (until `goldkeeper db stop`)."""
    server = state.project().server
    was_running = server.status().running
    server.start()
    server.release()  # the user's now: no command stops it (an orphan of a killed command included)
    click.echo(f"embedded PostgreSQL {'already running' if was_running else 'started'} in {server.pgdata}")


@db_group.command("stop")
@pass_state
def stop(state: AppState) -> None:
    """Stop the embedded server."""
    server = state.project().server
    stopped = server.stop()
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def status(state: AppState, as_json: bool) -> None:
    """Show whether the embedded server is running, and where."""
    info = state.project().server.status()
    if as_json:
        echo_json(
            {
                "running": info.running,
                "pgdata": str(info.pgdata),
                "pid": info.pid,
                "url": info.url,
                "orphaned_by": info.orphaned_by,
            }
        )
        return
    if info.running:
        click.echo(f"running (pid {info.pid}) in {info.pgdata}")
        if info.orphaned_by is not None:
            click.echo(
                f"started by goldkeeper PID {info.orphaned_by}, which is gone: the next command that uses the "
                "database stops it when done (`goldkeeper db start` keeps it, `db stop` stops it now)"
            )
    else:
        click.echo(f"stopped ({info.pgdata})")


@db_group.command("url")
@pass_state
def url(state: AppState) -> None:
    """Print the database URL commands will use (passwords redacted)."""
    click.echo(state.project().display_url())


@db_group.command("init")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def init(state: AppState, as_json: bool) -> None:
    """Create the reference schema `golden` (idempotent; versioned in golden.schema_info).

    The embedding column gets the dimension of the configured model (params.yaml `embedding`);
    if the model's dimension changed, the column is retyped and its vectors cleared in the same
    transaction (restore re-embeds them).

    Under a `retrieval.fulltext_config` other than english, the role owning golden.chunks also
    builds the GIN index the full-text search reads for it.
    """
    result = state.project().init_schema()
    dim = result["dim"]
    if as_json:
        echo_json(result)
        return
    action = "created" if result["created"] else "already up to date"
    if result["dim_changed_from"] is not None and not result["created"]:
        action = f"updated: embedding dimension {result['dim_changed_from']} -> {dim}, vectors cleared"
    click.echo(f"golden schema version {result['version']} (embedding dim {dim}): {action}")
    if result.get("fulltext_index"):
        click.echo(f"built the full-text index {result['fulltext_index']} (retrieval.fulltext_config), once")


@db_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def check(state: AppState, as_json: bool) -> None:
    """Check params.yaml `database:` (the application's own tables) against the live database.

    Tables and columns exist, types convert without loss, each `where` is valid, the embedding
    column has the model's dimension, chunks -> analyses has a foreign key (or declares one).
    One line per problem, exit 3.
    """
    result = state.project().check_database()
    if as_json:
        echo_json(result.to_json())
    elif result.ok:
        click.echo(f"database mapping ok: {', '.join(result.tables)}")
    for problem in result.problems if not as_json else ():
        click.echo(problem, err=True)
    for note in result.notes if not as_json else ():  # a dump-only role may lack them: not a problem
        click.echo(f"note: {note}; restore would fail", err=True)
    if result.missing_tables and not as_json:  # perhaps the wrong database: say which one was checked
        click.echo(f"checked {result.database}", err=True)
    if not result.ok:
        raise ConfigError(f"database mapping: {len(result.problems)} problem(s)")


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
