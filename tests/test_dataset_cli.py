"""`goldkeeper dump` / `goldkeeper restore` as a user runs them (real processes, real git repo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest

from golden_support import fingerprint, make_records, store_bytes
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")


def gk(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": url}
    return subprocess.run([GOLDKEEPER, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def git(project: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_restore_dump_dry_run_and_conflicts(database_url, project):
    analyses, queries = make_records(3)
    write_store(project / "golden", "t", analyses, queries, {"analyses": 2, "queries": 2})
    original = store_bytes(project / "golden")

    run = gk(project, database_url, "restore", "--json")
    assert run.returncode == 0, run.stderr
    report = orjson.loads(run.stdout)
    assert report["analyses"]["counts"]["added"] == 3 and report["embeddings"]["chunks_embedded"] == 9

    run = gk(project, database_url, "dump", "--out", "copy", "--json")
    assert run.returncode == 0, run.stderr
    assert orjson.loads(run.stdout)["counts"] == {
        "analyses": 3,
        "artifacts": 3,
        "chunks": 9,
        "findings": 3,
        "queries": 4,
    }
    # same records, same shard counts as params.yaml would give: compare the records via a dump into golden/
    run = gk(project, database_url, "dump")
    assert run.returncode == 0 and "(unchanged)" not in run.stdout  # shard counts differ from the hand-written store
    run = gk(project, database_url, "dump")
    assert run.returncode == 0 and "(unchanged)" in run.stdout
    assert store_bytes(project / "golden") != original

    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE golden.queries SET text = 'edited by hand' WHERE id = 'q-0001'")
    before = fingerprint(database_url)
    run = gk(project, database_url, "restore", "--dry-run")
    assert run.returncode == 4
    assert "conflicting queries: q-0001" in run.stdout and "dry run" in run.stdout
    run = gk(project, database_url, "restore")
    assert run.returncode == 4 and run.stderr.startswith("error: ") and "query q-0001" in run.stderr
    assert "Traceback" not in run.stderr
    assert fingerprint(database_url) == before
    run = gk(project, database_url, "restore", "--replace")
    assert run.returncode == 0, run.stderr
    assert "1 replaced" in run.stdout
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT text FROM golden.queries WHERE id = 'q-0001'").fetchone() == (
            "What about Article 1?",
        )


@pytest.mark.slow
def test_restore_from_a_git_revision(database_url, project):
    git(project, "init", "-q", "-b", "main")
    v1, q1 = make_records(3)
    write_store(project / "golden", "golden", v1, q1, {"analyses": 8, "queries": 16})
    v1_bytes = store_bytes(project / "golden")
    git(project, "add", "golden")
    git(project, "commit", "-q", "-m", "v1")
    v2, q2 = make_records(4, tag=" v2")
    write_store(project / "golden", "t", v2, q2, {"analyses": 8, "queries": 16})
    git(project, "add", "golden")
    git(project, "commit", "-q", "-m", "v2")
    write_store(project / "golden", "t", v2[:1], [], {"analyses": 8, "queries": 16})  # uncommitted edit

    run = gk(project, database_url, "restore", "--rev", "HEAD~1", "--json")
    assert run.returncode == 0, run.stderr
    report = orjson.loads(run.stdout)
    assert report["source"].startswith("HEAD~1") and report["analyses"]["counts"]["added"] == 3
    run = gk(project, database_url, "dump", "--out", "from-db")
    assert run.returncode == 0, run.stderr
    assert store_bytes(project / "from-db") == v1_bytes

    run = gk(project, database_url, "restore", "--rev", "main", "--replace", "--json")
    assert run.returncode == 0, run.stderr
    report = orjson.loads(run.stdout)
    assert report["analyses"]["counts"]["replaced"] == 3 and report["analyses"]["counts"]["added"] == 1

    run = gk(project, database_url, "restore", "--rev", "no-such-rev")
    assert run.returncode != 0 and "no-such-rev" in run.stderr and "Traceback" not in run.stderr
