"""A schema an ORM made (Prisma, Django, Rails) behind params ``database:``: what goldkeeper does with it."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import DOC, MAPPING, app_database, settings_for
from golden_support import make_analysis
from goldkeeper.errors import ConfigError
from pg_support import run_sql
from test_db_mapping_queries import PROMPTS_TABLE, WITH_QUERIES


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres:@", f"postgresql://{role}:@")


def _params(project: Path, mapping: dict[str, object] = MAPPING) -> None:
    (project / "params.yaml").write_text(
        yaml.safe_dump({"database": mapping, "rubric": {"min_prompts": 0, "min_domains": 0}})
    )


def test_import_writes_through_the_mapping_into_the_applications_tables(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url, rows=False)
    _params(project)
    analysis = make_analysis(1, chunks=2).model_copy(update={"status": "published", "findings": []})
    (project / "a.jsonl").write_bytes(orjson.dumps(analysis.model_dump(mode="json")) + b"\n")
    code, _, err = run_cli(["--database-url", database_url, "import", "jsonl", "a.jsonl"], capsys)
    assert code == 0, err
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT doc_id, state FROM app.documents").fetchall() == [(str(analysis.id), "published")]
        assert conn.execute("SELECT count(*) FROM app.doc_chunks WHERE emb IS NOT NULL").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (0,)


def test_a_not_null_column_without_default_the_mapping_leaves_out_is_named_before_restore_writes(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url)
    _params(project)
    db = ["--database-url", database_url]
    assert run_cli([*db, "dump"], capsys)[0] == 0
    with psycopg.connect(database_url, autocommit=True) as conn:  # Prisma's @updatedAt: NOT NULL, no default
        conn.execute("ALTER TABLE app.documents ADD COLUMN updated_at timestamp(3) NOT NULL DEFAULT now()")
        conn.execute("ALTER TABLE app.documents ALTER COLUMN updated_at DROP DEFAULT")
        conn.execute("ALTER TABLE app.documents ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY")  # fills itself
    code, out, _ = run_cli([*db, "db", "check", "--json"], capsys)
    note = (
        "app.documents.updated_at: NOT NULL without a DEFAULT, and the mapping does not write it: restore cannot "
        "insert a new analysis (give the column a DEFAULT, or map a field to it)"
    )
    assert code == 0 and orjson.loads(out)["notes"] == [note]
    assert run_cli([*db, "restore"], capsys)[0] == 0  # every record is there: nothing to insert
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in ("app.notes", "app.doc_chunks", "app.documents"):
            conn.execute(f"DELETE FROM {table} WHERE doc_id = %s", (DOC[1],))
    code, _, err = run_cli([*db, "restore", "--replace"], capsys)
    assert code == 3 and err == f"error: database mapping: {note}; nothing was changed\n"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM app.documents").fetchone() == (2,)


def test_a_field_mapped_to_a_generated_column_is_named_before_restore_writes(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:  # Django's GeneratedField, Prisma's dbgenerated
        conn.execute("ALTER TABLE app.documents ADD COLUMN title_text text GENERATED ALWAYS AS (name) STORED")
        conn.execute("ALTER TABLE app.documents ALTER COLUMN name DROP NOT NULL")
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["analyses"]["columns"]["title"] = "title_text"
    _params(project, mapping)
    db = ["--database-url", database_url]
    assert run_cli([*db, "dump"], capsys)[0] == 0  # reading it is fine
    code, out, _ = run_cli([*db, "db", "check", "--json"], capsys)
    line = (
        "app.documents.title_text: a generated column, which restore cannot write (mapped from analyses.title): "
        "map the field to a column a restore can write"
    )
    assert code == 0 and orjson.loads(out)["notes"] == [line]
    code, _, err = run_cli([*db, "restore"], capsys)
    assert code == 3 and err == f"error: database mapping: {line}; nothing was changed\n"


def test_row_level_security_applying_to_the_role_is_refused_naming_the_table(
    database_url: str, role: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RLS would show the role only the rows its policies pass: dump would write a part as the whole, verify
    count the rest missing, restore miss its conflicts. One line names the table and the role, every command."""
    app_database(database_url)
    _params(project)
    run_sql(
        database_url,
        f"GRANT USAGE ON SCHEMA app TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {role}",
        "ALTER TABLE app.doc_chunks ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY tenant ON app.doc_chunks USING (heading = current_setting('app.tenant', true))",
    )
    url = as_role(database_url, role)
    line = (
        f"app.doc_chunks: row-level security applies to role {role} (not the owner, no BYPASSRLS): goldkeeper "
        "would see only the rows its policies show; connect as the owner or a BYPASSRLS role, and scope with `where`"
    )
    code, out, _ = run_cli(["--database-url", url, "db", "check", "--json"], capsys)
    assert code == 3 and orjson.loads(out)["problems"] == [line]
    code, _, err = run_cli(["--database-url", url, "dump"], capsys)
    assert code == 3 and err == f"error: database mapping: {line}\n"
    assert not (project / "golden").exists()
    assert run_cli(["--database-url", database_url, "db", "check"], capsys)[0] == 0  # the owner: not subject to it


