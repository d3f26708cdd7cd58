"""Whether the staged records fit the application's columns, checked before a mapped restore writes anything.

PostgreSQL would refuse some values mid-write with an error naming neither the record nor the column (a text
longer than its ``varchar(n)``, a label not in an enum) and silently round others (a timestamp finer than its
``timestamp(p)``: the next dump would differ from the store). :func:`unfit` names the first such value of one
field: the record, the field, the value (or its length) and the column.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from goldkeeper.db.mapping import ENUM_PREFIX, Mapping

#: a column type with a length limit (format_type)
_VARCHAR = re.compile(r"character varying\((\d+)\)")
#: a timestamp column holding fewer than 6 fractional digits (format_type)
_TIMESTAMP_P = re.compile(r"timestamp\([0-5]\) with(out)? time zone")
#: the labels an enum's message lists at most
_LABELS_SHOWN = 12


def _first(conn: psycopg.Connection[Any], staged: str, key: str, what: sql.Composable, bad: sql.Composable) -> Any:
    """``(record, what)`` of the first staged row (by ``key``) for which ``bad`` holds; None: none."""
    statement = sql.SQL("SELECT {k}, {what} FROM {t} WHERE {bad} ORDER BY 1 LIMIT 1").format(
        k=sql.SQL(key), what=what, t=sql.Identifier(staged), bad=bad
    )
    return conn.execute(statement).fetchone()


def _too_long(
    conn: psycopg.Connection[Any], staged: str, key: str, written: sql.Composable, type_: str, column: str
) -> Any:
    limit = _VARCHAR.fullmatch(type_)
    if limit is None:
        return None
    length = sql.SQL("char_length({})").format(written)
    row = _first(conn, staged, key, length, sql.SQL("{} > {}").format(length, sql.Literal(int(limit.group(1)))))
    return None if row is None else (row[0], f"has {row[1]} characters, {column} is {type_}")


def _rounded(
    conn: psycopg.Connection[Any], staged: str, key: str, field: str, written: sql.Composable, type_: str, column: str
) -> Any:
    if _TIMESTAMP_P.fullmatch(type_) is None:
        return None
    shown = sql.SQL("""to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""").format(
        sql.Identifier(field)
    )  # as the store writes it
    rounded = sql.SQL("CAST({w} AS {c}) IS DISTINCT FROM {w}").format(w=written, c=sql.SQL(type_))
    row = _first(conn, staged, key, shown, rounded)
    return (
        None
        if row is None
        else (row[0], f"{row[1]} has more precision than {column} ({type_}) holds (it would be rounded)")
    )


def _not_a_label(conn: psycopg.Connection[Any], staged: str, key: str, field: str, type_: str, column: str) -> Any:
    if not type_.startswith(ENUM_PREFIX):
        return None
    labels = sql.SQL("enum_range(NULL::{})::text[]").format(sql.SQL(type_.removeprefix(ENUM_PREFIX)))
    value = sql.Identifier(field)
    bad = sql.SQL("{v} IS NOT NULL AND NOT ({v} = ANY({l}))").format(v=value, l=labels)
    row = _first(conn, staged, key, value, bad)
    if row is None:
        return None
    allowed = conn.execute(sql.SQL("SELECT {}").format(labels)).fetchone()
    names = list(allowed[0] if allowed else [])
    shown = ", ".join(map(repr, names[:_LABELS_SHOWN])) + (", ..." if len(names) > _LABELS_SHOWN else "")
    return row[0], f"{row[1]!r} is not a value of {column} ({type_}: {shown})"


def unfit(
    conn: psycopg.Connection[Any], mapping: Mapping, staged: str, field: tuple[str, str], key: str
) -> tuple[str, str] | None:
    """``(record, what)`` of the first row of the staged table ``staged`` (named by the SQL ``key``) whose
    ``field`` (entity, field) its column cannot hold as it is (``what``: the value, or its length, and the
    column); None when every row fits."""
    type_ = (mapping.types or {}).get(field, "")
    table = mapping.tables[field[0]]
    column = f"{table.name}.{table.columns[field[1]]}"
    written = mapping.write_expr(*field, sql.Identifier(field[1]))
    for found in (
        _too_long(conn, staged, key, written, type_, column),
        _rounded(conn, staged, key, field[1], written, type_, column),
        _not_a_label(conn, staged, key, field[1], type_, column),
    ):
        if found is not None:
            return str(found[0]), found[1]
    return None


__all__ = ["unfit"]
