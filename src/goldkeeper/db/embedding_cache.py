"""SQL for chunk embeddings and the embedding cache (``golden.embedding_cache``).

Every function runs in the caller's transaction and never commits. Bulk writes
go through ``COPY ... (FORMAT BINARY)`` into a temporary table, then one
``UPDATE ... FROM`` / ``INSERT ... ON CONFLICT DO NOTHING``: no row-by-row
statements. Vectors cross the wire as pgvector's binary format (float32), so
what is stored is bit-for-bit what the model produced.

The cache is keyed by ``(model_id, sha256 of the UTF-8 text)``; ``model_id``
names the model file by its sha256, so a different ONNX file never reuses the
vectors of another.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

_STALE_WHERE = "embedding IS NULL OR embedding_model IS DISTINCT FROM %(model_id)s"


def prepare(conn: psycopg.Connection[Any]) -> None:
    """Register pgvector's adapters on the connection (the extension must exist)."""
    register_vector(conn)


def count_stale_chunks(conn: psycopg.Connection[Any], model_id: str) -> int:
    """Chunks without an embedding by ``model_id``."""
    row = conn.execute(f"SELECT count(*) FROM golden.chunks WHERE {_STALE_WHERE}", {"model_id": model_id}).fetchone()
    return int(row[0]) if row else 0


def iter_stale_chunks(
    conn: psycopg.Connection[Any], model_id: str, batch_size: int
) -> Iterator[list[tuple[UUID, str]]]:
    """Stream ``(id, content)`` of the stale chunks in id order, ``batch_size`` at a time.

    A server-side cursor: memory holds one batch. PostgreSQL cursors are
    insensitive, so updating the rows already read does not disturb it.
    """
    with conn.cursor(name="goldkeeper_stale_chunks") as cur:
        cur.itersize = batch_size
        cur.execute(
            f"SELECT id, content FROM golden.chunks WHERE {_STALE_WHERE} ORDER BY id",
            {"model_id": model_id},
        )
        while True:
            rows = cur.fetchmany(batch_size)
            if not rows:
                return
            yield [(row[0], row[1]) for row in rows]


def lookup_cache(conn: psycopg.Connection[Any], model_id: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
    """The cached vectors for these text hashes (missing ones are absent)."""
    if not shas:
        return {}
    rows = conn.execute(
        "SELECT text_sha256, embedding FROM golden.embedding_cache WHERE model_id = %s AND text_sha256 = ANY(%s)",
        (model_id, list(shas)),
    ).fetchall()
    return {sha: _as_array(vec) for sha, vec in rows}


def _as_array(vec: Any) -> np.ndarray:
    """pgvector's loader gives a ``Vector`` (0.3+) or an ndarray (older)."""
    to_numpy = getattr(vec, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else vec, dtype=np.float32)


def store_cache(conn: psycopg.Connection[Any], model_id: str, items: Sequence[tuple[str, np.ndarray]]) -> int:
    """Add ``(text_sha256, vector)`` pairs to the cache; existing keys are kept. Returns rows added."""
    if not items:
        return 0
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS goldkeeper_cache_in (text_sha256 text, embedding vector) ON COMMIT DROP"
    )
    conn.execute("TRUNCATE goldkeeper_cache_in")
    with conn.cursor().copy("COPY goldkeeper_cache_in (text_sha256, embedding) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["text", "vector"])
        for sha, vector in items:
            copy.write_row((sha, np.asarray(vector, dtype=np.float32)))
    cur = conn.execute(
        """
        INSERT INTO golden.embedding_cache (model_id, text_sha256, embedding)
        SELECT DISTINCT ON (text_sha256) %s, text_sha256, embedding FROM goldkeeper_cache_in
        ON CONFLICT (model_id, text_sha256) DO NOTHING
        """,
        (model_id,),
    )
    return cur.rowcount


#: the temporary table :func:`stage_vectors` fills (``id``, ``embedding``), dropped at commit
STAGED_VECTORS = "goldkeeper_chunk_vec"


def stage_vectors(conn: psycopg.Connection[Any], rows: Sequence[tuple[UUID, np.ndarray]]) -> None:
    """Copy ``(chunk id, vector)`` rows into :data:`STAGED_VECTORS` (emptied first), for one UPDATE ... FROM
    it: a binary COPY and one join instead of an UPDATE per chunk."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGED_VECTORS} (id uuid, embedding vector) ON COMMIT DROP")
    conn.execute(f"TRUNCATE {STAGED_VECTORS}")
    with conn.cursor().copy(f"COPY {STAGED_VECTORS} (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["uuid", "vector"])
        for chunk_id, vector in rows:
            copy.write_row((chunk_id, np.asarray(vector, dtype=np.float32)))


def write_chunk_embeddings(
    conn: psycopg.Connection[Any], model_id: str, rows: Sequence[tuple[UUID, np.ndarray]]
) -> int:
    """Set ``embedding`` and ``embedding_model`` of these chunks. Returns rows updated."""
    if not rows:
        return 0
    stage_vectors(conn, rows)
    cur = conn.execute(
        f"""
        UPDATE golden.chunks AS c SET embedding = v.embedding, embedding_model = %s
        FROM {STAGED_VECTORS} AS v WHERE c.id = v.id
        """,
        (model_id,),
    )
    return cur.rowcount


__all__ = [
    "STAGED_VECTORS",
    "prepare",
    "count_stale_chunks",
    "iter_stale_chunks",
    "lookup_cache",
    "stage_vectors",
    "store_cache",
    "write_chunk_embeddings",
]
