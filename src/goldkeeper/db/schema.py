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
from goldkeeper.db.fulltext_index import build_fulltext_index, text_search_config
from goldkeeper.db.golden_privileges import owns_table, refuse_unreadable
from goldkeeper.db.lock import ADVISORY_LOCK_KEY, lock_golden
from goldkeeper.errors import DatabaseError
from goldkeeper.progress import SILENT, Progress

SCHEMA = "golden"
#: what a command that reads the golden tables says when they do not exist (a database never restored into)
NO_GOLDEN_SCHEMA = "the database has no golden schema (run `goldkeeper db init` or `goldkeeper restore` first)"
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


#: every relation ``_TABLES`` and ``_HNSW`` create (an up-to-date schema has them all)
_RELATIONS = [
    f"golden.{name}"
    for name in (
        *("schema_info", "analyses", "chunks", "artifacts", "findings", "queries", "query_expected"),
        *("dataset_state", "embedding_cache", "analyses_status", "chunks_tsv_gin", "query_expected_target", HNSW_INDEX),
    )
]


def _up_to_date(conn: psycopg.Connection[Any], info: dict[str, str], dim: int) -> bool:
    """Whether the schema is exactly what :func:`ensure_schema` would make of it: then it runs no DDL, so a role
    that may only read and write the golden tables (not their owner, no CREATE) can restore into them."""
    if info.get("schema_version") != str(DB_SCHEMA_VERSION) or info.get("embedding_dim") != str(dim):
        return False
    row = conn.execute(
        "SELECT bool_and(to_regclass(r) IS NOT NULL) FROM unnest(%s::text[]) r", (_RELATIONS,)
    ).fetchone()
    return row == (True,) and embedding_column_dim(conn) == dim


def _refuse_read_only(conn: psycopg.Connection[Any]) -> None:
    """A read-only session (a standby, ``default_transaction_read_only``) fails at the first write, named by
    its statement (``cannot execute CREATE SCHEMA ...``): say what it is before anything is tried."""
    if conn.execute("SELECT current_setting('transaction_read_only')").fetchone() == ("on",):
        raise DatabaseError(
            "the database session is read-only (a standby, or default_transaction_read_only = on for this role or "
            "database): connect to a primary, or set default_transaction_read_only = off for this connection; "
            "nothing was changed"
        )


