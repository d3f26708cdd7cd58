"""The demo's example application schema (``goldkeeper demo --mapped``): created, and the rows outside the scope.

goldkeeper never creates tables in a user's schema; only the demo runs :func:`run_script`, in the fresh
database it owns. :func:`rows_outside` fingerprints, per mapped table, the rows that do not belong to the
dataset (analyses outside the ``where``, and the children of those analyses), so the demo can show that
restore and dump leave them untouched.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from goldkeeper.db.connection import connection
from goldkeeper.db.mapping import Mapping


def run_script(url: str, script: str) -> None:
    """Execute ``script`` (SQL statements) in one transaction: all of it or nothing."""
    with connection(url) as conn:
        conn.execute(sql.SQL(script))  # a whole script (package data): the demo database only


def _fingerprint(conn: psycopg.Connection[Any], relation: sql.Composable, condition: sql.Composable) -> str:
    query = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {rel} AS t WHERE {cond}"
    ).format(rel=relation, cond=condition)
    row = conn.execute(query).fetchone()
    assert row is not None
    return f"{row[0]} row(s) md5 {row[1]}"


def rows_outside(url: str, mapping: Mapping) -> dict[str, str]:
    """``schema.table`` -> "N row(s) md5 ..." of the rows outside the dataset's scope, per mapped table."""
    analyses = mapping.tables["analyses"]
    outside = sql.SQL("({}) IS NOT TRUE").format(analyses.condition())
    result: dict[str, str] = {}
    with connection(url) as conn:
        result[analyses.name] = _fingerprint(conn, analyses.relation, outside)
        ids = sql.SQL("SELECT {id} FROM {rel} WHERE {cond}").format(
            id=analyses.column("id"), rel=analyses.relation, cond=outside
        )
        for entity, table in mapping.tables.items():
            if entity in ("analyses", "queries"):
                continue
            child = sql.SQL("t.{col} IN ({ids})").format(col=table.column("analysis_id"), ids=ids)
            result[table.name] = _fingerprint(conn, table.relation, child)
    return result


__all__ = ["run_script", "rows_outside"]
