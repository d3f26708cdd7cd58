"""A new user's first steps with params ``database:``: one-line errors, refusals before anything is written,
``db check`` saying what it checked, ``init --from-database`` saying what it could not infer (real PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database
from pg_support import run_sql

CHUNK = str(uuid.UUID(int=100 + 10 * 1 + 1))  # doc 1's second chunk (published)


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


def test_dump_refuses_a_query_expecting_a_chunk_outside_the_where(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_db_mapping_queries import WITH_QUERIES, app_with_prompts  # noqa: PLC0415 - the queries' schema

    _params(project, WITH_QUERIES)
    app_with_prompts(database_url)
    assert run_cli(["--database-url", database_url, "dump"], capsys)[0] == 0
    before = sorted((p.relative_to(project), p.read_bytes()) for p in (project / "golden").rglob("*") if p.is_file())
    draft_chunk = str(uuid.UUID(int=100 + 10 * 2))  # doc 2 is a draft: outside the analyses' where
    expects = {"chunks": [{"id": draft_chunk}], "analyses": [{"id": DOC[2]}]}
    run_sql(database_url, f"UPDATE app.eval_prompts SET expects = '{json.dumps(expects)}' WHERE prompt_id = 'A-1'")
    code, out, err = run_cli(["--database-url", database_url, "dump"], capsys)
    assert (code, out) == (5, "")
    assert err == (
        f"error: app.eval_prompts: record A-1: field expects: expected analysis {DOC[2]} is not in the dump (no "
        "such analysis inside the where of app.documents), so restore would refuse the store "
        "(query.dangling_analysis) (and 1 more)\n"
    )
    after = sorted((p.relative_to(project), p.read_bytes()) for p in (project / "golden").rglob("*") if p.is_file())
    assert after == before  # the store in place is untouched


def test_a_where_ending_in_a_comment_is_read_as_written(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = json.loads(json.dumps(MAPPING))
    mapping["tables"]["analyses"]["where"] = "state = 'published' -- only the published ones"
    mapping["tables"]["chunks"]["where"] = "-- every chunk of a published document\nTRUE"
    mapping["tables"]["chunks"]["fulltext"] = {"expression": "to_tsvector('simple', body) -- no stemming"}
    _params(project, mapping)
    app_database(database_url)
    code, out, err = run_cli(["--database-url", database_url, "db", "check"], capsys)
    assert (code, err) == (0, ""), out + err
    code, out, err = run_cli(["--database-url", database_url, "dump", "--json"], capsys)
    assert code == 0, err
    counts = json.loads(out)["counts"]
    assert (counts["analyses"], counts["chunks"]) == (2, 4)


def test_db_check_names_the_database_it_checked_when_a_table_is_missing(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _params(project)
    url = psycopg.conninfo.make_conninfo(database_url, password="s3cret-pw")  # the test server trusts local users
    code, out, err = run_cli(["--database-url", url, "db", "check"], capsys)
    assert (code, out) == (3, "")
    lines = err.splitlines()
    assert lines[0] == "app.documents: no such table (database.tables.analyses.table)"
    assert lines[-1] == "error: database mapping: 4 problem(s)"
    [checked] = [line for line in lines if line.startswith("checked ")]
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    assert f"dbname={dbname}" in checked and "password=***" in checked and "s3cret-pw" not in err
    code, out, _ = run_cli(["--database-url", url, "db", "check", "--json"], capsys)
    result = json.loads(out)
    assert result["database"] == checked.removeprefix("checked ") and "s3cret-pw" not in out
    assert result["missing_tables"] == ["app.documents", "app.doc_chunks", "app.summaries", "app.notes"]
    app_database(database_url)  # every table there: the problems say enough, no database line
    run_sql(database_url, "ALTER TABLE app.notes RENAME COLUMN who TO author")
    code, out, err = run_cli(["--database-url", url, "db", "check"], capsys)
    assert code == 3 and "checked " not in err


def test_the_help_texts_cover_the_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["db", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "embedded PostgreSQL" in flat and "check params.yaml `database:` (your own tables)" in flat
    assert "check" in flat.split("Commands:")[1]
    code, out, _ = run_cli(["restore", "--help"], capsys)
    flat = " ".join(out.split())
    assert code == 0 and "With params database: (your own tables), only rows inside each where; a changed " \
        "record is updated in place." in flat  # fmt: skip
    code, out, _ = run_cli(["dump", "--help"], capsys)
    flat = " ".join(out.split())
    assert code == 0 and "`database:` (your application's own tables) the scope is each table's `where`" in flat


def test_dump_refuses_a_golden_query_expecting_a_chunk_outside_the_where(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Queries left in goldkeeper's own golden.queries: their expected chunks must be inside the mapping too."""
    from goldkeeper.db.schema import init_schema  # noqa: PLC0415

    _params(project)
    app_database(database_url)
    init_schema(database_url, 384)
    draft_chunk = str(uuid.UUID(int=100 + 10 * 2 + 1))  # doc 2 is a draft: outside the analyses' where
    run_sql(
        database_url,
        """INSERT INTO golden.queries (id, text, domain, expected_behavior) VALUES ('q-1', 'What?', 'docs', '{"behavior": "answer"}')""",
        f"INSERT INTO golden.query_expected (query_id, target_kind, target_id) VALUES ('q-1', 'chunk', '{CHUNK}')",
    )
    code, out, err = run_cli(["--database-url", database_url, "dump", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["counts"]["queries"] == 1
    run_sql(
        database_url,
        f"INSERT INTO golden.query_expected (query_id, target_kind, target_id) VALUES ('q-1', 'chunk', '{draft_chunk}')",
    )
    code, out, err = run_cli(["--database-url", database_url, "dump", "--out", "other"], capsys)
    assert (code, out) == (5, "")
    assert err == (
        f"error: golden.query_expected: record q-1: field target_id: expected chunk {draft_chunk} is not in the dump "
        "(no such chunk inside the where of app.doc_chunks and app.documents), so restore would refuse the store "
        "(query.dangling_chunk)\n"
    )
    assert not (project / "other").exists()


def test_a_reader_role_without_access_to_goldkeepers_schema_gets_one_line(
    database_url: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A nightly dump with a read-only role granted the application's tables but not goldkeeper's ``golden``
    schema (where the queries live unless mapped): one line and exit 4, nothing written. It was an internal
    error (exit 1) from the unguarded look-up of golden.query_expected."""
    app_database(database_url)
    role = f"gk_reader_{uuid.uuid4().hex[:8]}"
    run_sql(
        database_url,
        "CREATE SCHEMA golden",
        f"CREATE ROLE {role} LOGIN",
        f"GRANT USAGE ON SCHEMA app TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {role}",
    )
    _params(project)
    reader = database_url.replace("postgresql://postgres:@", f"postgresql://{role}:@")
    try:
        assert run_cli(["--database-url", reader, "db", "check"], capsys)[0] == 0
        for argv in (["dump"], ["verify", "--db"]):
            code, _, err = run_cli(["--database-url", reader, *argv], capsys)
            assert code == 4, err
            assert err.startswith("error: ") and err.endswith("permission denied for schema golden\n"), err
            assert len(err.splitlines()) == 1
        assert not (project / "golden").exists()
    finally:
        run_sql(database_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
