"""The connected role's privileges on the mapped tables, named up front (real PostgreSQL roles): ``db check``
and ``dump`` name a missing SELECT or schema USAGE, ``restore`` a missing INSERT / UPDATE / DELETE, before any
work. They failed late instead, with PostgreSQL's ``permission denied for table ...`` (no column, no role)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from cli_support import run_cli
from db_mapping_support import MAPPING, app_database
from embed_command_support import write_program
from golden_support import store_bytes
from goldkeeper.config import EmbeddingParams, validate_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.embed import load_embedder
from goldkeeper.errors import ConfigError
from goldkeeper.store import open_store
from pg_support import run_sql

DIM = 24


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres:@", f"postgresql://{role}:@")


def _params(project: Path) -> None:
    program = write_program(project, DIM)
    params = {
        "database": MAPPING,
        "embedding": {"provider": program, "model": "team/app-embedder", "dimensions": DIM},
        "rubric": {"min_prompts": 0, "min_domains": 0},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))


def test_a_missing_select_is_named_by_db_check_and_dump(
    database_url: str, role: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url, dim=DIM)
    run_sql(
        database_url,
        f"GRANT USAGE ON SCHEMA app TO {role}",
        f"GRANT SELECT ON app.documents, app.summaries, app.notes TO {role}",
        f"GRANT SELECT (chunk_id, doc_id, body, emb) ON app.doc_chunks TO {role}",
    )
    _params(project)
    url = as_role(database_url, role)
    code, out, err = run_cli(["--database-url", url, "db", "check"], capsys)
    assert (code, out) == (3, "")
    assert err == (
        f"app.doc_chunks: role {role} lacks SELECT on column(s) ord, path, heading, emb_model (every command reads it)\n"
        "error: database mapping: 1 problem(s)\n"
    )
    code, out, err = run_cli(["--database-url", url, "dump"], capsys)
    assert (code, out) == (3, "")
    assert err == (
        f"error: database mapping: app.doc_chunks: role {role} lacks SELECT on column(s) ord, path, heading "
        "(every command reads it)\n"
    )  # the dump reads no vector
    assert not (project / "golden").exists()


def test_a_schema_without_usage_is_not_called_missing(
    database_url: str, role: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_database(database_url, dim=DIM)
    run_sql(database_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA app TO {role}")  # but no USAGE on app
    _params(project)
    code, out, err = run_cli(["--database-url", as_role(database_url, role), "db", "check", "--json"], capsys)
    assert code == 3, err
    report = json.loads(out)
    assert report["problems"] == [
        f"app.{table}: role {role} lacks USAGE on schema app (every command reads it)"
        for table in ("documents", "doc_chunks", "summaries", "notes")
    ]
    assert report["missing_tables"] == []


def test_restore_names_a_missing_write_privilege_before_writing(
    database_url: str, second_database: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A role that may read every mapped table, insert into all but one: db check passes with a note (a dump-only
    role is fine), restore stops before writing, naming the privilege, the table and the role."""
    name = f"gk_writer_{uuid.uuid4().hex[:8]}"
    app_database(database_url, dim=DIM)
    app_database(second_database, rows=False, dim=DIM)
    run_sql(
        second_database,
        f"CREATE ROLE {name} LOGIN",
        f"CREATE SCHEMA golden AUTHORIZATION {name}",  # goldkeeper's own bookkeeping, the embedding cache
        f"DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {name}', current_database()); END $$",
        f"GRANT USAGE ON SCHEMA app TO {name}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO {name}",
        f"REVOKE INSERT ON app.notes FROM {name}",
    )
    try:
        _params(project)
        settings = validate_settings({**yaml.safe_load((project / "params.yaml").read_text()), "root": project})
        dump(database_url, settings, project / "one")
        url = as_role(second_database, name)
        code, out, err = run_cli(["--database-url", url, "db", "check"], capsys)
        assert code == 0, err
        assert (
            err
            == f"note: app.notes: role {name} lacks INSERT on the table (restore inserts new records); restore would fail\n"
        )
        embedder = load_embedder(EmbeddingParams(**settings.embedding.model_dump()), root=project)
        message = (
            f"database mapping: app.notes: role {name} lacks INSERT on the table (restore inserts new records); "
            "nothing was changed"
        )
        with pytest.raises(ConfigError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
            restore_store(url, project / "one", embedder, settings=settings)
        with psycopg.connect(second_database) as conn:
            assert conn.execute("SELECT count(*) FROM app.documents").fetchone() == (0,)
        run_sql(second_database, f"GRANT INSERT ON app.notes TO {name}")
        restore_store(url, project / "one", embedder, settings=settings)
        dump(second_database, settings, project / "two")
        assert store_bytes(project / "one") == store_bytes(project / "two")
        # a dry run whose records conflict refuses too (it returned the conflicts before checking anything)
        run_sql(second_database, f"REVOKE INSERT ON app.notes FROM {name}")
        edited = [a.model_copy(update={"title": f"{a.title} (edited)"}) for a in open_store(project / "one").analyses()]
        with pytest.raises(ConfigError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
            restore_records(url, edited, [], embedder, dry_run=True, database=settings.database)
    finally:
        run_sql(second_database, f"DROP OWNED BY {name}")
        run_sql(database_url, f"DROP ROLE {name}")
