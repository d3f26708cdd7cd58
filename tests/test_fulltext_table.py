"""The full-text leg under a ``retrieval.fulltext_config`` other than English reads the chunks' tsvectors computed
once into a session TEMP table (goldkeeper.db.fulltext_table), with the same rankings as the expression it
replaces; a session that may not create one (read-only, no TEMP privilege) reads the expression as before.

``ts_rank_cd`` parsed every matching chunk again for each question: the bundled SQuAD sample's full-text eval
under ``german`` took 120 s with the GIN index, 7 s under English. Real embedded PostgreSQL, real roles."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from embed_command_support import write_program
from goldkeeper.config import EmbeddingParams, RetrievalParams, validate_settings
from goldkeeper.dataset.restore import restore_records
from goldkeeper.db.search import GOLDEN_CHUNKS, fulltext_chunks, fulltext_search, searched_chunks
from goldkeeper.embed import Embedder, load_embedder
from goldkeeper.evals.answerers.retriever import database_retriever
from goldkeeper.evals.retrieval import run_retrieval
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from pg_support import run_sql

NS = uuid.UUID("0b6a4c1e-93f2-4d0a-8f3e-5a7c1d2e9b40")
TEXTS = [
    ("Der Gletscher formte ein tiefes Tal in den nördlichen Bergen.", "Gletscher", "text"),
    ("Die Gletscher der Alpen schmelzen jeden Sommer schneller.", "Alpen", "table"),
    ("Basaltsäulen entstehen, wenn Lava langsam abkühlt.", None, "text"),
    ("Der Monsunregen überflutet jeden Sommer das Flussdelta.", "Monsun", "text"),
    ("Der Monsunregen überflutet jeden Sommer das Flussdelta.", "Monsun", "text"),  # a tie: ordered by id
    ("Berge, Täler und Flüsse prägen die Landschaft der Alpen.", "Landschaft", "code"),
]
CHUNK_IDS = [uuid.uuid5(NS, f"chunk-{i}") for i in range(len(TEXTS))]
QUESTIONS = [
    "Wie formte der Gletscher das Tal?",
    "Was geschieht jeden Sommer mit dem Flussdelta?",
    "Landschaft der Alpen: Berge und Täler",
    "und die der",  # stop words only: nothing
    "The glacier carved a valley",  # English under german: no stop word removed
]


@pytest.fixture
def embedder(tmp_path: Path) -> Embedder:
    program = write_program(tmp_path / "embedder", 8)
    return load_embedder(EmbeddingParams(provider=program, model="team/fake", dimensions=8), root=tmp_path / "embedder")


@pytest.fixture
def german(database_url: str, embedder: Embedder) -> str:
    """Six German chunks (two identical) restored; no index on golden.chunks for german (restore_records
    builds none), so the fallback reads the expression and the comparison covers its sequential scan too."""
    analysis = Analysis(
        id=uuid.uuid5(NS, "analysis"),
        url="https://de.wikipedia.org/wiki/Landschaft",
        title="Landschaft",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        chunks=[
            Chunk(id=cid, content=text, section_title=title, section_path=["L"], content_type=ctype, chunk_index=i)
            for i, (cid, (text, title, ctype)) in enumerate(zip(CHUNK_IDS, TEXTS, strict=True))
        ],
    )
    queries = [
        Query(
            id=f"q-{i}",
            text=text,
            domain="test",
            expected=Expected(chunks=[Relevance(id=CHUNK_IDS[i])]),
            expected_behavior=ExpectedBehavior(behavior="answer"),
        )
        for i, text in enumerate(QUESTIONS)
    ]
    restore_records(database_url, [analysis], queries, embedder)
    return database_url


@pytest.fixture
def read_only(german: str, role: str) -> Iterator[str]:
    """The URL of a role of its own whose sessions are read-only (as on a standby), granted reading golden."""
    run_sql(
        german,
        f"GRANT USAGE ON SCHEMA golden TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA golden TO {role}",
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
    )
    yield german.replace("postgresql://postgres:@", f"postgresql://{role}:@")


def _temporary_tables(conn: psycopg.Connection, *, ended: int | None = None) -> int:
    """Temporary tables in the database; ``ended``: the pid of a session closed just before, waited for first (a
    backend drops its temporary tables as it exits, after the client has gone: counted at once, they may be there)."""
    deadline = time.monotonic() + 10
    while ended is not None and time.monotonic() < deadline:
        if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (ended,)).fetchone() == (0,):
            break
        conn.rollback()  # a fresh snapshot of pg_stat_activity
        time.sleep(0.05)
    row = conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'").fetchone()
    return int(row[0]) if row else 0


def _search(url: str, config: str, *, table: bool) -> tuple[list, str | None]:
    with psycopg.connect(url) as conn:
        source = searched_chunks(conn, None, config, None)
        read, why = fulltext_chunks(conn, None, source) if table else (source, None)
        hits = fulltext_search(conn, QUESTIONS, 100, ts_config=config, chunks=read)
        return hits, why


def test_the_temporary_table_ranks_as_the_expression_did(german: str) -> None:
    expression, _ = _search(german, "german", table=False)
    with psycopg.connect(german) as conn:
        pid = conn.info.backend_pid
        read, why = fulltext_chunks(conn, None, searched_chunks(conn, None, "german", None))
        assert why is None and read.as_string(conn).startswith('pg_temp."goldkeeper_fulltext_')
        made = conn.execute(
            "SELECT c.relkind, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
            "WHERE c.relnamespace = pg_my_temp_schema() ORDER BY 1"
        ).fetchall()
        assert made == [("i", "gin"), ("r", "heap")]  # the table and its GIN index, in the session's schema
        table = fulltext_search(conn, QUESTIONS, 100, ts_config="german", chunks=read)
    assert table == expression  # ids, scores, ranks, title matches, content types: the same Hits
    assert [h.chunk_id for h in table[1][:2]] == sorted([str(CHUNK_IDS[3]), str(CHUNK_IDS[4])], reverse=True)
    assert table[3] == [] and all(table[i] for i in (0, 1, 2))
    with psycopg.connect(german) as conn:  # nothing outlives the session: no DDL on golden
        assert _temporary_tables(conn, ended=pid) == 0


def test_english_reads_its_stored_column_without_a_table(german: str) -> None:
    with psycopg.connect(german) as conn:
        assert fulltext_chunks(conn, None, searched_chunks(conn, None, "english", None)) == (GOLDEN_CHUNKS, None)
        # none in this session (another test's session may still be dropping its own as it exits)
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()").fetchone() == (0,)


def test_a_read_only_session_reads_the_expression_with_the_same_rankings(german: str, read_only: str) -> None:
    expression, _ = _search(german, "german", table=False)
    hits, why = _search(read_only, "german", table=True)
    assert hits == expression
    assert why == "the database session is read-only (a standby, or default_transaction_read_only = on)"


def test_a_role_without_the_temp_privilege_reads_the_expression(german: str, role: str) -> None:
    database = psycopg.conninfo.conninfo_to_dict(german)["dbname"]
    run_sql(
        german,
        f"GRANT USAGE ON SCHEMA golden TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA golden TO {role}",
        sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(str(database))).as_string(None),
    )
    hits, why = _search(german.replace("postgresql://postgres:@", f"postgresql://{role}:@"), "german", table=True)
    assert hits == _search(german, "german", table=False)[0]
    assert why == "the role may not create temporary tables (no TEMP privilege on the database)"


def test_eval_retrieval_warns_once_only_when_it_falls_back(german: str, read_only: str, embedder: Embedder) -> None:
    params = RetrievalParams(fulltext_config="german")
    fast = run_retrieval(german, embedder, params, modes=["fulltext", "hybrid"])
    slow = run_retrieval(read_only, embedder, params, modes=["fulltext", "hybrid"])
    assert [m.run for m in fast.modes] == [m.run for m in slow.modes]
    assert fast.per_query_records() == slow.per_query_records()
    assert not [w for w in fast.warnings if "temporary table" in w or "full-text index" in w]
    (note,) = [w for w in slow.warnings if "temporary table" in w]
    assert "\n" not in note and "temporary table, as the database session is read-only (a standby" in note
    assert note.endswith(
        "or have the owner run: CREATE INDEX ON golden.chunks USING gin "
        "(to_tsvector('pg_catalog.german'::regconfig, content));"
    )


def test_the_grounded_retriever_reads_the_table_too(
    german: str, read_only: str, embedder: Embedder, tmp_path: Path
) -> None:
    found = {}
    for name, url in (("table", german), ("expression", read_only)):
        settings = validate_settings(
            {"root": tmp_path, "retrieval": {"fulltext_config": "german"}, "grounded": {"retrieval_mode": "hybrid"}}
        )
        found[name] = database_retriever(settings.model_copy(update={"database_url": url}), embedder)(QUESTIONS, 4)
    assert found["table"] == found["expression"] and found["table"][0]
