"""verify --db compares content: each database record's canonical hash against the store's, and the URL
contract on the database rows (an UPDATE of one chunk's text or of an analysis URL used to pass)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from goldkeeper.config import Settings, load_settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.dataset.verify import VerifyReport, verify_database
from goldkeeper.embed import Embedder, load_embedder
from verify_helpers import build_store, make_analysis, make_query

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(Settings().embedding)


@pytest.fixture
def restored(tmp_path: Path, database_url: str, embedder: Embedder) -> Iterator[tuple[Path, str]]:
    store = build_store(tmp_path, n=4)
    restore_store(database_url, store, embedder)
    yield store, database_url


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url) as conn:
        for statement in statements:
            conn.execute(statement)


def errors(report: VerifyReport) -> list[tuple[str, str | None, str | None, str | None]]:
    return sorted((i.code, i.file, i.record_id, i.field) for i in report.errors)


def check(url: str, store: Path, embedder: Embedder, tmp_path: Path) -> VerifyReport:
    return verify_database(url, store, Settings(root=tmp_path), embedder)


def test_a_restored_database_matches_record_by_record(
    restored: tuple[Path, str], embedder: Embedder, tmp_path: Path
) -> None:
    store, url = restored
    report = check(url, store, embedder, tmp_path)
    assert report.issues == (), report.to_text()
    assert dict(report.checked)["db records compared"] == 4 + 8


def test_an_updated_chunk_text_is_caught(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    analysis = make_analysis(2)
    chunk = analysis.chunks[1].id
    sql(url, f"UPDATE golden.chunks SET content = content || ' (edited)' WHERE id = '{chunk}'")
    report = check(url, store, embedder, tmp_path)
    field = f"chunks[{chunk}].content"
    assert errors(report) == [("db.content", "database golden.analyses", str(analysis.id), field)]
    assert field in report.errors[0].message and "canonical hash" in report.errors[0].message


def test_an_updated_analysis_url_is_caught_and_checked(
    restored: tuple[Path, str], embedder: Embedder, tmp_path: Path
) -> None:
    store, url = restored
    aid = make_analysis(0).id
    sql(url, f"UPDATE golden.analyses SET url = 'https://example.com/TODO' WHERE id = '{aid}'")
    report = check(url, store, embedder, tmp_path)
    assert errors(report) == [
        ("db.content", "database golden.analyses", str(aid), "url"),
        ("url.placeholder", "database golden.analyses", str(aid), "url"),
    ]


def test_a_valid_new_url_is_still_a_difference(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    aid = make_analysis(1).id
    sql(
        url,
        f"UPDATE golden.analyses SET url = 'https://en.wikipedia.org/wiki/Elsewhere' WHERE id = '{aid}'",
        f"UPDATE golden.artifacts SET summary = 'rewritten' WHERE analysis_id = '{aid}'",
    )
    (issue,) = check(url, store, embedder, tmp_path).errors
    assert (issue.code, issue.record_id, issue.field) == ("db.content", str(aid), None)
    assert "artifact.summary, url" in issue.message


def test_queries_are_compared_and_missing_or_extra_records_listed(
    restored: tuple[Path, str], embedder: Embedder, tmp_path: Path
) -> None:
    store, url = restored
    qid = make_query(3, make_analysis(3)).id
    sql(
        url,
        f"UPDATE golden.queries SET text = 'another question' WHERE id = '{qid}'",
        "DELETE FROM golden.queries WHERE id = 'q0001'",
        "INSERT INTO golden.queries (id, text, domain, expected_behavior) "
        """VALUES ('zz.extra', 'where?', 'x', '{"behavior": "answer"}')""",
    )
    report = check(url, store, embedder, tmp_path)
    content = [e for e in errors(report) if e[0] != "db.count"]
    assert content == [
        ("db.content", "database golden.queries", qid, "text"),
        ("db.record_extra", "database golden.queries", "zz.extra", None),
        ("db.record_missing", "database golden.queries", "q0001", None),
    ]


def test_many_differences_are_bounded(restored: tuple[Path, str], embedder: Embedder, tmp_path: Path) -> None:
    store, url = restored
    sql(url, "UPDATE golden.chunks SET section_title = 'same for all'")
    report = verify_database(url, store, Settings(root=tmp_path), embedder, limit=2)
    messages = [i.message for i in report.errors]
    assert [i.code for i in report.errors] == ["db.content"] * 3
    assert messages[2] == "and 2 more analyses differing from the store"


@pytest.mark.slow
def test_the_sample_is_compared_in_seconds(database_url: str, embedder: Embedder) -> None:
    settings = load_settings(root=REPO, env={})
    restore_store(database_url, REPO / "golden", embedder)
    sql(database_url, "UPDATE golden.chunks SET content = upper(content) WHERE chunk_index = 7")
    started = time.perf_counter()
    report = verify_database(database_url, REPO / "golden", settings, embedder)
    elapsed = time.perf_counter() - started
    print(f"verify --db on the sample (12 analyses, 468 chunks, 4,449 queries): {elapsed:.2f} s")
    assert dict(report.checked)["db records compared"] == 12 + 4449
    assert {i.code for i in report.errors} == {"db.content"}
    assert elapsed < 30, elapsed