def _who(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    """The connected role and the database, quoted as SQL identifiers (for a GRANT to copy)."""
    row = conn.execute("SELECT quote_ident(current_user), quote_ident(current_database())").fetchone()
    return (str(row[0]), str(row[1])) if row else ("?", "?")


def _create_vector_extension(conn: psycopg.Connection[Any]) -> None:
    """CREATE EXTENSION vector, or one line saying who must do it: only a superuser may create pgvector's."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is None:
        raise DatabaseError(
            "the pgvector extension is not installed on this PostgreSQL server (no `vector` in "
            "pg_available_extensions): install pgvector on the server, then run again"
        )
    role, database = _who(conn)
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise DatabaseError(
            f"the pgvector extension is not created in database {database}, and role {role} may not create it: "
            f"have a superuser run `CREATE EXTENSION vector;` in database {database}, then run again"
        ) from exc


def _create_golden_schema(conn: psycopg.Connection[Any]) -> None:
    """CREATE SCHEMA golden, or one line naming the GRANT the role lacks."""
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'golden'").fetchone() is not None:
        return  # CREATE SCHEMA IF NOT EXISTS would still need CREATE on the database
    if conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone() == (False,):
        role, database = _who(conn)
        raise DatabaseError(
            f"role {role} may not create the schema golden in database {database}: have its owner run "
            f"`GRANT CREATE ON DATABASE {database} TO {role};` (or `CREATE SCHEMA golden AUTHORIZATION {role};`), "
            "then run again"
        )
    conn.execute("CREATE SCHEMA golden")


def _create_tables(conn: psycopg.Connection[Any], dim: int) -> int | None:
    """Create the missing tables and indexes, retype the embedding column to ``dim`` dimensions (returning
    its former dimension, None when it had ``dim`` already), record the version and dimension."""
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
    return changed_from


def ensure_schema(conn: psycopg.Connection[Any], dim: int) -> dict[str, Any]:
    """Create or upgrade the golden schema for embeddings of ``dim`` dimensions.

    Runs in the caller's transaction (commit is the caller's job) and is
    idempotent; an up-to-date schema is only read. Returns what it did:
    ``{"created": bool, "dim_changed_from": int | None, "version": int}``.
    """
    if not isinstance(dim, int) or not 1 <= dim <= 16000:
        raise DatabaseError(f"embedding dimension must be an integer in 1..16000, got {dim!r}")
    _refuse_read_only(conn)
    refuse_unreadable(conn, ("golden.schema_info",), outcome="nothing was changed")  # its version is read
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
        if _up_to_date(conn, info, dim):
            return {"created": False, "dim_changed_from": None, "version": DB_SCHEMA_VERSION}
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
        _create_vector_extension(conn)
    _create_golden_schema(conn)
    role, _ = _who(conn)
    try:
        changed_from = _create_tables(conn, dim)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise DatabaseError(
            f"role {role} may not create or upgrade the golden schema's tables ({exc.diag.message_primary}): run "
            "`goldkeeper db init` as the schema's owner, then run again"
        ) from exc
    return {"created": not existed, "dim_changed_from": changed_from, "version": DB_SCHEMA_VERSION}


#: rebuild the HNSW index instead of maintaining it when at least this many vectors are written...
HNSW_REBUILD_MIN_ROWS = 500
#: ... and they are at least this share of all chunks (inserting into an HNSW graph row by row costs
#: about ten times more per row than building the graph once: see benchmarks/).
HNSW_REBUILD_MIN_SHARE = 0.1


@contextmanager
def hnsw_deferred(conn: psycopg.Connection[Any], rows_to_write: int, progress: Progress = SILENT) -> Iterator[bool]:
    """Drop the HNSW index while many chunk vectors are written, build it once afterwards.

    In the caller's transaction: if the body raises, the index is not rebuilt
    and the transaction must be rolled back (which brings the index back).
    Yields whether the index was deferred. Note that DROP INDEX locks
    golden.chunks against readers until the transaction ends.
    """
    total_row = conn.execute("SELECT count(*) FROM golden.chunks").fetchone()
    total = int(total_row[0]) if total_row else 0
    defer = rows_to_write >= HNSW_REBUILD_MIN_ROWS and rows_to_write >= HNSW_REBUILD_MIN_SHARE * total
    # only the table's owner may drop its index: a role that may just write the vectors maintains it row by row
    defer = defer and owns_table(conn, "golden.chunks")
    if not defer:
        yield False
        return
    conn.execute(f"DROP INDEX IF EXISTS golden.{HNSW_INDEX}")
    yield True
    # one statement that takes seconds on a large table: a task, so that a CI log shows it is moving
    with progress.task("building the vector index (HNSW)", None):
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        conn.execute(_HNSW)


def init_schema(
    url: str,
    dim: int,
    lock_timeout: float | None = None,
    fulltext_config: str | None = None,
    progress: Progress = SILENT,
) -> dict[str, Any]:
    """``goldkeeper db init``: ensure the schema in its own committed transaction (waiting at most
    ``lock_timeout`` seconds for another writer's golden lock), with the full-text index for
    ``fulltext_config`` (params ``retrieval.fulltext_config``; None: none) where the role owns golden.chunks
    (:func:`~goldkeeper.db.fulltext_index.build_fulltext_index`; the result's ``fulltext_index``: its name, None:
    none built; absent without ``fulltext_config``)."""
    with connection(url) as conn:
        with conn.transaction():
            lock_golden(conn, lock_timeout)
            result = ensure_schema(conn, dim)
            if fulltext_config is not None:
                config = text_search_config(conn, fulltext_config)
                result["fulltext_index"] = build_fulltext_index(conn, config, progress)
    return result


__all__ = [
    "SCHEMA",
    "NO_GOLDEN_SCHEMA",
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
