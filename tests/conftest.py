"""Shared fixtures: one real embedded PostgreSQL + pgvector per test session,
a fresh database per test, and the real vendored embedding model.

The server is stopped in teardown (and the test runner's stdout is never
handed to it: pg_ctl logs to a file in pgdata).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldkeeper.db.embedded import EmbeddedServer
from pg_support import run_sql
from retrieval_support import module_database

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """GOLDKEEPER_HOME of the session's embedded server."""
    if os.geteuid() != 0:
        yield tmp_path_factory.mktemp("gkhome")
        return
    # as root, pgserver runs postgres as the `pgserver` user, which cannot enter pytest's 0700 temp
    # directories (and every pytest session resets them to 0700): use a traversable directory of our own.
    home = Path(tempfile.mkdtemp(prefix="goldkeeper-test-pg-"))
    home.chmod(0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_home: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(pg_home)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: EmbeddedServer) -> str:
    url = pg_server.url()
    assert url is not None
    return url


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database on the session server; dropped afterwards."""
    with module_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def second_database(pg_admin_url: str) -> Iterator[str]:
    """Another new, empty database beside ``database_url`` (a restore's target); dropped afterwards."""
    with module_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def role(database_url: str) -> Iterator[str]:
    """A login role of its own (dropped afterwards), granted nothing yet."""
    name = f"gk_role_{uuid.uuid4().hex[:8]}"
    run_sql(database_url, f"CREATE ROLE {name} LOGIN")
    try:
        yield name
    finally:
        run_sql(database_url, f"DROP OWNED BY {name}", f"DROP ROLE {name}")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory as the current directory, with no database env leaking in."""
    for var in ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL", "GOLDKEEPER_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
