"""The database records which dataset version and embedding model it holds (golden.dataset_state, written by
restore inside its transaction); verify --db reports it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson
import psycopg
import pytest

from goldkeeper.config import Settings
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.dataset.verify import verify_database
from goldkeeper.db.schema import DB_SCHEMA_VERSION, init_schema, schema_info
from goldkeeper.db.state import dataset_state
from goldkeeper.embed import Embedder, load_embedder
from goldkeeper.errors import ConflictError
from goldkeeper.store import open_store
from verify_helpers import build_store, make_analysis, make_query


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(Settings().embedding)


def test_restore_records_the_version_and_model(tmp_path: Path, database_url: str, embedder: Embedder) -> None:
    assert dataset_state(database_url) is None  # no schema yet
    store = build_store(tmp_path / "a", n=2)
    version = open_store(store).version
    restore_store(database_url, store, embedder)
    state = dataset_state(database_url)
    assert state is not None
    assert (state.dataset, state.version, state.model_id, state.replace) == (
        "verify-test",
        version,
        embedder.model_id,
        False,
    )
    assert state.source is not None and state.source.endswith("golden")
    first_time = state.restored_at

    newer = build_store(tmp_path / "b", n=3)
    restore_store(database_url, newer, embedder, dry_run=True, replace=True)  # a dry run records nothing
    assert dataset_state(database_url) == state
    with pytest.raises(ConflictError):  # refused: nothing changed, the state row neither
        other = [make_analysis(0, chunks=1)]
        restore_records(database_url, other, [], embedder, version="x", dataset="y")
    assert dataset_state(database_url) == state

    restore_store(database_url, newer, embedder, replace=True)
    state = dataset_state(database_url)
    assert state is not None and state.version == open_store(newer).version and state.replace
    assert state.restored_at > first_time


def test_an_import_records_no_store_version(database_url: str, embedder: Embedder) -> None:
    analysis = make_analysis(7)
    restore_records(database_url, [analysis], [make_query(7, analysis)], embedder, source="squad.json")
    state = dataset_state(database_url)
    assert state is not None and (state.version, state.dataset, state.source) == (None, None, "squad.json")
    assert "records imported (no store version)" in state.describe()


def test_verify_db_after_an_import_says_how_to_record_a_version(
    tmp_path: Path, database_url: str, embedder: Embedder
) -> None:
    """import, then dump (the README's "Your data"): verify --db warned with nothing saying what to do."""
    store = build_store(tmp_path / "store", n=2)
    loaded = open_store(store)
    restore_records(database_url, list(loaded.analyses()), list(loaded.queries()), embedder)
    (warning,) = verify_database(database_url, store, Settings(root=tmp_path), embedder).warnings
    assert warning.code == "db.version" and "`goldkeeper restore` records the store's version" in warning.message
    restore_store(database_url, store, embedder)  # what the warning says: identical records, version recorded
    assert verify_database(database_url, store, Settings(root=tmp_path), embedder).warnings == ()


def test_a_version_1_schema_is_migrated(database_url: str) -> None:
    init_schema(database_url, 384)
    with psycopg.connect(database_url) as conn:  # what goldkeeper before the table created
        conn.execute("DROP TABLE golden.dataset_state")
        conn.execute("UPDATE golden.schema_info SET value = '1' WHERE key = 'schema_version'")
    assert dataset_state(database_url) is None
    assert init_schema(database_url, 384)["version"] == DB_SCHEMA_VERSION == 2
    with psycopg.connect(database_url) as conn:
        assert schema_info(conn)["schema_version"] == "2"
        assert conn.execute("SELECT count(*) FROM golden.dataset_state").fetchone() == (0,)


def test_verify_db_reports_the_state_and_warns_on_another_version(
    tmp_path: Path, database_url: str, embedder: Embedder
) -> None:
    old, new = build_store(tmp_path / "old", n=2), build_store(tmp_path / "new", n=3)
    restore_store(database_url, old, embedder)
    report = verify_database(database_url, old, Settings(root=tmp_path), embedder)
    assert report.issues == (), report.to_text()
    assert report.database is not None and report.database["version"] == open_store(old).version
    assert report.database["model_id"] == embedder.model_id
    assert f"database holds dataset verify-test version {open_store(old).version[:12]}" in report.to_text()
    assert orjson.loads(report.to_json())["database"]["version"] == open_store(old).version

    report = verify_database(database_url, new, Settings(root=tmp_path), embedder)
    (warning,) = report.warnings
    assert warning.code == "db.version"
    assert open_store(old).version in warning.message and open_store(new).version in warning.message


def test_cli_verify_db_json_has_the_state(project: Path, database_url: str, embedder: Embedder, capsys) -> None:
    from goldkeeper.cli import main

    store = build_store(project, n=2)
    restore_store(database_url, store, embedder)
    with pytest.raises(SystemExit) as exit_info:
        main(["--database-url", database_url, "verify", "--db", "--json"])
    assert exit_info.value.code in (0, None)
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["database"]["version"] == open_store(store).version and doc["database"]["dataset"] == "verify-test"
    with pytest.raises(SystemExit):
        main(["--database-url", database_url, "verify", "--db"])
    assert f"database holds dataset verify-test version {open_store(store).version[:12]}" in capsys.readouterr().out


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    subprocess.run(["git", *args], cwd=root, env={**env, "GIT_COMMITTER_EMAIL": "t@x"}, check=True, capture_output=True)


def test_evals_and_baselines_take_the_version_from_the_database(
    project: Path, database_url: str, embedder: Embedder, capsys
) -> None:
    """restore --rev <older commit>, then eval: labelled with the older version, a warning naming both."""
    from goldkeeper.cli import main
    from goldkeeper.project import Project

    _git(project, "init", "-q", "-b", "main")
    old = open_store(build_store(project, n=2)).version
    _git(project, "add", "golden")
    _git(project, "commit", "-q", "-m", "v1")
    shutil.rmtree(project / "golden")
    new = open_store(build_store(project, n=3)).version
    _git(project, "add", "-A", "golden")
    _git(project, "commit", "-q", "-m", "v2")
    assert old != new

    gk = Project.load(project, database_url=database_url)
    gk._embedder = embedder
    gk.restore(rev="HEAD~1", replace=True)
    run = gk.eval_retrieval(modes=["fulltext"])
    metrics = orjson.loads(run.written["metrics"].read_bytes())
    assert (metrics["dataset_version"], metrics["store_version"]) == (old, new)
    assert metrics["dataset_version_source"] == "database" and metrics["dataset_version_differs"] is True
    (warning,) = run.result.warnings
    assert f"the database holds dataset version {old}" in warning and f"store is version {new}" in warning

    grounded = gk.eval_grounded(answerer="extractive", limit=2)
    assert grounded.report.dataset_version == old and grounded.report.metrics["dataset_version"] == old
    assert any(old in w and new in w for w in grounded.report.warnings)

    assert gk.identity().dataset_version == old  # baselines and the gate: the version measured
    baseline, _ = gk.record_baseline()
    assert baseline.identity.dataset_version == old

    with pytest.raises(SystemExit):  # the command line says so on stderr
        main(["--database-url", database_url, "eval", "retrieval", "--mode", "fulltext", "--json"])
    err = capsys.readouterr().err
    assert f"warning: the database holds dataset version {old}" in err and new in err

    gk.restore(replace=True)  # the working tree's version: labelled with it, no warning
    run = gk.eval_retrieval(modes=["fulltext"])
    assert run.result.warnings == [] and run.result.metrics()["dataset_version"] == new
    assert run.result.metrics()["dataset_version_differs"] is False
