"""``restore --replace`` through params ``database:`` never costs the application data it does not map
(issue 12): a changed record is updated in place, so its unmapped columns and the application's rows that
reference it (even with ON DELETE CASCADE, or RESTRICT) stay; a record id held outside the mapped scope is a
conflict, with nothing changed."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db_mapping_support import DOC, MAPPING, restored_app
from golden_support import store_bytes
from goldkeeper.config import validate_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.errors import ConflictError, DataIntegrityError
from goldkeeper.models import Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import open_store

DIM = 24
CHUNK = str(uuid.UUID(int=100 + 10 * 1 + 0))  # DOC[1]'s first chunk
EXTRA = str(uuid.UUID(int=555))
#: the application's own data about the golden rows: goldkeeper maps none of it
DEPENDENTS = """
ALTER TABLE app.documents ADD COLUMN views int NOT NULL DEFAULT 0;
CREATE TABLE app.feedback (id serial PRIMARY KEY, chunk_id text REFERENCES app.doc_chunks (chunk_id) ON DELETE CASCADE,
    doc_id text REFERENCES app.documents (doc_id) ON DELETE CASCADE, note text);
CREATE TABLE app.pins (chunk_id text NOT NULL REFERENCES app.doc_chunks (chunk_id));
"""


@pytest.fixture
def restored(database_url: str, second_database: str, tmp_path: Path) -> tuple[str, Path, Any, Any]:
    """The application database restored into a second one, which then gains data of the application's own
    about the golden rows."""
    settings, embedder = restored_app(database_url, second_database, tmp_path, DIM)
    with psycopg.connect(second_database, autocommit=True) as conn:
        conn.execute(DEPENDENTS)
        conn.execute("UPDATE app.documents SET views = 42")
        conn.execute("INSERT INTO app.feedback (chunk_id, note) SELECT chunk_id, 'useful' FROM app.doc_chunks")
        conn.execute("INSERT INTO app.feedback (doc_id, note) SELECT doc_id, 'read' FROM app.documents")
        conn.execute("INSERT INTO app.pins SELECT chunk_id FROM app.doc_chunks")
    return second_database, tmp_path / "golden", settings, embedder


def _rows(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement).fetchall()


def test_replace_updates_in_place_keeping_unmapped_columns_and_dependent_rows(
    restored: tuple[str, Path, Any, Any], tmp_path: Path
) -> None:
    url, store, settings, embedder = restored
    vector_before = _rows(url, f"SELECT emb::text FROM app.doc_chunks WHERE chunk_id = '{CHUNK}'")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"UPDATE app.doc_chunks SET body = 'edited in the app', emb = NULL WHERE chunk_id = '{CHUNK}'")
        conn.execute(f"UPDATE app.documents SET name = 'renamed in the app' WHERE doc_id = '{DOC[0]}'")
    feedback = _rows(url, "SELECT * FROM app.feedback ORDER BY id")

    report = restore_store(url, store, embedder, settings=settings, replace=True)

    assert report.analyses.replaced == (DOC[0], DOC[1]) and report.chunks_embedded == 1
    assert _rows(url, "SELECT DISTINCT views FROM app.documents") == [(42,)]  # unmapped column kept
    assert _rows(url, "SELECT * FROM app.feedback ORDER BY id") == feedback  # cascading rows kept
    assert len(_rows(url, "SELECT * FROM app.pins")) == 4  # RESTRICT did not stand in the way
    assert _rows(url, f"SELECT body FROM app.doc_chunks WHERE chunk_id = '{CHUNK}'") == [("text 1.0",)]
    assert _rows(url, f"SELECT emb::text FROM app.doc_chunks WHERE chunk_id = '{CHUNK}'") == vector_before
    dump(url, settings, tmp_path / "again")
    assert store_bytes(store) == store_bytes(tmp_path / "again")


def test_a_changed_text_gets_its_vector_again_and_an_unchanged_row_is_not_written(
    restored: tuple[str, Path, Any, Any],
) -> None:
    url, store, settings, embedder = restored
    with psycopg.connect(url, autocommit=True) as conn:
        # the text changes but the vector stays: the restore must not keep a vector of another text
        conn.execute(f"UPDATE app.doc_chunks SET body = 'edited' WHERE chunk_id = '{CHUNK}'")
    versions = dict(_rows(url, f"SELECT ord, xmin::text FROM app.doc_chunks WHERE doc_id = '{DOC[1]}'"))
    report = restore_store(url, store, embedder, settings=settings, replace=True)
    assert report.analyses.replaced == (DOC[1],) and report.chunks_embedded == 1
    after = dict(_rows(url, f"SELECT ord, xmin::text FROM app.doc_chunks WHERE doc_id = '{DOC[1]}'"))
    assert after[1] == versions[1] and after[0] != versions[0]  # the unchanged chunk was not rewritten
    assert _rows(url, f"SELECT body, emb_model FROM app.doc_chunks WHERE chunk_id = '{CHUNK}'") == [
        ("text 1.0", embedder.model_id)
    ]


def test_a_removed_chunk_is_deleted_and_an_id_held_outside_the_scope_is_a_conflict(
    restored: tuple[str, Path, Any, Any],
) -> None:
    url, store, settings, embedder = restored
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM app.pins")
        conn.execute(
            "INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord) VALUES (%s, %s, 'not in the store', 9)",
            (EXTRA, DOC[1]),
        )
    restore_store(url, store, embedder, settings=settings, replace=True)
    assert _rows(url, f"SELECT count(*) FROM app.doc_chunks WHERE chunk_id = '{EXTRA}'") == [(0,)]

    # DOC[0] moved out of the where by the application: its id is not the restore's to overwrite
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"UPDATE app.documents SET state = 'archived' WHERE doc_id = '{DOC[0]}'")
    before = _rows(url, "SELECT * FROM app.documents ORDER BY doc_id")
    with pytest.raises(ConflictError, match=rf"analysis {DOC[0]} already exists in app.documents outside the mapped"):
        restore_store(url, store, embedder, settings=settings, replace=True)
    assert _rows(url, "SELECT * FROM app.documents ORDER BY doc_id") == before


def test_a_restored_chunk_outside_the_chunks_where_refuses_the_restore(
    restored: tuple[str, Path, Any, Any], database_url: str, tmp_path: Path
) -> None:
    """A chunk the restore would write outside ``database.tables.chunks.where`` (moved there by an update, or
    inserted there) would be lost by the next dump: the restore fails, naming it, with nothing changed."""
    url, _, settings, embedder = restored
    mapping = copy.deepcopy(MAPPING)
    mapping["tables"]["chunks"]["where"] = "ord < 100"
    scoped = validate_settings(
        {
            "root": tmp_path,
            "database": mapping,
            "embedding": settings.embedding.model_dump(),
            "rubric": {"min_prompts": 0, "min_domains": 0},
        }
    )
    moved, added = str(uuid.UUID(int=100 + 10 * 0 + 1)), str(uuid.UUID(int=777))
    with psycopg.connect(database_url, autocommit=True) as conn:  # the source: a store holding such chunks
        conn.execute(f"UPDATE app.doc_chunks SET ord = 150 WHERE chunk_id = '{moved}'")
    dump(database_url, settings, tmp_path / "moved")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE app.doc_chunks SET ord = 1 WHERE chunk_id = '{moved}'")
        conn.execute(
            f"INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord) VALUES ('{added}', '{DOC[1]}', 'x', 200)"
        )
    dump(database_url, settings, tmp_path / "added")
    before = _rows(url, "SELECT * FROM app.doc_chunks ORDER BY chunk_id")
    for store, chunk in ((tmp_path / "moved", moved), (tmp_path / "added", added)):
        with pytest.raises(
            DataIntegrityError,
            match=rf"1 restored chunks would fall outside database.tables.chunks.where \(e.g. {chunk}\)",
        ):
            restore_store(url, store, embedder, settings=scoped, replace=True)
        assert _rows(url, "SELECT * FROM app.doc_chunks ORDER BY chunk_id") == before


def test_a_text_longer_than_its_varchar_column_is_named_with_nothing_changed(
    restored: tuple[str, Path, Any, Any], database_url: str, tmp_path: Path
) -> None:
    """PostgreSQL's "value too long for type character varying(10)" names neither the column nor the record:
    the restore says which record, field and column, before writing anything (a dry run too)."""
    url, _, settings, embedder = restored
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.documents ALTER COLUMN name TYPE varchar(10)")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE app.documents SET name = 'Ünïcødé 🚀 title' WHERE doc_id = '{DOC[1]}'")
    dump(database_url, settings, tmp_path / "long")
    before = _rows(url, "SELECT * FROM app.documents ORDER BY doc_id")
    for dry_run in (True, False):
        with pytest.raises(
            DataIntegrityError,
            match=rf"^analysis {DOC[1]}: title has 15 characters, app.documents.name is character varying\(10\)",
        ):
            restore_store(url, tmp_path / "long", embedder, settings=settings, replace=True, dry_run=dry_run)
        assert _rows(url, "SELECT * FROM app.documents ORDER BY doc_id") == before


def test_chunks_renumbered_under_a_unique_position_are_updated_in_place(
    restored: tuple[str, Path, Any, Any], database_url: str, tmp_path: Path
) -> None:
    """Two sections swapped, a chunk inserted at the head of a document, two documents' heads traded: with the
    common UNIQUE (document, position) constraint, updating positions in place collided with a position not yet
    moved (the restore failed on "duplicate key"). Chunks being moved are parked out of the way first."""
    url, _, settings, embedder = restored
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE app.doc_chunks ADD CONSTRAINT doc_chunks_position UNIQUE (doc_id, ord)")
    first, second = str(uuid.UUID(int=110)), str(uuid.UUID(int=111))
    kept = _rows(url, f"SELECT chunk_id, xmin::text FROM app.doc_chunks WHERE doc_id = '{DOC[0]}' ORDER BY 1")
    with psycopg.connect(database_url, autocommit=True) as conn:  # the source: DOC[1]'s two chunks swapped
        conn.execute(f"UPDATE app.doc_chunks SET ord = 1 - ord WHERE doc_id = '{DOC[1]}'")
    dump(database_url, settings, tmp_path / "swapped")
    with psycopg.connect(database_url, autocommit=True) as conn:  # then a new head: every position shifts
        conn.execute(f"UPDATE app.doc_chunks SET ord = ord + 1 WHERE doc_id = '{DOC[1]}'")
        conn.execute(
            f"INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord) VALUES ('{EXTRA}', '{DOC[1]}', 'new head', 0)"
        )
    dump(database_url, settings, tmp_path / "shifted")
    for store, order in (("swapped", [second, first]), ("shifted", [EXTRA, second, first])):
        report = restore_store(url, tmp_path / store, embedder, settings=settings, replace=True)
        assert report.analyses.replaced == (DOC[1],)
        ords = _rows(url, f"SELECT chunk_id, ord FROM app.doc_chunks WHERE doc_id = '{DOC[1]}' ORDER BY ord")
        assert ords == [(chunk, i) for i, chunk in enumerate(order)]
        dump(url, settings, tmp_path / f"{store}-again")
        assert store_bytes(tmp_path / store) == store_bytes(tmp_path / f"{store}-again")
    assert _rows(url, f"SELECT chunk_id, xmin::text FROM app.doc_chunks WHERE doc_id = '{DOC[0]}' ORDER BY 1") == kept
    with psycopg.connect(database_url, autocommit=True) as conn:  # the heads of DOC[0] and DOC[1] trade places
        conn.execute(
            f"UPDATE app.doc_chunks SET doc_id = CASE doc_id WHEN '{DOC[0]}' THEN '{DOC[1]}' ELSE '{DOC[0]}' END "
            f"WHERE ord = 0 AND doc_id IN ('{DOC[0]}', '{DOC[1]}')"
        )
    dump(database_url, settings, tmp_path / "crossed")
    report = restore_store(url, tmp_path / "crossed", embedder, settings=settings, replace=True)
    assert report.analyses.replaced == (DOC[0], DOC[1])
    dump(url, settings, tmp_path / "crossed-again")
    assert store_bytes(tmp_path / "crossed") == store_bytes(tmp_path / "crossed-again")


def test_an_analyses_replace_removing_a_chunk_a_query_expects_is_refused(
    restored: tuple[str, Path, Any, Any],
) -> None:
    """Through a mapping too: the queries stay (an analyses-only import keeps them), so a replace removing a chunk
    one expects is refused, naming both, with the application's rows unchanged."""
    url, store, settings, embedder = restored
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM app.pins")
    query = Query(
        id="q-pinned",
        text="Which chunk?",
        domain="app",
        expected=Expected(chunks=[Relevance(id=uuid.UUID(CHUNK))]),
        expected_behavior=ExpectedBehavior(behavior="answer"),
    )
    restore_records(url, [], [query], embedder, database=settings.database, keep_absent=frozenset({"analyses"}))
    records = list(open_store(store).analyses())
    without = [a.model_copy(update={"chunks": [c for c in a.chunks if str(c.id) != CHUNK]}) for a in records]
    before = _rows(url, "SELECT * FROM app.doc_chunks ORDER BY chunk_id")
    with pytest.raises(DataIntegrityError, match=rf"^1 query expectation\(s\) .* q-pinned -> chunk {CHUNK}; nothing"):
        restore_records(
            url, without, [], embedder, replace=True, database=settings.database, keep_absent=frozenset({"queries"})
        )
    assert _rows(url, "SELECT * FROM app.doc_chunks ORDER BY chunk_id") == before
