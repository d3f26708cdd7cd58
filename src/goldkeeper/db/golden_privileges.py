"""The privileges the connected role needs on goldkeeper's own schema ``golden``, checked before any work.

Without them PostgreSQL stops a command at its first statement on a table with ``permission denied for
schema golden`` or ``... for table queries``: naming neither the role nor what to grant. restore checks what
it writes (:meth:`goldkeeper.db.loader.GoldenLoader.refuse_unwritable`); every command checks what it reads
(:func:`refuse_unreadable`: ``dump``, ``verify --db``, ``eval retrieval``, and restore for the schema's version).
The application's own tables (params ``database:``) have theirs in :mod:`goldkeeper.db.mapping_privileges`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from goldkeeper.errors import DatabaseError

#: the record tables ``dump`` and ``verify --db``'s content check read
RECORD_TABLES = (
    "golden.analyses",
    "golden.chunks",
    "golden.artifacts",
    "golden.findings",
    "golden.queries",
    "golden.query_expected",
)
#: what ``eval retrieval`` reads in the reference schema: the version measured, the chunks, the judgments
RETRIEVAL_TABLES = ("golden.dataset_state", "golden.chunks", "golden.queries", "golden.query_expected")

# by the catalogue's oids, not by name: a name in a schema the role may not use is itself `permission denied`
_LACKING = """
SELECT u.p, string_agg(u.t, ', ' ORDER BY u.i), quote_ident(current_user)
FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY u(t, p, i)
JOIN pg_namespace n ON n.nspname = (parse_ident(u.t))[1]
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = (parse_ident(u.t))[2]
WHERE NOT has_table_privilege(c.oid, u.p) GROUP BY u.p ORDER BY min(u.i)
"""


def lacking_privileges(conn: psycopg.Connection[Any], wanted: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """The connected role and the GRANT statements it lacks for ``wanted`` (table -> privileges), as one line;
    tables that do not exist are not asked about."""
    pairs = [(table, privilege) for table, privileges in wanted.items() for privilege in privileges]
    rows = conn.execute(_LACKING, ([t for t, _ in pairs], [p for _, p in pairs])).fetchall()
    if not rows:
        return None
    return rows[0][2], " ".join(f"GRANT {privilege} ON {tables} TO {role};" for privilege, tables, role in rows)


def refuse_unreadable(conn: psycopg.Connection[Any], tables: Iterable[str], *, outcome: str | None = None) -> None:
    """One line naming the role and the GRANTs to run when it may not look into an existing golden schema
    (USAGE) or read ``tables`` (SELECT); nothing when there is no golden schema (each command says so its way).
    ``outcome``: what the message adds after the role (restore: ``nothing was changed``)."""
    row = conn.execute(
        "SELECT has_schema_privilege(oid, 'USAGE'), quote_ident(current_user) FROM pg_namespace "
        "WHERE nspname = 'golden'"
    ).fetchone()
    if row is None:
        return
    usage, role = row
    grants = [] if usage else [f"GRANT USAGE ON SCHEMA golden TO {role};"]
    lacking = lacking_privileges(conn, {table: ("SELECT",) for table in tables})
    if lacking is not None:
        grants.append(lacking[1])
    if grants:
        after = f"; {outcome}" if outcome else ""
        raise DatabaseError(
            f"role {role} may not read the golden schema{after} (have the schema's owner run: {' '.join(grants)})"
        )


def owns_table(conn: psycopg.Connection[Any], table: str) -> bool:
    """Whether the connected role owns ``table`` (or is a member of its owner): only an owner may create or drop
    its indexes; a role that may only write its rows restores without that DDL."""
    row = conn.execute(
        "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = to_regclass(%s)", (table,)
    ).fetchone()
    return row == (True,)


__all__ = ["RECORD_TABLES", "RETRIEVAL_TABLES", "lacking_privileges", "owns_table", "refuse_unreadable"]
