"""A restore through a mapping that writes many vectors rebuilds the user's HNSW index once, exactly as it was
(MappedChunkVectors.hnsw_deferred), in the restore's transaction; indexes it may not re-create exactly stay."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from db_mapping_support import MAPPING, app_database
from embed_command_support import write_program
from golden_support import make_records
from goldkeeper.config import EmbeddingParams, validate_settings
from goldkeeper.dataset.restore import restore_records
from goldkeeper.db.mapped_loader import MappedChunkVectors
from goldkeeper.db.mapping import Mapping
from goldkeeper.embed import load_embedder

DIM = 24
HNSW = "CREATE INDEX doc_chunks_emb ON app.doc_chunks USING hnsw (emb vector_cosine_ops) WITH (m = 8, ef_construction = 32)"


def _definitions(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'doc_chunks' ORDER BY 1"
    ).fetchall()


def _vectors(tmp_path: Path) -> MappedChunkVectors:
    settings = validate_settings({"root": tmp_path, "database": MAPPING})
    assert settings.database is not None
    return MappedChunkVectors(Mapping.from_params(settings.database))


def test_a_large_mapped_restore_rebuilds_the_users_hnsw_index_as_it_was(database_url: str, tmp_path: Path) -> None:
    app_database(database_url, rows=False, dim=DIM)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(HNSW)
        conn.execute("CREATE INDEX doc_chunks_model ON app.doc_chunks (emb_model)")
        before = _definitions(conn)
        oid = conn.execute("SELECT 'app.doc_chunks_emb'::regclass::oid").fetchone()
    program = write_program(tmp_path / "embedder", DIM)
    embedding = EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM)
    embedder = load_embedder(embedding, root=tmp_path / "embedder")
    settings = validate_settings({"root": tmp_path, "database": MAPPING, "embedding": embedding.model_dump()})
    records = make_records(50, chunks=10)[0]
    analyses = [a.model_copy(update={"status": "published", "findings": []}) for a in records]  # notes: no confidence
    report = restore_records(database_url, analyses, [], embedder, database=settings.database)
    assert report.chunks_embedded == 500
    with psycopg.connect(database_url) as conn:
        assert _definitions(conn) == before
        assert conn.execute("SELECT 'app.doc_chunks_emb'::regclass::oid").fetchone() != oid  # built anew, once
        assert conn.execute("SELECT count(*) FROM app.doc_chunks WHERE emb IS NULL").fetchone() == (0,)
        conn.execute("SET enable_seqscan = off")
        nearest = conn.execute(
            "SELECT chunk_id FROM app.doc_chunks ORDER BY emb <=> (SELECT emb FROM app.doc_chunks WHERE ord = 3 "
            "ORDER BY chunk_id LIMIT 1) LIMIT 1"
        ).fetchone()
        first = conn.execute("SELECT chunk_id FROM app.doc_chunks WHERE ord = 3 ORDER BY chunk_id LIMIT 1").fetchone()
    assert nearest == first  # the re-built index finds a chunk's own vector first


def test_the_index_is_dropped_only_inside_the_transaction_and_a_rollback_brings_it_back(
    database_url: str, tmp_path: Path
) -> None:
    app_database(database_url, rows=False, dim=DIM)
    vectors = _vectors(tmp_path)
    with psycopg.connect(database_url) as conn:
        conn.execute(HNSW)
        conn.commit()
        before = _definitions(conn)
        with conn.transaction():
            with vectors.hnsw_deferred(conn, 499) as deferred:  # below the threshold: maintained row by row
                assert deferred == [] and _definitions(conn) == before
        with pytest.raises(RuntimeError, match="embedding failed"):
            with conn.transaction():
                with vectors.hnsw_deferred(conn, 1000) as deferred:
                    assert deferred == ["app.doc_chunks_emb"] and _definitions(conn) == before[1:]  # the pkey stays
                    raise RuntimeError("embedding failed")
        assert _definitions(conn) == before
        with conn.transaction():
            with vectors.hnsw_deferred(conn, 1000) as deferred:
                assert deferred == ["app.doc_chunks_emb"]
        assert _definitions(conn) == before


def test_indexes_it_cannot_recreate_exactly_are_kept(database_url: str, tmp_path: Path) -> None:
    app_database(database_url, rows=False, dim=DIM)
    vectors = _vectors(tmp_path)
    with psycopg.connect(database_url) as conn:
        conn.execute(HNSW)
        conn.execute("COMMENT ON INDEX app.doc_chunks_emb IS 'owned by the search team'")
        conn.commit()
        with conn.transaction():
            with vectors.hnsw_deferred(conn, 1000) as deferred:
                assert deferred == []  # a comment would be lost
        conn.execute("COMMENT ON INDEX app.doc_chunks_emb IS NULL")
        conn.execute("CREATE ROLE gk_hnsw_writer")
        conn.execute("GRANT USAGE ON SCHEMA app TO gk_hnsw_writer")
        conn.execute("GRANT SELECT, INSERT, UPDATE ON app.doc_chunks TO gk_hnsw_writer")
        conn.commit()
        try:
            with conn.transaction():
                conn.execute("SET LOCAL ROLE gk_hnsw_writer")  # may write the rows, may not drop the index
                with vectors.hnsw_deferred(conn, 1000) as deferred:
                    assert deferred == []
                conn.execute("RESET ROLE")
                with vectors.hnsw_deferred(conn, 1000) as deferred:  # the owner may
                    assert deferred == ["app.doc_chunks_emb"]
        finally:
            conn.execute("DROP OWNED BY gk_hnsw_writer")
            conn.execute("DROP ROLE gk_hnsw_writer")
            conn.commit()
