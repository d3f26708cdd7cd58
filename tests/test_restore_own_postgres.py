"""Restore into the user's own PostgreSQL (docs/commands.md "Database URL"): what a database set up by
someone else looks like. pgvector installed into a schema of its own, off the search_path, and a role
given the privileges it needs on an existing golden schema but no more (not the owner, no CREATE).
Real roles and databases on the session's embedded server; the CLI as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml

from cli_support import run_cli
from embed_command_support import write_program
from golden_support import make_records, store_bytes
from goldkeeper.db.connection import STATEMENT_TIMEOUT_HINT, connect
from goldkeeper.db.lock import ADVISORY_LOCK_KEY
from goldkeeper.store import write_store
from pg_support import run_sql

DIM = 8


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres:@", f"postgresql://{role}:@")


@pytest.fixture
def store(project: Path) -> Path:
    """A project with a two-document store and a deterministic `command:` embedder (no model to load)."""
    params = {
        "embedding": {"provider": write_program(project, DIM), "model": "team/fake", "dimensions": DIM},
        "rubric": {"min_prompts": 0, "min_domains": 0},
        "store": {"shards": {"analyses": 1, "queries": 1}},
        "dataset": {"name": "t"},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    analyses, queries = make_records(2)
    write_store(project / "golden", "t", analyses, queries, {"analyses": 1, "queries": 1})
    return project / "golden"


def test_pgvector_in_a_schema_off_the_search_path(
    database_url: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`CREATE EXTENSION vector SCHEMA extensions` (a common managed-database layout) with a search_path that
    leaves it out: restore said `type "vector" does not exist`, and verify --db and search failed after it."""
    run_sql(database_url, "CREATE SCHEMA extensions", "CREATE EXTENSION vector SCHEMA extensions")
    for argv in (["restore"], ["verify", "--db"], ["dump", "--out", "copy"], ["eval", "retrieval", "--mode", "vector"]):
        code, _, err = run_cli(["--database-url", database_url, *argv], capsys)
        assert code == 0, (argv, err)
    assert store_bytes(store) == store_bytes(store.parent / "copy")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT current_setting('search_path')").fetchone() == ('"$user", public',)
        assert conn.execute("SELECT count(embedding) FROM golden.chunks").fetchone() == (6,)


def test_pgvector_in_a_schema_whose_name_needs_quoting(database_url: str) -> None:
    """The extension's schema is appended to the search_path as an identifier: a name with capitals, a quote, a
    comma and a space (`"Ext""s, public"`) is that one schema, not `ext` and a second entry."""
    run_sql(database_url, 'CREATE SCHEMA "Ext""s, public"', 'CREATE EXTENSION vector SCHEMA "Ext""s, public"')
    with connect(database_url) as conn:
        path = conn.execute("SELECT current_schemas(false)").fetchone()
        assert path == (["public", 'Ext"s, public'],)
        assert conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone() == (1.0,)


def test_pgvector_in_pg_catalog_leaves_the_search_path_alone(database_url: str) -> None:
    """pg_catalog is searched first even when the search_path leaves it out; appended at the end it was searched
    last, so a function of the same name in public (anyone's, before PostgreSQL 15) ran in its place."""
    run_sql(
        database_url,
        "CREATE EXTENSION vector SCHEMA pg_catalog",
        "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'not pg_catalog.lower' $$",
    )
    with connect(database_url) as conn:
        assert conn.execute("SELECT current_setting('search_path'), lower('X')").fetchone() == ('"$user", public', "x")
        assert conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone() == (1.0,)


def _grant_golden(database_url: str, role: str, privileges: str) -> None:
    run_sql(
        database_url,
        f"GRANT USAGE ON SCHEMA golden TO {role}",
        f"GRANT {privileges} ON ALL TABLES IN SCHEMA golden TO {role}",
    )


