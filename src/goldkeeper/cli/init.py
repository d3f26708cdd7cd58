"""``goldkeeper init``: wire goldkeeper into an existing Git repository."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json, echo_text, progress_for_terminal
from goldkeeper.errors import ConfigError
from goldkeeper.project.repository import init_repository

if TYPE_CHECKING:
    from goldkeeper.scaffold.init import InitResult


FROM_DATABASE_HELP = (
    "Start from the current database (--database-url, $GOLDKEEPER_DATABASE_URL, $DATABASE_URL or the embedded "
    "server): write params.yaml's database: section inferred from its tables (a `# TODO` and a line on stderr "
    "for each thing it could not infer; exit 3 until complete and `db check` passes), then fill golden/ by "
    "dumping it. An existing params.yaml is refused unless --force."
)


FORCE_HELP = (
    "Overwrite files that already exist (default: keep them); one whose content is not what init writes is "
    "first saved beside it as <name>.bak (.bak.1, ... when taken). A golden store is kept even so, unless "
    "--from-database dumps over it."
)


@click.command("init")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option(
    "--from-database",
    is_flag=True,
    help=FROM_DATABASE_HELP,
)
@click.option(
    "--dvc-tracked-store",
    is_flag=True,
    help="Track golden/ with DVC (`dvc add golden`, pushed to a DVC remote) instead of Git: "
    "for datasets too big for Git.",
)
@click.option(
    "--install",
    metavar="PIP-ARGS",
    help="What the written workflows `pip install` (default: derived from how this goldkeeper is installed: "
    "its git URL and commit, `-e .` for this repository, or its version from an index, + dvc-s3 with "
    "--dvc-tracked-store; else a step that fails saying what to set).",
)
@click.option(
    "--grounded-only",
    is_flag=True,
    help="A grounded-only project (prompts and evidence, no retrieval eval): no eval_retrieval stage, the gate "
    "reads metrics/grounded.json only, the policy's floors are on grounded metrics.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def init(
    state: AppState,
    force: bool,
    from_database: bool,
    dvc_tracked_store: bool,
    install: str | None,
    grounded_only: bool,
    as_json: bool,
) -> None:
    """Set up goldkeeper in the current git repository.

    Creates dvc.yaml (the pipeline), params.yaml, config/regression-policy.json, golden/ (empty, or
    dumped from the database with --from-database) and the GitHub workflows (pull-request pipeline
    and scheduled backup), runs `dvc init` when needed, and prints the next commands. Existing files
    are kept unless --force (--from-database: params.yaml holds the mapping inferred from your tables).
    """
    result = init_repository(
        Path(state.root or Path.cwd()),
        force=force,
        from_database=from_database,
        dvc_tracked_store=dvc_tracked_store,
        install=install,
        database_url=state.database_url,
        params_file=state.params_file,
        progress=progress_for_terminal(),
        grounded_only=grounded_only,
    )
    if as_json:
        echo_json(result.to_json())
    else:
        _echo_result(result)
    _echo_database(result)


def _echo_database(result: InitResult) -> None:
    """--from-database: one line on stderr per thing not inferred or found by db check; exit 3 until usable."""
    for line in [*result.database_todo, *result.database_notes, *result.database_problems]:
        echo_text(f"database: {line}", err=True)  # names read from the database: their controls escaped
    if not result.database_ok:
        todo, problems = len(result.database_todo), len(result.database_problems)
        raise ConfigError(
            f"params.yaml: the database: mapping is not usable yet ({todo} thing(s) not inferred, {problems} "
            "db check problem(s)): fill in its `# TODO`s, then `goldkeeper db check` and `goldkeeper dump`"
        )


def _echo_result(result: InitResult) -> None:
    """What init did, then the next commands."""
    for path in result.created:
        click.echo(f"created      {path}")
    for path in result.overwritten:
        click.echo(f"overwritten  {path}")
    for path, backup in result.saved.items():
        click.echo(f"saved        {path} -> {backup} (your version: it differed from what init writes)")
    for path in result.kept:
        # a store is never replaced by an empty one: only a dump (--force --from-database) writes over it
        why = "a goldkeeper store; only --force --from-database dumps over it" if path.endswith("/") else None
        click.echo(f"kept         {path} ({why or 'exists; --force to overwrite'})")
    for command in result.ran:
        click.echo(f"ran          {command}")
    for folder in result.joined_dvc:
        click.echo(f"joined       the DVC project in {folder} (no `dvc init`: its config and remotes apply)")
    for warning in result.warnings:
        echo_text(f"warning: {warning}", err=True)
    click.echo("\nnext:")
    for command in result.next_commands:
        click.echo(f"  {command}")


def register(cli: click.Group) -> None:
    cli.add_command(init)
