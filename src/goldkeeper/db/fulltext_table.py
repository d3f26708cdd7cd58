"""The chunks' tsvectors computed once per search session, for a full-text leg whose ``tsv`` is an expression.

Under a ``retrieval.fulltext_config`` other than English (and for mapped chunks without a tsvector column) the
searched chunks' ``tsv`` is ``to_tsvector(config, content)`` (:func:`goldkeeper.db.search.golden_chunks`,
:func:`goldkeeper.db.search.mapped_chunks`). A GIN index on that expression finds the matching chunks, but
``ts_rank_cd`` parses every matching chunk again for each question: a question sharing one common word with most
chunks parses most of the table (the bundled SQuAD sample's full-text eval under ``german``: 120 s against 7 s for
English's stored column). :func:`fulltext_table` computes each chunk's tsvector once into a TEMP table of the
session (``id, content_type, section_title, tsv``: all the full-text leg reads) with its own GIN index: no DDL on
the user's tables, only the TEMP privilege PUBLIC has by default. The rows are the same, so the rankings are too.
A session that cannot make one (read-only: ``default_transaction_read_only``, a hot standby; no TEMP privilege)
reads the expression as before, and says why.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

#: what a session that cannot create a temporary table raises (a hot standby is read-only too)
_REFUSED = (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)


def fulltext_table(conn: psycopg.Connection[Any], chunks: sql.Composable) -> tuple[sql.Composable, str | None]:
    """(what the full-text leg reads, why not the temporary table): ``chunks`` (a subquery with the columns
    ``id, content_type, section_title, tsv``) copied into a TEMP table with a GIN index on ``tsv``, which lives
    as long as the connection; or ``chunks`` itself and the reason when the session may not create one."""
    # a name of its own each time: one connection may search under two configurations
    name = sql.Identifier(f"goldkeeper_fulltext_{uuid.uuid4().hex[:12]}")
    table = sql.SQL("pg_temp.{}").format(name)  # qualified: a table of the search_path never shadows it
    try:
        with conn.transaction():  # a savepoint: a refusal leaves the caller's transaction usable
            # {}: parameters (none), so a mapped scope's escaped `where` reads as written
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} AS SELECT id, content_type, section_title, tsv FROM {} ch").format(
                    name, chunks
                ),
                {},
            )
            conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(table))
            # autovacuum never analyzes a temporary table: without statistics the planner guesses its size
            conn.execute(sql.SQL("ANALYZE {}").format(table))
    except _REFUSED as exc:
        return chunks, _reason(exc)
    return table, None


def _reason(exc: psycopg.Error) -> str:
    """Why the session could not make the table, in the words a user acts on."""
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return "the database session is read-only (a standby, or default_transaction_read_only = on)"
    return "the role may not create temporary tables (no TEMP privilege on the database)"


__all__ = ["fulltext_table"]
