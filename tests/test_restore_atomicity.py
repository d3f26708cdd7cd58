"""A restore that dies half way leaves the database exactly as it was.

The restore runs as a real ``goldkeeper restore`` process; once it is embedding
(its backend holds a row lock on golden.embedding_cache inside the restore
transaction) it is SIGKILLed, or its backend is terminated from another
connection. A fingerprint of every golden table must be unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from golden_support import fingerprint, make_records
from goldkeeper.config import EmbeddingParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.embed import load_embedder
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")
PASSWORD = "s3cret-Pa55"

_EMBEDDING_BACKEND = """
SELECT l.pid FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND n.nspname = 'golden' AND c.relname = 'embedding_cache' AND l.mode = 'RowExclusiveLock' AND l.granted
  AND l.pid <> pg_backend_pid()
"""


def _with_password(url: str) -> str:
    assert "postgres:@" in url
    return url.replace("postgres:@", f"postgres:{PASSWORD}@", 1)  # the embedded server trusts local sockets


@pytest.fixture
def restoring(database_url: str, project: Path):
    """A database with committed data, a bigger store to restore, and a function starting the restore."""
    embedder = load_embedder(EmbeddingParams())
    analyses, queries = make_records(3)
    restore_records(database_url, analyses, queries, embedder)
    # 520 chunks: enough for restore to rebuild the HNSW index instead of maintaining it
    more, more_queries = make_records(40, chunks=13, words=60, tag=" v2")
    write_store(project / "golden", "t", more, more_queries, {"analyses": 4, "queries": 4})
    (project / "params.yaml").write_text("embedding:\n  batch_size: 8\n")
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": _with_password(database_url)}

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [GOLDKEEPER, "restore", "--replace"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    started: list[subprocess.Popen[str]] = []

    def run() -> subprocess.Popen[str]:
        started.append(start())
        return started[-1]

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _wait_until_embedding(url: str, proc: subprocess.Popen[str], timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"restore ended before it could be interrupted: {proc.communicate()}"
            row = conn.execute(_EMBEDDING_BACKEND).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.02)
    raise AssertionError("the restore never reached the embedding step")


def _hnsw_index_valid(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('golden.chunks_embedding_hnsw')"
        ).fetchone()
    return row == (True,)


def _wait_backend_gone(url: str, pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} still alive")


@pytest.mark.slow
def test_killed_restore_changes_nothing(database_url, restoring):
    before = fingerprint(database_url)
    proc = restoring()
    backend = _wait_until_embedding(database_url, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    _wait_backend_gone(database_url, backend)
    assert fingerprint(database_url) == before
    assert _hnsw_index_valid(database_url)


@pytest.mark.slow
def test_lost_connection_changes_nothing_and_hides_the_password(database_url, restoring):
    before = fingerprint(database_url)
    proc = restoring()
    backend = _wait_until_embedding(database_url, proc)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone() == (True,)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    assert stderr.startswith("error: ") and "Traceback" not in stderr
    assert PASSWORD not in stderr and "***" in stderr
    _wait_backend_gone(database_url, backend)
    assert fingerprint(database_url) == before
    assert _hnsw_index_valid(database_url)
