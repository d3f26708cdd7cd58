"""``goldkeeper verify`` and ``goldkeeper schema``."""

from __future__ import annotations

from pathlib import Path

import click

from goldkeeper.cli.main import AppState, pass_state
from goldkeeper.cli.output import echo_json, echo_text
from goldkeeper.errors import VerificationFailed
from goldkeeper.project import json_schema


@click.command("verify")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--db", "check_db", is_flag=True, help="Also check the database: counts vs the manifest, embeddings, orphans."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (every issue with code, file, record, field)."
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 5).")
@pass_state
def verify_command(state: AppState, directory: Path | None, check_db: bool, as_json: bool, strict: bool) -> None:
    """Check the integrity contracts of a golden store DIRECTORY (default: params store.path).

    Files: manifest (format, counts, per-shard sha256 and record counts, no unlisted or missing
    shards), every record's schema, shard placement and sort order, duplicate ids, queries whose
    expected chunks/analyses do not exist, the URL contract (verify.placeholder_patterns,
    verify.url_schemes) and the prompt contract (params rubric: min_prompts, min_domains,
    required fields). With --db, the database too: counts against the manifest, every chunk
    embedded with the configured model and dimension, no orphaned chunks/artifacts/findings,
    no expected result pointing at a missing row.

    Exit 0 when valid, 5 when not (every error listed); warnings fail only with --strict.
    """
    report = state.project().verify(directory, db=check_db)
    if as_json:
        echo_json(report.to_dict(strict))
    else:
        echo_text(report.to_text(strict), lines=True)
    if not report.ok(strict):
        raise VerificationFailed(report.summary(strict), report=report)


@click.command("schema")
@click.argument(
    "name", required=False, default="golden", type=click.Choice(["golden", "analysis", "query", "manifest", "response"])
)
def schema_command(name: str) -> None:
    """Print the JSON Schema of a goldkeeper format (default: golden).

    golden: one shard file (an array of Analysis or of Query records); analysis / query: one
    record; manifest: manifest.json; response: one line of a grounded-answer response file.
    """
    echo_json(json_schema(name))


def register(cli: click.Group) -> None:
    cli.add_command(verify_command)
    cli.add_command(schema_command)
