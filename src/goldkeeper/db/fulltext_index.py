"""The GIN index the full-text leg reads under a ``retrieval.fulltext_config`` other than English.

``golden.chunks.tsv`` is generated with the English configuration and GIN-indexed (:mod:`goldkeeper.db.schema`);
under any other configuration the search reads ``to_tsvector(config, content)`` (:func:`goldkeeper.db.search.
golden_chunks`), which without an index on that expression parses every chunk again for each question (34 s a
question at 100,000 chunks of 200 words). Where goldkeeper may run DDL on golden.chunks (``restore``, the
importers and ``db init``, as the table's owner; never on the application's own tables of params ``database:``)
:func:`build_fulltext_index` builds that index once, after the rows are written, in the caller's transaction.
A search session that may create a temporary table reads the chunks' tsvectors from one instead
(:mod:`goldkeeper.db.fulltext_table`: ranking parsed each matching chunk again even with this index) and needs no
index here; one that may not (a read-only session, a hot standby, which has the primary's indexes; no TEMP
privilege) reads the expression, so ``eval retrieval`` then asks :func:`missing_fulltext_index` and its one-line
warning names the index too when it is missing (a role that may only write the rows restores without it).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import psycopg
from psycopg import sql

from goldkeeper.db.golden_privileges import owns_table
from goldkeeper.errors import ConfigError
from goldkeeper.progress import SILENT, Progress

#: the text search configuration of ``golden.chunks.tsv`` (a generated column, :mod:`goldkeeper.db.schema`)
GOLDEN_TS_CONFIG = "pg_catalog.english"
#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1)
_MAX_NAME = 63


#: what PostgreSQL raises for a name that is no configuration: unknown, an unknown schema, bad syntax, and the
#: dotted names it refuses as such (``db.schema.name``: "cross-database references"; four parts: "too many")
_NOT_A_CONFIG = (
    psycopg.errors.UndefinedObject,
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.InvalidName,
    psycopg.errors.FeatureNotSupported,
    psycopg.errors.SyntaxError,
)


def text_search_config(conn: psycopg.Connection[Any], name: str) -> str:
    """``name`` (params ``retrieval.fulltext_config``) resolved in the database, schema-qualified and quoted as
    an identifier where it must be (``pg_catalog.german``, ``public."Swiss"``); one not in ``pg_ts_config`` is a
    ConfigError listing those there are."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT %s::regconfig::oid", (name,)).fetchone()
    except _NOT_A_CONFIG as exc:
        known = [r[0] for r in conn.execute("SELECT cfgname FROM pg_ts_config ORDER BY 1").fetchall()]
        raise ConfigError(
            f"params: retrieval.fulltext_config: {name!r} is not a text search configuration of the database "
            f"(it has: {', '.join(known)})",
            key="retrieval.fulltext_config",
        ) from exc
    assert row is not None  # a cast of one value returns one row
    # quoted: a name PostgreSQL would fold or split unquoted (`"Swiss"`) must read back as the same configuration
    qualified = conn.execute(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.cfgname) FROM pg_ts_config c "
        "JOIN pg_namespace n ON n.oid = c.cfgnamespace WHERE c.oid = %s",
        (row[0],),
    ).fetchone()
    assert qualified is not None  # the oid the cast resolved
    return str(qualified[0])


def fulltext_expression(config: str) -> sql.Composable:
    """``to_tsvector(config, content)``: the expression the search reads and the index is built on (the same text,
    so the planner matches one with the other)."""
    return sql.SQL("to_tsvector({}::regconfig, content)").format(sql.Literal(config))


def missing_fulltext_index(conn: psycopg.Connection[Any], config: str) -> str | None:
    """The ``CREATE INDEX`` an owner of golden.chunks would run so the full-text leg under ``config`` (resolved,
    :func:`text_search_config`) reads an index, or None when it does (English: the ``tsv`` column's GIN index).
    Without one each question parses every chunk again: 34 s a question at 100,000 chunks of 200 words
    (English: 1.3 s). Asked of the planner itself (scans other than by index disabled for one plan), so any
    index it can use counts, whatever its name."""
    if config == GOLDEN_TS_CONFIG:
        return None
    expression = fulltext_expression(config)
    with conn.transaction():
        # SET LOCAL outlives a released savepoint: put the setting back for the rest of the caller's transaction
        previous = conn.execute("SELECT current_setting('enable_seqscan')").fetchone()
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = conn.execute(
            sql.SQL("EXPLAIN (COSTS OFF) SELECT 1 FROM golden.chunks WHERE {} @@ 'x'::tsquery").format(expression)
        ).fetchall()
        conn.execute("SELECT set_config('enable_seqscan', %s, true)", (previous[0] if previous else "on",))
    if any("Index" in str(row[0]) for row in plan):
        return None
    return sql.SQL("CREATE INDEX ON golden.chunks USING gin ({});").format(expression).as_string(conn)


def fulltext_index_name(config: str) -> str:
    """The stable name goldkeeper gives the index for ``config`` (resolved): ``chunks_fulltext_german`` for
    ``pg_catalog.german``; a configuration of another schema, or whose name is not a plain lower-case word,
    gets its schema and a short hash of its exact name too, so two configurations never share one."""
    plain = config.removeprefix("pg_catalog.")
    word = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_") or "config"
    if word == plain:
        return f"chunks_fulltext_{word}"[:_MAX_NAME]
    digest = hashlib.sha256(config.encode()).hexdigest()[:8]
    return f"chunks_fulltext_{word}"[: _MAX_NAME - 9] + f"_{digest}"


def build_fulltext_index(conn: psycopg.Connection[Any], config: str, progress: Progress = SILENT) -> str | None:
    """Build golden.chunks' GIN index for ``config`` (resolved, :func:`text_search_config`) in the caller's
    transaction when the planner has none it can use and the connected role owns the table; returns its
    qualified name, or None when nothing was built (English, an index already there, not the owner, or the
    name taken by an index of the user's that the planner cannot use: left alone)."""
    if config == GOLDEN_TS_CONFIG or not owns_table(conn, "golden.chunks"):
        return None
    if missing_fulltext_index(conn, config) is None:
        return None
    name = fulltext_index_name(config)
    if conn.execute("SELECT to_regclass(%s)", (sql.Identifier("golden", name).as_string(conn),)).fetchone() != (None,):
        return None
    # one statement that takes seconds on a large table: a task, so that a CI log shows it is moving
    with progress.task(f"building the full-text index ({config})", None):
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        conn.execute(
            sql.SQL("CREATE INDEX {} ON golden.chunks USING gin ({})").format(
                sql.Identifier(name), fulltext_expression(config)
            )
        )
    return f"golden.{name}"


__all__ = [
    "GOLDEN_TS_CONFIG",
    "build_fulltext_index",
    "fulltext_expression",
    "fulltext_index_name",
    "missing_fulltext_index",
    "text_search_config",
]
