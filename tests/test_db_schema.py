"""The golden reference schema: created, idempotent, versioned, retyped when the model's dimension changes."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import psycopg
import pytest

from goldkeeper.db.schema import (
    DB_SCHEMA_VERSION,
    HNSW_INDEX,
    embedding_column_dim,
    ensure_schema,
    init_schema,
    schema_info,
)
from goldkeeper.errors import DatabaseError

TABLES = {
    "analyses",
    "chunks",
    "artifacts",
    "findings",
    "queries",
    "query_expected",
    "embedding_cache",
    "schema_info",
    "dataset_state",
}


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'golden'").fetchall()
    return {r[0] for r in rows}


def _indexes(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'golden'").fetchall())


def test_ensure_schema_creates_every_table_and_index(database_url):
    assert init_schema(database_url, 384) == {"created": True, "dim_changed_from": None, "version": DB_SCHEMA_VERSION}
    with psycopg.connect(database_url) as conn:
        assert _tables(conn) == TABLES
        indexes = _indexes(conn)
        assert "hnsw" in indexes[HNSW_INDEX] and "vector_cosine_ops" in indexes[HNSW_INDEX]
        assert "gin" in indexes["chunks_tsv_gin"]
        assert schema_info(conn) == {"schema_version": str(DB_SCHEMA_VERSION), "embedding_dim": "384"}
        assert embedding_column_dim(conn) == 384
        # the generated tsvector column works with plain SQL inserts
        conn.execute(
            "INSERT INTO golden.analyses (id, url, title, created_at) VALUES "
            "('00000000-0000-0000-0000-000000000001', 'https://en.wikipedia.org/wiki/X', 'X', now())"
        )
        conn.execute(
            "INSERT INTO golden.chunks (id, analysis_id, content, chunk_index) VALUES "
            "('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', 'Rivers were flowing', 0)"
        )
        assert conn.execute("SELECT tsv @@ to_tsquery('english', 'river') FROM golden.chunks").fetchone() == (True,)


def test_ensure_schema_is_idempotent(database_url):
    init_schema(database_url, 384)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO golden.analyses (id, url, title, created_at) VALUES "
            "('00000000-0000-0000-0000-000000000001', 'https://en.wikipedia.org/wiki/X', 'X', now())"
        )
        before = _indexes(conn)
    assert init_schema(database_url, 384) == {"created": False, "dim_changed_from": None, "version": DB_SCHEMA_VERSION}
    with psycopg.connect(database_url) as conn:
        assert _indexes(conn) == before
        assert conn.execute("SELECT count(*) FROM golden.analyses").fetchone() == (1,)


def test_dimension_change_retypes_the_column_and_clears_vectors(database_url):
    init_schema(database_url, 3)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO golden.analyses (id, url, title, created_at) VALUES "
            "('00000000-0000-0000-0000-000000000001', 'https://en.wikipedia.org/wiki/X', 'X', now())"
        )
        conn.execute(
            "INSERT INTO golden.chunks (id, analysis_id, content, chunk_index, embedding, embedding_model) VALUES "
            "('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', 'text', 0, '[1,0,0]', 'm@sha256:1')"
        )
    with psycopg.connect(database_url) as conn:
        # in the caller's transaction: rolled back with it
        with pytest.raises(RuntimeError):
            with conn.transaction():
                ensure_schema(conn, 5)
                raise RuntimeError("abort")
        assert embedding_column_dim(conn) == 3
    assert init_schema(database_url, 5)["dim_changed_from"] == 3
    with psycopg.connect(database_url) as conn:
        assert embedding_column_dim(conn) == 5
        assert conn.execute("SELECT embedding, embedding_model, content FROM golden.chunks").fetchone() == (
            None,
            None,
            "text",
        )
        assert HNSW_INDEX in _indexes(conn)
        assert schema_info(conn)["embedding_dim"] == "5"


def test_newer_schema_version_is_refused(database_url):
    init_schema(database_url, 4)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE golden.schema_info SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(DatabaseError, match="version 99, newer"):
        init_schema(database_url, 4)


GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")


@pytest.mark.slow
def test_db_init_command(database_url, project):
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url}
    run = subprocess.run([GOLDKEEPER, "db", "init", "--json"], capture_output=True, text=True, env=env, cwd=project)
    assert run.returncode == 0, run.stderr
    assert orjson.loads(run.stdout) == {
        "created": True,
        "dim_changed_from": None,
        "version": DB_SCHEMA_VERSION,
        "fulltext_index": None,  # english: the tsv column's index serves it
        "dim": 384,
    }
    again = subprocess.run([GOLDKEEPER, "db", "init"], capture_output=True, text=True, env=env, cwd=project)
    assert again.returncode == 0 and "already up to date" in again.stdout
