"""``goldkeeper diff``, ``changelog``, ``log`` and ``show``: review and history of the golden store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_document, echo_json, echo_text
from goldkeeper.dataset.history import show_revision
from goldkeeper.fileio import atomic_write_bytes as write_bytes

EXIT_DIFFERENT = 10


def _format_options(command: Callable[..., None]) -> Callable[..., None]:
    """diff's --format and its --json spelling (see :func:`_diff_format`)."""
    json_flag = click.option(
        "--json", "as_json", is_flag=True, help="Same as --format json (the option every other command has)."
    )
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "md", "json"]),
        default="text",
        show_default=True,
        help="text: terminal; md: pull-request comment (summary table, collapsible details, size-capped); "
        "json: the stable schema documented in docs/commands.md.",
    )(json_flag(command))


@click.command("diff")
@click.argument("old", required=False)
@click.argument("new", required=False)
@_format_options
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the diff to FILE instead of stdout."
)
@click.option(
    "--exit-code", is_flag=True, help="Exit with 10 when the stores differ, 0 when they do not (like git diff)."
)
@click.option(
    "--report",
    is_flag=True,
    help="Write both reports named in params.yaml `diff` (md + json; OLD defaults to `diff.base`): the DVC stage.",
)
@pass_state
@click.pass_context
def diff_command(
    ctx: click.Context,
    state: AppState,
    old: str | None,
    new: str | None,
    fmt: str,
    as_json: bool,
    out: Path | None,
    exit_code: bool,
    report: bool,
) -> None:
    """Show what changed in the golden dataset between OLD and NEW.

    OLD and NEW are git revisions (read from git objects, no checkout) or store directories.
    OLD defaults to HEAD, NEW to the store in the working tree (also spelled WORKTREE).
    Lists analyses, chunks and queries added / removed / modified, field by field (long texts as a
    word-level diff), the queries whose expected chunks or analyses changed, and URL-contract
    violations the new side introduces. Every shard is hashed, only those whose bytes differ are
    parsed; a manifest that does not match its shards is reported (store problems), never trusted.
    """
    fmt = _diff_format(ctx, fmt, as_json)
    project = state.project()
    if report:
        result, md_path, json_path = project.diff_report(old, new)
        click.echo(f"{result.summary_line()}; wrote {md_path} and {json_path}", err=True)
    else:
        target = project.output_path(out, given=True) if out is not None else None  # refused before any work
        result = project.diff(old, new)
        data = project.render_diff(result, fmt)
        if target is not None:
            write_bytes(target, data)
            click.echo(f"{result.summary_line()}; wrote {out}", err=True)
        else:
            echo_document(data.decode("utf-8"), json_document=fmt == "json")
    if exit_code and not result.is_empty:
        ctx.exit(EXIT_DIFFERENT)


def _diff_format(ctx: click.Context, fmt: str, as_json: bool) -> str:
    """--json is --format json; with a --format naming another format it is a usage error (exit 2), not a guess."""
    if not as_json:
        return fmt
    if fmt != "json" and ctx.get_parameter_source("fmt") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError(f"--json is --format json; it cannot be combined with --format {fmt}")
    return "json"


@click.command("changelog")
@click.option(
    "--base",
    default="HEAD",
    show_default=True,
    help="Git revision (or store directory) to diff the working store against.",
)
@click.option("--message", "-m", help="Description of the entry (default: a generated one-line summary).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def changelog_command(state: AppState, base: str, message: str | None, as_json: bool) -> None:
    """Append a dated entry to the store's CHANGELOG.json: what changed against --base.

    The entry holds the date, counts added / removed / modified per entity, the dataset versions
    before and after, and a description. Running it again without new changes adds nothing.
    """
    project = state.project()
    result = project.changelog(base=base, message=message)
    if as_json:
        echo_json({"appended": result.entry is not None, "entry": result.entry, "reason": result.reason})
    elif result.entry is None:
        echo_text(f"nothing to add: {result.reason}")
    else:
        echo_text(f"appended to {result.path}: {result.entry['description']}")


@click.command("log")
@click.option("--rev", default="HEAD", show_default=True, help="Start from this git revision.")
@click.option("-n", "--max-count", type=click.IntRange(min=1), help="Show at most N commits.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def log_command(state: AppState, rev: str, max_count: int | None, as_json: bool) -> None:
    """The golden dataset's history: every commit that changed the store, newest first.

    For each: commit, date, author, dataset version (sha256 of the manifest), record counts and the
    record changes against its parent commit.
    """
    entries = state.project().log(rev=rev, max_count=max_count)
    if as_json:
        echo_json([e.to_json() for e in entries])
        return
    if not entries:
        click.echo("no commit changed the store")
    for e in entries:
        date = e.commit.date.strftime("%Y-%m-%d %H:%M")
        version = e.version[:12] if e.version else "(removed)"
        counts = " ".join(f"{k}={v}" for k, v in sorted(e.counts.items()))
        echo_text(f"{e.commit.short}  {date}  {e.commit.author}  version {version}  {counts}")
        echo_text(f"    {e.commit.summary}  [{e.summary}]")


@click.command("show")
@click.option("--rev", default="HEAD", show_default=True, help="Git revision, WORKTREE, or a store directory.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def show_command(state: AppState, rev: str, as_json: bool) -> None:
    """The manifest summary of the golden store at a git revision: version, counts, shards."""
    # not Project.show: the application layer imports pydantic, which a params.yaml and a manifest
    # validated by an earlier run do not need (start-up, goldkeeper.dataset.known)
    info = show_revision(state.known_settings(), rev, full_settings=state.settings)
    if as_json:
        echo_json(info)
        return
    commit = f" ({info['commit'][:12]})" if info["commit"] else ""
    echo_text(f"{info['rev']}{commit}: {info['store']}  dataset {info['dataset']}")
    echo_text(f"version         {info['version']}")
    echo_text(f"format/schema   {info['format_version']}/{info['schema_version']}")
    echo_text("counts          " + "  ".join(f"{k}={v}" for k, v in sorted(info["counts"].items())))
    for entity, stats in sorted(info["shards"].items()):
        echo_text(
            f"{entity:<15} {stats['records']} records in {stats['shards']} shards (shard count {info['shard_counts'].get(entity)})"
        )


def register(cli: click.Group) -> None:
    for command in (diff_command, changelog_command, log_command, show_command):
        cli.add_command(command)
