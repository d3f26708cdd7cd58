"""The live schema as plain values: tables, columns with their types, primary and foreign keys (read only).

``goldkeeper init --from-database`` reads it (:func:`read_catalogue`) and infers params ``database:``
from it (:mod:`goldkeeper.db.mapping_infer`, pure logic on these values). Read from ``pg_catalog``:
ordinary and partitioned tables of every schema but PostgreSQL's own and goldkeeper's ``golden``;
column types as ``format_type`` writes them (``vector(384)``, ``character varying(200)``; a domain as its base
type, :data:`goldkeeper.db.mapping.COLUMN_TYPE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from goldkeeper.db.connection import connection, database_error
from goldkeeper.db.mapping import COLUMN_TYPE

#: goldkeeper's own schema (db/schema.py): never an application table
REFERENCE_SCHEMA = "golden"
_VECTOR = re.compile(r"^vector\((\d+)\)$")


@dataclass(frozen=True)
class Column:
    name: str
    #: PostgreSQL's ``format_type`` (``text``, ``vector(384)``, ``timestamp with time zone``)
    type: str
    not_null: bool = False

    @property
    def is_vector(self) -> bool:
        return self.type == "vector" or _VECTOR.match(self.type) is not None

    @property
    def vector_dim(self) -> int | None:
        """The dimension of a ``vector(n)`` column (None: not a vector, or an undimensioned one)."""
        found = _VECTOR.match(self.type)
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of the table reference ``target_columns`` of ``target`` (``schema.table``)."""

    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def qualified(self) -> str:
        """``schema.table``, as params ``database.tables.<entity>.table`` names it."""
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Catalogue:
    """The application's tables, and whether goldkeeper's reference schema ``golden`` is there too."""

    tables: tuple[Table, ...]
    reference_schema: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "reference_schema": self.reference_schema,
            "tables": [
                {
                    "table": t.qualified,
                    "columns": {c.name: c.type for c in t.columns},
                    "primary_key": list(t.primary_key),
                    "foreign_keys": [
                        {"columns": list(k.columns), "target": k.target, "target_columns": list(k.target_columns)}
                        for k in t.foreign_keys
                    ],
                }
                for t in self.tables
            ],
        }


_TABLES = """
SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', %(reference)s)
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY n.nspname, c.relname
"""
_COLUMNS = f"""
SELECT a.attrelid, a.attname, {COLUMN_TYPE}, a.attnotnull FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum
"""
_KEYS = """
SELECT k.conrelid, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i)::text[],
       fn.nspname || '.' || f.relname,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)::text[]
FROM pg_constraint k LEFT JOIN pg_class f ON f.oid = k.confrelid LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE k.conrelid = ANY(%(oids)s) AND k.contype IN ('p', 'f') ORDER BY k.conrelid, k.conname
"""


def catalogue_of(conn: psycopg.Connection[Any]) -> Catalogue:
    """The :class:`Catalogue` of the database on ``conn`` (read only)."""
    tables = conn.execute(_TABLES, {"reference": REFERENCE_SCHEMA}).fetchall()
    oids = [row[0] for row in tables]
    columns: dict[int, list[Column]] = {oid: [] for oid in oids}
    for oid, name, type_, not_null in conn.execute(_COLUMNS, {"oids": oids}).fetchall():
        columns[oid].append(Column(name=name, type=type_, not_null=bool(not_null)))
    primary: dict[int, tuple[str, ...]] = {}
    foreign: dict[int, list[ForeignKey]] = {oid: [] for oid in oids}
    for oid, kind, cols, target, target_cols in conn.execute(_KEYS, {"oids": oids}).fetchall():
        if kind == "p":
            primary[oid] = tuple(cols)
        else:
            foreign[oid].append(ForeignKey(columns=tuple(cols), target=target, target_columns=tuple(target_cols)))
    reference = conn.execute("SELECT to_regclass('golden.analyses') IS NOT NULL").fetchone()
    return Catalogue(
        tables=tuple(
            Table(
                schema=schema,
                name=name,
                columns=tuple(columns[oid]),
                primary_key=primary.get(oid, ()),
                foreign_keys=tuple(foreign[oid]),
            )
            for oid, schema, name in tables
        ),
        reference_schema=bool(reference and reference[0]),
    )


def read_catalogue(url: str) -> Catalogue:
    """:func:`catalogue_of` the database at ``url``, on a read-only connection."""
    try:
        with connection(url) as conn:
            conn.read_only = True
            return catalogue_of(conn)
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot read the database's catalogue") from exc


__all__ = ["Catalogue", "Column", "ForeignKey", "Table", "REFERENCE_SCHEMA", "catalogue_of", "read_catalogue"]
