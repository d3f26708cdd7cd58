"""The full-text index for a ``retrieval.fulltext_config`` other than English (goldkeeper.db.fulltext_index).

golden.chunks' ``tsv`` column and its GIN index are English; under ``german`` each question of ``eval retrieval``
parsed every chunk again until someone ran the warning's ``CREATE INDEX`` by hand. restore, the importers and
``db init`` now build it where goldkeeper may run DDL (the role owns golden.chunks, no params ``database:``).
Real embedded PostgreSQL, real roles, the CLI as a user runs it; a deterministic ``command:`` embedder."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import psycopg
import pytest
import yaml

from cli_support import run_cli
from embed_command_support import write_program
from golden_support import make_records
from goldkeeper.db.fulltext_index import fulltext_index_name, missing_fulltext_index
from goldkeeper.store import write_store
from pg_support import run_sql

DIM = 8
GERMAN = "golden.chunks_fulltext_german"


def _params(project: Path, fulltext_config: str) -> None:
    params = {
        "embedding": {"provider": write_program(project, DIM), "model": "team/fake", "dimensions": DIM},
        "rubric": {"min_prompts": 0, "min_domains": 0},
        "store": {"shards": {"analyses": 1, "queries": 1}},
        "dataset": {"name": "t"},
        "retrieval": {"fulltext_config": fulltext_config},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture
def store(project: Path) -> Path:
    """A project with a two-document store, params `retrieval.fulltext_config: german`."""
    _params(project, "german")
    analyses, queries = make_records(2)
    write_store(project / "golden", "t", analyses, queries, {"analyses": 1, "queries": 1})
    return project / "golden"


def _chunk_indexes(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'golden' AND tablename = 'chunks' ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def _missing(url: str, config: str = "pg_catalog.german") -> str | None:
    with psycopg.connect(url) as conn:
        return missing_fulltext_index(conn, config)


def _restore(url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run_cli(["--database-url", url, "restore", "--json", *argv], capsys)
    assert code == 0, err
    return orjson.loads(out)


def test_a_restore_under_german_builds_the_index_once_and_the_planner_reads_it(
    database_url: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # eval retrieval parsed every chunk again per question, and warned with a CREATE INDEX to run by hand
    assert _restore(database_url, capsys, "--dry-run")["fulltext_index"] is None  # a dry run builds nothing
    assert "chunks_fulltext_german" not in _chunk_indexes(database_url)
    assert _restore(database_url, capsys)["fulltext_index"] == GERMAN
    assert _missing(database_url) is None  # the planner can use it
    before = _chunk_indexes(database_url)
    assert _restore(database_url, capsys, "--replace")["fulltext_index"] is None  # a second restore: no other
    assert _chunk_indexes(database_url) == before
    code, out, err = run_cli(["--database-url", database_url, "restore"], capsys)
    assert code == 0 and "built the full-text index" not in out, err


def test_the_restore_summary_says_it_built_the_index(
    database_url: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["--database-url", database_url, "restore"], capsys)
    assert code == 0, err
    assert f"built the full-text index {GERMAN} (retrieval.fulltext_config), once\n" in out


def test_english_builds_nothing_beyond_the_schema(
    database_url: str, store: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _params(project, "english")
    assert _restore(database_url, capsys)["fulltext_index"] is None
    assert _chunk_indexes(database_url) == [
        "chunks_analysis_id_chunk_index_key",
        "chunks_embedding_hnsw",
        "chunks_pkey",
        "chunks_tsv_gin",
    ]


def test_a_role_that_only_writes_restores_without_the_index_and_eval_still_warns(
    database_url: str, role: str, store: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _params(project, "english")
    code, _, err = run_cli(["--database-url", database_url, "db", "init"], capsys)
    assert code == 0, err
    run_sql(
        database_url,
        f"GRANT USAGE ON SCHEMA golden TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA golden TO {role}",
    )
    _params(project, "german")
    url = database_url.replace("postgresql://postgres:@", f"postgresql://{role}:@")
    assert _restore(url, capsys)["fulltext_index"] is None
    assert _missing(database_url) is not None  # eval keeps warning, with the statement for the owner


def test_db_init_builds_it_as_the_owner(database_url: str, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["--database-url", database_url, "db", "init"], capsys)
    assert code == 0, err
    assert out.splitlines()[1] == f"built the full-text index {GERMAN} (retrieval.fulltext_config), once"
    assert _missing(database_url) is None
    code, out, err = run_cli(["--database-url", database_url, "db", "init", "--json"], capsys)
    assert code == 0 and json.loads(out)["fulltext_index"] is None, err  # there already


def test_an_import_builds_it_too(
    database_url: str, store: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analyses, _ = make_records(1)
    lines = [orjson.dumps(a.model_dump(mode="json")).decode() for a in analyses]
    (project / "a.jsonl").write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(["--database-url", database_url, "import", "jsonl", "a.jsonl", "--json"], capsys)
    assert code == 0, err
    assert orjson.loads(out)["fulltext_index"] == GERMAN


# a.b.c, a.b.c.d: PostgreSQL's "cross-database references", "too many dotted names" were exit 4, "restore failed"
@pytest.mark.parametrize("name", ["klingon", "db.pg_catalog.german", "a.b.c.d"])
def test_an_unknown_configuration_refuses_the_restore_before_anything_is_written(
    database_url: str, store: Path, project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    _params(project, name)
    code, _, err = run_cli(["--database-url", database_url, "restore"], capsys)
    assert code == 3 and f"retrieval.fulltext_config: {name!r} is not a text search configuration" in err, err
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('golden.analyses')").fetchone() == (None,)  # rolled back


def test_index_names_are_stable_and_distinct() -> None:
    assert fulltext_index_name("pg_catalog.german") == "chunks_fulltext_german"
    assert fulltext_index_name("pg_catalog.simple") == "chunks_fulltext_simple"
    swiss, lower = fulltext_index_name('public."Swiss"'), fulltext_index_name("public.swiss")
    assert swiss != lower and swiss.startswith("chunks_fulltext_public_swiss_")
    assert len(fulltext_index_name("x." + "a" * 100)) <= 63
