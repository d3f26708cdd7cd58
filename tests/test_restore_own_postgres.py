"""Restore into the user's own PostgreSQL (docs/commands.md "Database URL"): what a database set up by
someone else looks like. pgvector installed into a schema of its own, off the search_path, and a role
given the privileges it needs on an existing golden schema but no more (not the owner, no CREATE).
Real roles and databases on the session's embedded server; the CLI as a user runs it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from cli_support import run_cli
from embed_command_support import write_program
from golden_support import make_records, store_bytes
from goldkeeper.store import write_store

DIM = 8


def run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


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


@pytest.fixture
def role(database_url: str) -> Iterator[str]:
    """A login role of its own (dropped afterwards), granted nothing yet."""
    name = f"gk_role_{uuid.uuid4().hex[:8]}"
    run_sql(database_url, f"CREATE ROLE {name} LOGIN")
    try:
        yield name
    finally:
        run_sql(database_url, f"DROP OWNED BY {name}", f"DROP ROLE {name}")


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
