"""``goldkeeper dump`` and ``goldkeeper restore``: move the golden data between PostgreSQL and golden/."""

from __future__ import annotations

from pathlib import Path

import click

from .main import AppState, pass_state
from .output import echo_json, progress_for_terminal


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
    their chunks, findings and artifact, and every query with its expectations. Embeddings are not
    written (restore regenerates them). Unchanged data gives byte-identical files; the new store
    replaces the old one atomically.
    """
    from ..db.embedded import database_url_for
    from ..dump import dump

    settings = state.settings()
    target = settings.resolve(out) if out is not None else settings.store_path
    with database_url_for(settings.database_url, settings.home_path) as url:
        report = dump(url, settings, target, progress_for_terminal())
    if as_json:
        echo_json(report.to_json())
        return
    counts = report.counts
    click.echo(
        f"dumped {counts['analyses']} analyses ({counts['chunks']} chunks, {counts['findings']} findings, "
        f"{counts['artifacts']} artifacts) and {counts['queries']} queries to {report.path}"
    )
    click.echo(f"version {report.version}" + ("" if report.changed else " (unchanged)"))


@click.command("restore")
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory to read (default: params.yaml store.path). With --rev: its path inside the repository.",
)
@click.option("--rev", metavar="REV", help="Read the store as committed at this git revision (no checkout).")
@click.option("--replace", is_flag=True, help="Make the golden tables hold exactly the store: rows that differ or are not in it are deleted.")
@click.option("--dry-run", is_flag=True, help="Only report what would be added, skipped, replaced, removed or in conflict.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (counts and ids) as JSON.")
@click.option(
    "--marker",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a small deterministic JSON (dataset, version, model id, counts) here: the DVC "
    "restore stage's output, since the database itself is outside DVC.",
)
@pass_state
def restore_command(
    state: AppState,
    source: Path | None,
    rev: str | None,
    replace: bool,
    dry_run: bool,
    as_json: bool,
    marker: Path | None = None,
) -> None:
    """Load the golden store into the database, all or nothing, and embed its chunks.

    The whole store is validated first (manifest, checksums, schema, references). Then one
    transaction under an advisory lock: without --replace, records already present with identical
    content are skipped and records present with different content stop the restore with their ids
    listed (nothing is overwritten). Chunks are embedded with the configured model, reusing the
    embedding cache.
    """
    from ..db.embedded import database_url_for
    from ..embed import load_embedder
    from ..errors import ConflictError
    from ..restore import restore_store
    from ..store import open_store

    settings = state.settings()
    if rev is not None:
        from ..versions import git_store_source

        relpath = str(source) if source is not None else settings.store.path
        store = open_store(git_store_source(settings.root, rev, relpath))
    else:
        store = open_store(settings.resolve(source) if source is not None else settings.store_path)
    embedder = load_embedder(settings.embedding)
    with database_url_for(settings.database_url, settings.home_path) as url:
        report = restore_store(
            url,
            store,
            embedder,
            replace=replace,
            dry_run=dry_run,
            progress=progress_for_terminal(),
            batch_size=settings.embedding.batch_size,
        )
    if marker is not None and not dry_run:
        from ..store import canonical_bytes
        from ..store.atomic import atomic_write_bytes

        manifest = store.manifest
        atomic_write_bytes(
            settings.resolve(marker),
            canonical_bytes(
                {"dataset": manifest.dataset, "version": store.version, "model_id": report.model_id, "counts": manifest.counts}
            )
        )
    if as_json:
        echo_json(report.to_json())
    else:
        for line in report.summary_lines():
            click.echo(line)
        for name in ("analyses", "queries"):
            conflicts = getattr(report, name).conflicts
            if conflicts:
                click.echo(f"conflicting {name}: " + ", ".join(conflicts[:20]) + (" ..." if len(conflicts) > 20 else ""))
    if report.conflicts:
        raise ConflictError(f"{report.conflicts} record(s) differ from the database (dry run; use --replace to overwrite)")


def register(cli: click.Group) -> None:
    cli.add_command(dump_command)
    cli.add_command(restore_command)
