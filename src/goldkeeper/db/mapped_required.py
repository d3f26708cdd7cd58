"""Columns of the application's tables a restore cannot write: generated ones, and NOT NULL ones nothing fills.

A field mapped to a generated column (``GENERATED ALWAYS AS (...) STORED``, or an identity ``GENERATED ALWAYS``)
dumps fine, but PostgreSQL refuses every INSERT and UPDATE naming it: ``db check`` lists it as a note (a dump
writes nothing) and every restore is refused before it writes, naming table.column and the field.

Restore inserts a new record into its mapped columns only (the others take their defaults,
:mod:`goldkeeper.db.mapped_loader`). A column that is NOT NULL without a DEFAULT and that no field is mapped
to (Prisma's ``updatedAt``, a ``tenant_id`` the application always sets, a NOT NULL vector column, which
restore fills only after the insert) makes that INSERT fail, and PostgreSQL's error prints the whole row.
``db check`` lists them as notes (a dump never inserts), and a restore that would insert a row into such
a table is refused before it writes anything, naming table.column. Identity and generated columns fill
themselves and are never named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from goldkeeper.db.mapping import Mapping, TableMap
from goldkeeper.errors import ConfigError

if TYPE_CHECKING:  # db check needs no loader
    from goldkeeper.db.loader import Changes

_UNFILLED = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
  AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
ORDER BY a.attnum
"""
_GENERATED = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
  AND (a.attgenerated <> '' OR a.attidentity = 'a')
ORDER BY a.attnum
"""
#: one record of each entity, in messages
_RECORD = {
    "analyses": "analysis",
    "chunks": "chunk",
    "artifacts": "artifact",
    "findings": "finding",
    "queries": "query",
}
#: the staged temp table of each entity (:mod:`goldkeeper.db.loader`)
_STAGED = {entity: f"gk_{entity}" for entity in _RECORD}


def unfilled_columns(conn: psycopg.Connection[Any], table: TableMap) -> list[str]:
    """The columns of ``table`` an INSERT of the mapped columns leaves NULL though they are NOT NULL."""
    rows = conn.execute(_UNFILLED, (table.relation.as_string(conn),)).fetchall()
    return [name for (name,) in rows if name not in table.columns.values()]


def generated_problems(conn: psycopg.Connection[Any], mapping: Mapping) -> list[str]:
    """One line per mapped column PostgreSQL fills itself (generated, identity ALWAYS): no restore can write it."""
    problems = []
    for table in mapping.tables.values():
        generated = {name for (name,) in conn.execute(_GENERATED, (table.relation.as_string(conn),)).fetchall()}
        problems += [
            f"{table.name}.{column}: a generated column, which restore cannot write (mapped from "
            f"{table.entity}.{field}): map the field to a column a restore can write"
            for field, column in table.columns.items()
            if column in generated
        ]
    return problems


def _problem(table: TableMap, column: str) -> str:
    fix = "give the column a DEFAULT, or map a field to it"
    if column in (table.embedding_column, table.model_column):
        fix = "restore writes it after inserting the row: drop its NOT NULL"
    return (
        f"{table.name}.{column}: NOT NULL without a DEFAULT, and the mapping does not write it: restore cannot "
        f"insert a new {_RECORD[table.entity]} ({fix})"
    )


def unfilled_problems(conn: psycopg.Connection[Any], mapping: Mapping) -> list[str]:
    """One line per column a restore's INSERT cannot fill, every mapped table (``db check``'s notes, after
    :func:`generated_problems`)."""
    return [_problem(t, c) for t in mapping.tables.values() for c in unfilled_columns(conn, t)]


def _inserts(conn: psycopg.Connection[Any], mapping: Mapping, entity: str, changes: dict[str, Changes]) -> bool:
    """Whether applying ``changes`` inserts a row into ``entity``'s table: a staged record whose id no row
    holds; findings (no id: rewritten per analysis) are inserted for every added or changed analysis."""
    staged = sql.Identifier(_STAGED[entity])
    if entity == "findings":
        rewritten = changes["analyses"].added + changes["analyses"].different
        statement = sql.SQL("SELECT EXISTS (SELECT 1 FROM {s} WHERE analysis_id::text = ANY(%s))").format(s=staged)
        row = conn.execute(statement, (rewritten,)).fetchone()
        return bool(row and row[0])
    table = mapping.tables[entity]
    new = sql.SQL("SELECT EXISTS (SELECT 1 FROM {s} s WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = {v}))")
    row = conn.execute(
        new.format(
            s=staged,
            t=table.relation,
            c=table.column("id"),
            v=mapping.write_expr(entity, "id", sql.Identifier("s", "id")),
        )
    ).fetchone()
    return bool(row and row[0])


def refuse_unfilled(conn: psycopg.Connection[Any], mapping: Mapping, changes: dict[str, Changes]) -> dict[str, Changes]:
    """``changes``, or a :class:`ConfigError` (nothing changed yet) naming the first NOT NULL column without a
    DEFAULT that the mapping leaves out of a table the restore inserts into (the catalogue is read first: free
    when there is none)."""
    for entity, table in mapping.tables.items():
        columns = unfilled_columns(conn, table)
        if columns and _inserts(conn, mapping, entity, changes):
            problems = [_problem(table, c) for c in columns]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ConfigError(f"database mapping: {problems[0]}; nothing was changed{more}", problems=problems)
    return changes


__all__ = ["generated_problems", "refuse_unfilled", "unfilled_columns", "unfilled_problems"]