def test_a_role_that_may_only_write_the_golden_tables_restores(
    database_url: str, role: str, store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner set the schema up; the restoring role may read and write its tables, nothing more (no CREATE on
    the database, not the owner). Restore ran `CREATE SCHEMA IF NOT EXISTS golden` and the tables' DDL anyway
    (permission denied for database), and dropped the HNSW index of a large load (only its owner may)."""
    code, _, err = run_cli(["--database-url", database_url, "db", "init"], capsys)
    assert code == 0, err
    _grant_golden(database_url, role, "SELECT, INSERT, UPDATE, DELETE")
    monkeypatch.setattr("goldkeeper.db.schema.HNSW_REBUILD_MIN_ROWS", 1)  # these 6 chunks count as a large load
    url = as_role(database_url, role)
    for argv in (["restore", "--dry-run"], ["restore", "--replace"], ["dump", "--out", "copy"]):
        code, _, err = run_cli(["--database-url", url, *argv], capsys)
        assert code == 0, (argv, err)
    assert store_bytes(store) == store_bytes(store.parent / "copy")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(embedding) FROM golden.chunks").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw'").fetchone()[0]


def test_a_dry_run_names_the_grants_a_restore_lacks(
    database_url: str, role: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only role: restore and restore --dry-run refuse alike, before writing, with the GRANTs to run
    (PostgreSQL's `permission denied for table analyses` named neither the role nor the rest)."""
    code, _, err = run_cli(["--database-url", database_url, "db", "init"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["--database-url", as_role(database_url, role), "restore", "--dry-run"], capsys)
    assert (code, err) == (  # was `permission denied for schema golden`
        4,
        f"error: role {role} may not read the golden schema; nothing was changed (have the schema's owner run: "
        f"GRANT USAGE ON SCHEMA golden TO {role}; GRANT SELECT ON golden.schema_info TO {role};)\n",
    )
    _grant_golden(database_url, role, "SELECT")
    grants = (
        "GRANT INSERT ON golden.analyses, golden.chunks, golden.artifacts, golden.findings, golden.queries, "
        f"golden.query_expected, golden.embedding_cache, golden.dataset_state TO {role}; "
    )
    for argv, deletes in ((["restore", "--dry-run"], ""), (["restore", "--replace"], "DELETE")):
        code, out, err = run_cli(["--database-url", as_role(database_url, role), *argv], capsys)
        assert (code, out) == (4, "")
        deleted = f"GRANT DELETE ON golden.analyses, golden.queries TO {role}; " if deletes else ""
        assert err == (
            f"error: role {role} lacks privileges restore needs on the golden schema; nothing was changed (have the "
            f"schema's owner run: {grants}{deleted}GRANT UPDATE ON golden.chunks, golden.dataset_state TO {role};)\n"
        )


def test_a_role_that_may_not_read_the_golden_schema_is_told_what_to_grant(
    database_url: str, role: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dump, verify --db, eval retrieval and eval grounded said PostgreSQL's `permission denied for schema golden` (or `for table
    queries`), without the role or the GRANT; verify --db even called the schema missing. Each names what it reads."""
    code, _, err = run_cli(["--database-url", database_url, "restore"], capsys)
    assert code == 0, err
    url = as_role(database_url, role)
    usage = f"GRANT USAGE ON SCHEMA golden TO {role}; "
    records = "golden.analyses, golden.chunks, golden.artifacts, golden.findings, golden.queries, golden.query_expected"
    reads = {
        ("dump", "--out", "copy"): records,
        ("verify", "--db"): f"{records}, golden.dataset_state",
        ("eval", "retrieval"): "golden.dataset_state, golden.chunks, golden.queries, golden.query_expected",
        ("eval", "grounded"): "golden.chunks",  # the extractive answerer searches the chunks
    }
    for argv, tables in reads.items():
        code, out, err = run_cli(["--database-url", url, *argv], capsys)
        assert (code, out, err) == (
            4,
            "",
            f"error: role {role} may not read the golden schema (have the schema's owner run: {usage}"
            f"GRANT SELECT ON {tables} TO {role};)\n",
        ), argv
    _grant_golden(database_url, role, "SELECT")
    for argv in reads:
        code, _, err = run_cli(["--database-url", url, *argv], capsys)
        assert code == 0, (argv, err)
    assert store_bytes(store) == store_bytes(store.parent / "copy")


def test_a_role_that_may_not_create_what_restore_needs_is_told_what_to_grant(
    database_url: str, role: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh database and a role with no CREATE: PostgreSQL's `permission denied for database` (or `Must be
    superuser to create this extension`) said neither what was being created nor what to grant."""
    url = as_role(database_url, role)
    database = url.split("/")[3].split("?")[0]
    code, _, err = run_cli(["--database-url", url, "restore"], capsys)
    assert (code, err) == (
        4,
        f"error: the pgvector extension is not created in database {database}, and role {role} may not create "
        f"it: have a superuser run `CREATE EXTENSION vector;` in database {database}, then run again\n",
    )
    run_sql(database_url, "CREATE EXTENSION vector")
    code, _, err = run_cli(["--database-url", url, "restore"], capsys)
    assert (code, err) == (
        4,
        f"error: role {role} may not create the schema golden in database {database}: have its owner run "
        f"`GRANT CREATE ON DATABASE {database} TO {role};` (or `CREATE SCHEMA golden AUTHORIZATION {role};`), "
        "then run again\n",
    )
    run_sql(database_url, f"GRANT CREATE ON DATABASE {database} TO {role}")
    code, _, err = run_cli(["--database-url", url, "restore"], capsys)
    assert code == 0, err


def test_a_read_only_session_is_named_before_anything_is_tried(
    database_url: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`default_transaction_read_only = on` (a standby-like session): `cannot execute CREATE SCHEMA in a read-only
    transaction` said which statement, not why; reads still work."""
    code, _, err = run_cli(["--database-url", database_url, "restore"], capsys)
    assert code == 0, err
    url = f"{database_url}&options=-c%20default_transaction_read_only%3Don"
    code, _, err = run_cli(["--database-url", url, "restore", "--dry-run"], capsys)
    assert (code, err) == (
        4,
        "error: the database session is read-only (a standby, or default_transaction_read_only = on for this "
        "role or database): connect to a primary, or set default_transaction_read_only = off for this "
        "connection; nothing was changed\n",
    )
    code, _, err = run_cli(["--database-url", url, "dump", "--out", "copy"], capsys)
    assert code == 0, err


def test_a_statement_timeout_of_the_role_says_how_to_lift_it(
    database_url: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DBA's `statement_timeout = 100ms` cancels a restore's statements (here: the wait for another writer's
    golden lock); `canceling statement due to statement timeout` alone said neither whose setting it was nor
    how to lift it for goldkeeper."""
    url = f"{database_url}&options=-c%20statement_timeout%3D100ms"  # as a role's or database's setting would
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        code, _, err = run_cli(["--database-url", url, "restore"], capsys)
    assert code == 4
    assert err.splitlines()[-1].endswith(f"canceling statement due to statement timeout ({STATEMENT_TIMEOUT_HINT})")
    assert "options=-c statement_timeout=0" in STATEMENT_TIMEOUT_HINT


def test_a_dry_run_says_a_restore_would_retype_the_embedding_column(
    database_url: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model's dimension differs from the database's column (a model changed in params.yaml): a real restore
    retypes golden.chunks.embedding and clears every stored vector, as `db init` says it does; the dry run said
    nothing of it."""
    code, _, err = run_cli(["--database-url", database_url, "restore"], capsys)
    assert code == 0, err
    params = yaml.safe_load((store.parent / "params.yaml").read_text())
    params["embedding"].update(provider=write_program(store.parent, 2 * DIM), dimensions=2 * DIM)
    (store.parent / "params.yaml").write_text(yaml.safe_dump(params))
    code, out, err = run_cli(["--database-url", database_url, "restore", "--dry-run"], capsys)
    assert code == 0, err
    assert out.splitlines()[-2:] == [
        f"embedding dimension {DIM} -> {2 * DIM} (the model's): a restore would retype golden.chunks.embedding, "
        "clear every stored vector and embed every chunk again",
        "dry run: nothing was changed in the database",
    ]
    with psycopg.connect(database_url) as conn:  # rolled back: the vectors are still there
        assert conn.execute("SELECT count(embedding), max(vector_dims(embedding)) FROM golden.chunks").fetchone() == (
            6,
            DIM,
        )
    code, out, err = run_cli(["--database-url", database_url, "restore", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["embeddings"]["dim_changed_from"] == DIM
