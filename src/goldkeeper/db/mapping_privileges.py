"""The privileges the connected role needs on the application's mapped tables, checked before any work.

Without them PostgreSQL stops a dump (SELECT) or a restore (INSERT, UPDATE, DELETE) mid-way with
``permission denied for table ...``: clean, but late, and naming neither the columns nor what to grant.
``has_schema_privilege`` / ``has_column_privilege`` / ``has_table_privilege`` name the missing privilege,
the table (and columns) and the role up front. Read: USAGE on the table's schema, SELECT on the columns read.
Write (a restore, :func:`write_problems`): INSERT and UPDATE on the mapped columns (UPDATE on the embedding
columns too: the vectors are written there), DELETE on the children's tables (a replaced analysis's
children are rewritten) and, with ``--replace``, on the analyses' and queries' tables. Row-level security that
applies to the role (:func:`row_security_problem`) is refused: its policies would hide rows from every command.
"""

from __future__ import annotations

from typing import Any

import psycopg

from goldkeeper.db.mapped_required import generated_problems
from goldkeeper.db.mapping import Mapping, TableMap
from goldkeeper.errors import ConfigError

_COLUMNS_LACKING = """
SELECT c FROM unnest(%(columns)s::text[]) WITH ORDINALITY u(c, i)
WHERE NOT has_column_privilege(to_regclass(%(table)s), c, %(privilege)s) ORDER BY i
"""


def _role(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_user").fetchone()
    return str(row[0]) if row else "?"


def schema_problem(conn: psycopg.Connection[Any], table: TableMap) -> str | None:
    """The table's schema exists but the role may not look into it (the table would seem missing)."""
    if table.schema is None:
        return None
    row = conn.execute(
        "SELECT has_schema_privilege(n.oid, 'USAGE') FROM pg_namespace n WHERE n.nspname = %s", (table.schema,)
    ).fetchone()
    if row is None or row[0]:
        return None
    return f"{table.name}: role {_role(conn)} lacks USAGE on schema {table.schema} (every command reads it)"


def row_security_problem(conn: psycopg.Connection[Any], table: TableMap) -> str | None:
    """Row-level security applying to the role on ``table`` (``row_security_active``: enabled, and the role is
    neither the owner, unless FORCEd, nor a superuser or BYPASSRLS). Its policies would silently hide rows: a dump
    would write a part as the whole, verify count the rest missing, a restore miss the conflicts they hold.
    goldkeeper's scope is the ``where``, the same whoever connects."""
    row = conn.execute("SELECT row_security_active(to_regclass(%s))", (table.relation.as_string(conn),)).fetchone()
    if row is None or not row[0]:
        return None
    return (
        f"{table.name}: row-level security applies to role {_role(conn)} (not the owner, no BYPASSRLS): goldkeeper "
        "would see only the rows its policies show; connect as the owner or a BYPASSRLS role, and scope with `where`"
    )


def _lacking(conn: psycopg.Connection[Any], table: TableMap, columns: list[str], privilege: str, why: str) -> list[str]:
    """One line when the role lacks ``privilege`` on some of ``columns`` (existing columns of ``table``)."""
    if not columns:
        return []
    params = {"columns": columns, "table": table.relation.as_string(conn), "privilege": privilege}
    missing = [row[0] for row in conn.execute(_COLUMNS_LACKING, params).fetchall()]
    if not missing:
        return []
    on = "the table" if len(missing) == len(columns) else f"column(s) {', '.join(missing)}"
    return [f"{table.name}: role {_role(conn)} lacks {privilege} on {on} ({why})"]


def _vector_columns(table: TableMap) -> list[str]:
    return [c for c in (table.embedding_column, table.model_column) if c]


def read_problems(conn: psycopg.Connection[Any], table: TableMap, found: dict[str, str], vectors: bool) -> list[str]:
    """SELECT on the columns a dump reads (``vectors``: the embedding columns too), those that exist."""
    columns = [*table.columns.values(), *(_vector_columns(table) if vectors else ())]
    if table.fulltext_column:
        columns.append(table.fulltext_column)
    return _lacking(conn, table, [c for c in dict.fromkeys(columns) if c in found], "SELECT", "every command reads it")


def write_problems(conn: psycopg.Connection[Any], mapping: Mapping, *, replace: bool) -> list[str]:
    """INSERT / UPDATE / DELETE a restore (``replace``: ``--replace``) runs on the mapped tables, where missing.
    Run on a mapping whose tables and columns exist (see :func:`goldkeeper.db.mapping_check.check_mapping`)."""
    problems: list[str] = []
    for entity, table in mapping.tables.items():
        mapped = list(dict.fromkeys(table.columns.values()))
        updated = [table.columns[f] for f in table.columns if f != "id"] + _vector_columns(table)
        problems += _lacking(conn, table, mapped, "INSERT", "restore inserts new records")
        problems += _lacking(conn, table, list(dict.fromkeys(updated)), "UPDATE", "restore updates changed records")
        if entity in ("chunks", "artifacts", "findings") or replace:
            row = conn.execute(
                "SELECT has_table_privilege(to_regclass(%s), 'DELETE')", (table.relation.as_string(conn),)
            ).fetchone()
            if row is not None and not row[0]:
                why = "restore --replace deletes what the records no longer hold"
                if entity in ("chunks", "artifacts", "findings"):
                    why = "restore rewrites a restored analysis's children"
                problems.append(f"{table.name}: role {_role(conn)} lacks DELETE on the table ({why})")
    return problems


def refuse_write_problems(conn: psycopg.Connection[Any], mapping: Mapping, *, replace: bool) -> None:
    """A :class:`ConfigError` naming the first of :func:`write_problems` (all of them in its details), if any;
    a field mapped to a column no restore can write (generated) is refused likewise."""
    problems = write_problems(conn, mapping, replace=replace) + generated_problems(conn, mapping)
    if problems:
        more = f" (and {len(problems) - 1} more: run `goldkeeper db check`)" if len(problems) > 1 else ""
        raise ConfigError(f"database mapping: {problems[0]}; nothing was changed{more}", problems=problems)


__all__ = ["read_problems", "refuse_write_problems", "row_security_problem", "schema_problem", "write_problems"]
