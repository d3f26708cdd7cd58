from __future__ import annotations

from pathlib import Path

import psycopg

from goldkeeper.db.embedded import EmbeddedServer, database_url_for


def test_session_server_has_pgvector(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = conn.execute("SELECT '[1,2,3]'::vector <=> '[1,2,3]'::vector").fetchone()
    assert row is not None and row[0] == 0.0


def test_command_scoped_server_is_stopped_afterwards(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with database_url_for(None, home) as url:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("goldkeeper",)
        assert EmbeddedServer(home).status().running
    assert not EmbeddedServer(home).status().running


def test_configured_url_is_used_as_is(tmp_path: Path) -> None:
    with database_url_for("postgresql://u:secret@db.invalid/x", tmp_path) as url:
        assert url == "postgresql://u:secret@db.invalid/x"
    assert not (tmp_path / "pgdata").exists()
