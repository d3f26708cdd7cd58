"""verify --db: the database contracts, on a real embedded PostgreSQL restored from a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from goldkeeper.config import Settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.dataset.verify import Issue, ModelIdentity, VerifyReport, verify_database
from goldkeeper.embed import Embedder, load_embedder
from verify_helpers import build_store, make_analysis


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(Settings().embedding)


@pytest.fixture
def restored(tmp_path: Path, database_url: str, embedder: Embedder) -> Iterator[tuple[Path, str]]:
    store = build_store(tmp_path, n=4)
    restore_store(database_url, store, embedder)
    yield store, database_url


def only(report: VerifyReport, code: str) -> list[Issue]:
    others = [i.render() for i in report.errors if i.code != code]
    assert others == [], others
    found = [i for i in report.errors if i.code == code]
    assert found, report.to_text()
    return found


def sql(url: str, *statements: str, replica: bool = False) -> None:
    with psycopg.connect(url) as conn:
        if replica:  # foreign keys are not enforced: the only way to create orphans under this schema
            conn.execute("SET session_replication_role = replica")
        for statement in statements:
            conn.execute(statement)


def test_restored_database_is_clean(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    report = verify_database(url, store, Settings(root=tmp_path), embedder)
    assert report.issues == (), report.to_text()
    assert dict(report.checked) == {
        "db analyses": 4,
        "db artifacts": 4,
        "db chunks": 12,
        "db findings": 4,
        "db queries": 8,
        "db records compared": 12,
    }


def test_no_schema(database_url: str, embedder: Embedder, tmp_path: Path) -> None:
    (issue,) = only(verify_database(database_url, None, Settings(root=tmp_path), embedder), "db.schema_missing")
    assert "golden schema" in issue.message


def test_counts_against_the_manifest(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    sql(url, "DELETE FROM golden.queries WHERE id = 'q0001'", "DELETE FROM golden.findings")
    issues = only(verify_database(url, store, Settings(root=tmp_path), embedder, content=False), "db.count")
    assert {(i.field, i.message.split(",")[0]) for i in issues} == {
        # the queries are not filtered by the analyses' statuses: their count said it was
        ("queries", "the database holds 7 queries"),
        ("findings", "the database holds 0 findings (of the analyses with status in ['completed'])"),
    }


def test_counts_ignore_analyses_a_dump_would_skip(
    restored: tuple[Path, str], embedder: Embedder, tmp_path: Path
) -> None:
    store, url = restored
    aid = make_analysis(0).id
    sql(url, f"UPDATE golden.analyses SET status = 'draft' WHERE id = '{aid}'")
    issues = only(verify_database(url, store, Settings(root=tmp_path), embedder, content=False), "db.count")
    assert {i.field for i in issues} == {"analyses", "chunks", "findings", "artifacts"}


def test_chunk_without_embedding(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    chunk = make_analysis(1).chunks[2].id
    sql(url, f"UPDATE golden.chunks SET embedding = NULL, embedding_model = NULL WHERE id = '{chunk}'")
    (issue,) = only(verify_database(url, store, Settings(root=tmp_path), embedder), "db.chunk_not_embedded")
    assert issue.field == "embedding" and str(chunk) in issue.message and issue.message.startswith("1 chunk(s)")


def test_chunk_embedded_with_another_model(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    chunk = make_analysis(2).chunks[0].id
    sql(url, f"UPDATE golden.chunks SET embedding_model = 'other-model@sha256:0000' WHERE id = '{chunk}'")
    (issue,) = only(verify_database(url, store, Settings(root=tmp_path), embedder), "db.embedding_model")
    assert issue.field == "embedding_model"
    assert (
        "other-model@sha256:0000" in issue.message
        and embedder.model_id in issue.message
        and str(chunk) in issue.message
    )


def test_embedding_dimension_differs_from_the_configured_model(
    restored: tuple[Path, str], embedder: Embedder, tmp_path: Path
) -> None:
    store, url = restored
    report = verify_database(url, store, Settings(root=tmp_path), ModelIdentity(embedder.model_id, embedder.dim + 1))
    issues = only(report, "db.embedding_dim")
    assert len(issues) == 2  # the column type and the stored vectors
    assert f"vector({embedder.dim})" in issues[0].message and f"{embedder.dim + 1} dimensions" in issues[0].message
    assert issues[1].message.startswith(f"12 chunk(s) have {embedder.dim}-dimensional embeddings")


def test_orphans(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    analysis = make_analysis(3)
    sql(url, f"DELETE FROM golden.analyses WHERE id = '{analysis.id}'", replica=True)
    report = verify_database(url, store, Settings(root=tmp_path), embedder)
    by_code = {i.code: i for i in report.errors}
    assert {"db.orphan_chunk", "db.orphan_artifact", "db.orphan_finding"} <= set(by_code)
    assert by_code["db.orphan_chunk"].message.startswith("3 chunk(s) whose analysis does not exist")
    assert all(str(c.id) in by_code["db.orphan_chunk"].message for c in analysis.chunks)
    assert str(analysis.artifact.id) in by_code["db.orphan_artifact"].message  # type: ignore[union-attr]
    assert f"{analysis.id}#0" in by_code["db.orphan_finding"].message
    assert by_code["db.orphan_chunk"].field == "analysis_id"
    # the analysis is gone: counts and the queries expecting it are reported too, nothing else
    assert set(by_code) == {
        "db.orphan_chunk",
        "db.orphan_artifact",
        "db.orphan_finding",
        "db.count",
        "db.dangling_expected",
        "db.record_missing",  # the content comparison (tests/test_verify_db_content.py)
    }


def test_expected_rows_pointing_at_missing_rows(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    chunk = make_analysis(1).chunks[0].id
    sql(
        url,
        "UPDATE golden.query_expected SET target_id = gen_random_uuid() WHERE query_id = 'q0002' AND target_kind = 'analysis'",
        f"DELETE FROM golden.chunks WHERE id = '{chunk}'",
    )
    report = verify_database(url, store, Settings(root=tmp_path), embedder)
    dangling = [i for i in report.errors if i.code == "db.dangling_expected"]
    assert {(i.record_id, i.field, i.message.split()[1]) for i in dangling} == {
        ("q0001", "target_id", "chunk"),
        ("q0002", "target_id", "analysis"),
    }
    assert {i.code for i in report.errors} == {"db.dangling_expected", "db.count", "db.content"}


def test_cli_verify_db_exit_codes(
    project: Path, database_url: str, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    import orjson

    from goldkeeper.cli import main

    store = build_store(project, n=3)
    restore_store(database_url, store, embedder)

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--database-url", database_url, "verify", "--db", *argv])
        return int(exit_info.value.code or 0), capsys.readouterr().out

    code, out = run("--json")
    assert code == 0, out
    assert orjson.loads(out)["checked"]["db chunks"] == 9
    sql(database_url, f"DELETE FROM golden.analyses WHERE id = '{make_analysis(0).id}'", replica=True)
    code, out = run()
    assert code == 5
    assert (
        "[db.orphan_chunk] database golden.chunks: field analysis_id: 3 chunk(s) whose analysis does not exist" in out
    )
    assert "[db.count]" in out
