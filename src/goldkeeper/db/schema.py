"""The reference schema ``golden``: created by the tool, versioned, idempotent.

:func:`ensure_schema` runs inside the caller's transaction (so a restore that
fails also rolls back a schema it created) under the golden advisory lock, so
two processes creating it at once do not race. The schema version and the
embedding dimension are kept in ``golden.schema_info``. When the configured
embedding model has another dimension than the ``embedding`` column, the
column's type is changed in the same transaction: the HNSW index is dropped,
the vectors (useless for the new model) are set to NULL together with their
``embedding_model``, and the index is recreated; :mod:`goldkeeper.embed.fill`
then fills them again.

Tables (users and tests may read and write them with plain SQL)::

    analyses(id uuid pk, url, title, content_type, status, created_at timestamptz)
    chunks(id uuid pk, analysis_id -> analyses, content, section_title, section_path text[],
           content_type, chunk_index, embedding vector(dim), embedding_model, tsv generated)
    artifacts(id uuid pk, analysis_id unique -> analyses, summary, key_findings jsonb, metadata jsonb)
    findings(analysis_id -> analyses, ordinal, agent, category, content, confidence; pk(analysis_id, ordinal))
    queries(id text pk, text, domain, difficulty, tags text[], expected jsonb,
            reference_answers jsonb, expected_behavior jsonb)
    query_expected(query_id -> queries, target_kind 'chunk'|'analysis', target_id uuid, relevance)
    embedding_cache(model_id, text_sha256, embedding vector; pk(model_id, text_sha256))
    dataset_state(one row: dataset, version, model_id, source, replace, restored_at)
    schema_info(key pk, value)

Children reference their analysis ``ON DELETE CASCADE``, so ``DELETE FROM
golden.analyses`` removes a document with everything that belongs to it.
``queries.expected`` mirrors ``query_expected`` (the table is the source of
truth that dump reads; restore writes both).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from goldkeeper.db.connection import connection
from goldkeeper.db.lock import ADVISORY_LOCK_KEY, lock_golden
from goldkeeper.errors import DatabaseError

SCHEMA = "golden"
#: Version of the database schema; bump it with a migration step in :func:`ensure_schema`.
#: 1 -> 2: ``golden.dataset_state`` (what the last restore wrote: :mod:`goldkeeper.db.state`), created by
#: ``_TABLES``' ``CREATE TABLE IF NOT EXISTS`` on the first restore or ``db init`` of a version-1 schema.
DB_SCHEMA_VERSION = 2
HNSW_INDEX = "chunks_embedding_hnsw"

_TABLES = """
CREATE TABLE IF NOT EXISTS golden.schema_info (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS golden.analyses (
    id           uuid PRIMARY KEY,
    url          text NOT NULL,
    title        text NOT NULL,
    content_type text NOT NULL DEFAULT 'text',
    status       text NOT NULL DEFAULT 'completed',
    created_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS analyses_status ON golden.analyses (status);
CREATE TABLE IF NOT EXISTS golden.chunks (
    id              uuid PRIMARY KEY,
    analysis_id     uuid NOT NULL REFERENCES golden.analyses (id) ON DELETE CASCADE,
    content         text NOT NULL,
    section_title   text,
    section_path    text[] NOT NULL DEFAULT '{{}}',
    content_type    text NOT NULL DEFAULT 'text',
    chunk_index     integer NOT NULL CHECK (chunk_index >= 0),
    embedding       vector({dim}),
    embedding_model text,
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    UNIQUE (analysis_id, chunk_index)
);
CREATE INDEX IF NOT EXISTS chunks_tsv_gin ON golden.chunks USING gin (tsv);
CREATE TABLE IF NOT EXISTS golden.artifacts (
    id           uuid PRIMARY KEY,
    analysis_id  uuid NOT NULL UNIQUE REFERENCES golden.analyses (id) ON DELETE CASCADE,
    summary      text NOT NULL,
    key_findings jsonb NOT NULL DEFAULT '[]',
    metadata     jsonb NOT NULL DEFAULT '{{}}'
);
CREATE TABLE IF NOT EXISTS golden.findings (
    analysis_id uuid NOT NULL REFERENCES golden.analyses (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL CHECK (ordinal >= 0),
    agent       text NOT NULL,
    category    text NOT NULL,
    content     text NOT NULL,
    confidence  double precision CHECK (confidence BETWEEN 0 AND 1),
    PRIMARY KEY (analysis_id, ordinal)
);
CREATE TABLE IF NOT EXISTS golden.queries (
    id                text PRIMARY KEY,
    text              text NOT NULL,
    domain            text NOT NULL,
    difficulty        text NOT NULL DEFAULT 'medium',
    tags              text[] NOT NULL DEFAULT '{{}}',
    expected          jsonb NOT NULL DEFAULT '{{"analyses": [], "chunks": []}}',
    reference_answers jsonb NOT NULL DEFAULT '[]',
    expected_behavior jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS golden.query_expected (
    query_id    text NOT NULL REFERENCES golden.queries (id) ON DELETE CASCADE,
    target_kind text NOT NULL CHECK (target_kind IN ('chunk', 'analysis')),
    target_id   uuid NOT NULL,
    relevance   integer NOT NULL DEFAULT 1 CHECK (relevance >= 1),
    PRIMARY KEY (query_id, target_kind, target_id)
);
CREATE INDEX IF NOT EXISTS query_expected_target ON golden.query_expected (target_kind, target_id);
CREATE TABLE IF NOT EXISTS golden.dataset_state (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    dataset     text,
    version     text,
    model_id    text NOT NULL,
    source      text,
    replace     boolean NOT NULL,
    restored_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS golden.embedding_cache (
    model_id    text NOT NULL,
    text_sha256 text NOT NULL,
    embedding   vector NOT NULL,
    PRIMARY KEY (model_id, text_sha256)
);
"""

_HNSW = f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON golden.chunks USING hnsw (embedding vector_cosine_ops)"


def embedding_column_dim(conn: psycopg.Connection[Any]) -> int | None:
    """The dimension of ``golden.chunks.embedding`` (None: no table, or an undimensioned vector)."""
    row = conn.execute(
        """
        SELECT a.atttypmod FROM pg_attribute a
        WHERE a.attrelid = to_regclass('golden.chunks') AND a.attname = 'embedding' AND NOT a.attisdropped
        """
    ).fetchone()
    if row is None or row[0] is None or row[0] < 1:
        return None
    return int(row[0])


def schema_info(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The rows of ``golden.schema_info`` ({} when the schema does not exist)."""
    if conn.execute("SELECT to_regclass('golden.schema_info')").fetchone() == (None,):
        return {}
    return dict(conn.execute("SELECT key, value FROM golden.schema_info").fetchall())


def ensure_schema(conn: psycopg.Connection[Any], dim: int) -> dict[str, Any]:
    """Create or upgrade the golden schema for embeddings of ``dim`` dimensions.

    Runs in the caller's transaction (commit is the caller's job) and is
    idempotent. Returns what it did: ``{"created": bool, "dim_changed_from":
    int | None, "version": int}``.
    """
    if not isinstance(dim, int) or not 1 <= dim <= 16000:
        raise DatabaseError(f"embedding dimension must be an integer in 1..16000, got {dim!r}")
    lock_golden(conn)
    existed = conn.execute("SELECT to_regclass('golden.schema_info')").fetchone() != (None,)
    if existed:
        info = schema_info(conn)
        version = int(info.get("schema_version", "0") or 0)
        if version > DB_SCHEMA_VERSION:
            raise DatabaseError(
                f"the golden schema is version {version}, newer than this goldkeeper understands "
                f"({DB_SCHEMA_VERSION}); upgrade goldkeeper"
            )
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute("CREATE SCHEMA IF NOT EXISTS golden")
    for statement in _TABLES.format(dim=dim).split(";"):
        if statement.strip():
            conn.execute(statement)
    changed_from = None
    current = embedding_column_dim(conn)
    if current != dim:
        changed_from = current
        conn.execute(f"DROP INDEX IF EXISTS golden.{HNSW_INDEX}")
        conn.execute(f"ALTER TABLE golden.chunks ALTER COLUMN embedding TYPE vector({dim}) USING NULL")
        conn.execute("UPDATE golden.chunks SET embedding_model = NULL WHERE embedding_model IS NOT NULL")
    conn.execute(_HNSW)
    conn.execute(
        """
        INSERT INTO golden.schema_info (key, value) VALUES ('schema_version', %s), ('embedding_dim', %s)
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value WHERE golden.schema_info.value <> EXCLUDED.value
        """,
        (str(DB_SCHEMA_VERSION), str(dim)),
    )
    return {"created": not existed, "dim_changed_from": changed_from, "version": DB_SCHEMA_VERSION}


#: rebuild the HNSW index instead of maintaining it when at least this many vectors are written...
HNSW_REBUILD_MIN_ROWS = 500
#: ... and they are at least this share of all chunks (inserting into an HNSW graph row by row costs
#: about ten times more per row than building the graph once: see benchmarks/).
HNSW_REBUILD_MIN_SHARE = 0.1


@contextmanager
def hnsw_deferred(conn: psycopg.Connection[Any], rows_to_write: int) -> Iterator[bool]:
    """Drop the HNSW index while many chunk vectors are written, build it once afterwards.

    In the caller's transaction: if the body raises, the index is not rebuilt
    and the transaction must be rolled back (which brings the index back).
    Yields whether the index was deferred. Note that DROP INDEX locks
    golden.chunks against readers until the transaction ends.
    """
    total_row = conn.execute("SELECT count(*) FROM golden.chunks").fetchone()
    total = int(total_row[0]) if total_row else 0
    defer = rows_to_write >= HNSW_REBUILD_MIN_ROWS and rows_to_write >= HNSW_REBUILD_MIN_SHARE * total
    if not defer:
        yield False
        return
    conn.execute(f"DROP INDEX IF EXISTS golden.{HNSW_INDEX}")
    yield True
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    conn.execute(_HNSW)


def init_schema(url: str, dim: int, lock_timeout: float | None = None) -> dict[str, Any]:
    """``goldkeeper db init``: ensure the schema in its own committed transaction (waiting at most
    ``lock_timeout`` seconds for another writer's golden lock)."""
    with connection(url) as conn:
        with conn.transaction():
            lock_golden(conn, lock_timeout)
            result = ensure_schema(conn, dim)
    return result


__all__ = [
    "SCHEMA",
    "DB_SCHEMA_VERSION",
    "ADVISORY_LOCK_KEY",
    "HNSW_INDEX",
    "lock_golden",
    "embedding_column_dim",
    "schema_info",
    "ensure_schema",
    "init_schema",
    "hnsw_deferred",
]
