"""A new user's first steps with params ``database:``: one-line errors, refusals before anything is written,
``db check`` saying what it checked, ``init --from-database`` saying what it could not infer (real PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database

CHUNK = str(uuid.UUID(int=100 + 10 * 1 + 1))  # doc 1's second chunk (published)


def run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _params(project: Path, mapping: dict[str, Any] = MAPPING) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump({"database": mapping}))


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            [
                "ALTER TABLE app.documents ALTER COLUMN name DROP NOT NULL",
                f"UPDATE app.documents SET name = NULL WHERE doc_id = '{DOC[1]}'",
            ],
            f"error: app.documents: record {DOC[1]}: field name: Input should be a valid string",
        ),
        (
            [
                "ALTER TABLE app.doc_chunks ALTER COLUMN body DROP NOT NULL",
                f"UPDATE app.doc_chunks SET body = NULL WHERE chunk_id = '{CHUNK}'",
            ],
            f"error: app.doc_chunks: record {CHUNK}: field body: Input should be a valid string",
        ),
        (
            ["ALTER TABLE app.summaries ALTER COLUMN summary DROP NOT NULL", "UPDATE app.summaries SET summary = NULL"],
            f"error: app.summaries: record {uuid.UUID(int=999)}: field summary: Input should be a valid string",
        ),
        (
            ["ALTER TABLE app.notes ALTER COLUMN who DROP NOT NULL", "UPDATE app.notes SET who = NULL WHERE pos = 1"],
            f"error: app.notes: record {DOC[1]} finding 1: field who: Input should be a valid string",
        ),
    ],
)
def test_a_null_in_a_required_column_is_one_line_naming_table_record_and_column(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str], statements: list[str], expected: str
) -> None:
    _params(project)
    app_database(database_url)
    run_sql(database_url, *statements)
    code, out, err = run_cli(["--database-url", database_url, "dump"], capsys)
    assert (code, out, err) == (5, "", expected + "\n")
    assert not (project / "golden").exists()


def test_db_check_counts_nulls_in_required_columns_inside_the_where(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _params(project)
    app_database(database_url)
    run_sql(
        database_url,
        "ALTER TABLE app.documents ALTER COLUMN name DROP NOT NULL",
        "ALTER TABLE app.doc_chunks ALTER COLUMN body DROP NOT NULL",
        "UPDATE app.documents SET name = NULL",  # 2 published, 1 draft (outside the where)
        "UPDATE app.doc_chunks SET body = NULL, heading = NULL",  # heading: section_title may be NULL
    )
    code, out, err = run_cli(["--database-url", database_url, "db", "check"], capsys)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        "app.documents.name: 2 row(s) are NULL, but title is required",
        "app.doc_chunks.body: 4 row(s) are NULL, but content is required",
        "error: database mapping: 2 problem(s)",
    ]