def test_expected_results_held_as_a_jsonb_array_of_ids_are_named_by_db_check_as_unsupported(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url)
    run_sql(database_url, PROMPTS_TABLE)
    run_sql(  # a list of chunk ids, as many apps keep them: not goldkeeper's {"chunks": [...], "analyses": [...]}
        database_url,
        "INSERT INTO app.eval_prompts (prompt_id, body, area, expects, behaviour) VALUES "
        """('p1', 'What?', 'docs', '["00000000-0000-0000-0000-000000000064"]', '{"behavior": "answer"}'),"""
        """('p2', 'Why?', 'docs', '{"chunks": []}', '"answer"')""",
    )
    _params(project, WITH_QUERIES)
    code, out, _ = run_cli(["--database-url", database_url, "db", "check", "--json"], capsys)
    assert code == 3 and orjson.loads(out)["problems"] == [
        "app.eval_prompts.expects: 1 row(s) hold a jsonb array, not the object queries.expected is "
        '({"chunks": [{"id": ..., "relevance": ...}], "analyses": [...]}; a list of ids is not supported), e.g. '
        "query p1",
        "app.eval_prompts.behaviour: 1 row(s) hold a jsonb string, not the object queries.expected_behavior is "
        '({"behavior": "answer" | "refuse", ...}), e.g. query p2',
    ]


def test_integer_ids_are_named_as_unsupported_by_db_check(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url, rows=False)
    run_sql(database_url, "ALTER TABLE app.documents ADD COLUMN pk bigint GENERATED ALWAYS AS IDENTITY")  # Django's
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["analyses"]["columns"]["id"] = "pk"
    _params(project, mapping)
    code, out, _ = run_cli(["--database-url", database_url, "db", "check", "--json"], capsys)
    assert code == 3 and orjson.loads(out)["problems"] == [
        "app.documents.pk: bigint cannot hold analyses.id (uuid) without loss (goldkeeper's ids are UUIDs: "
        "integer ids, serial or identity, are not supported; map a uuid column, or a text one holding UUIDs)"
    ]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ('"MyApp"."Document"', "MyApp.Document"),
        ('MyApp."Doc""Chunk"', 'MyApp.Doc"Chunk'),
        ("app.documents", "app.documents"),
    ],
)
def test_a_table_written_with_sql_quotes_is_read_as_its_name(tmp_path: Path, written: str, read: str) -> None:
    """A Prisma user copies ``"MyApp"."Document"`` from SQL: the quotes are SQL's, not the name's."""
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["analyses"]["table"] = written
    assert settings_for(tmp_path, mapping).database.tables["analyses"].table == read


def test_a_table_name_holding_a_dot_is_refused_in_one_line(tmp_path: Path) -> None:
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["analyses"]["table"] = '"my.app".documents'
    with pytest.raises(ConfigError, match=r"table '\"my.app\".documents': a name holding a dot is not supported"):
        settings_for(tmp_path, mapping)
