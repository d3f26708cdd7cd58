"""``goldkeeper db check``: a :class:`~goldkeeper.db.mapping.Mapping` against the live database.

Tables and columns exist, every mapped column converts losslessly to goldkeeper's type, each
``where`` is valid SQL on its table, the embedding column is a ``vector`` of the model's dimension,
the chunks' ``fulltext`` is a ``tsvector`` column or a valid expression giving one,
the children's ``analysis_id`` has a FOREIGN KEY to the analyses' id (or the mapping declares
one), the queries' ids in scope are ids goldkeeper's queries can have, the values in scope fit goldkeeper's
types (no 'infinity' timestamp, no bigint past int4) and no analysis has two artifacts, nor two findings at
one position. One line per problem,
naming table.column and both types. ``db check`` also counts the NULLs in required columns in scope
(:func:`null_problems`: dump would refuse those rows; not run before each dump, a full scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from goldkeeper.config.sections import DatabaseParams
from goldkeeper.db.connection import connection, database_error, redact_url
from goldkeeper.db.mapped_required import generated_problems, unfilled_problems
from goldkeeper.db.mapping import (
    Mapping,
    TableMap,
    column_types,
    enclosed,
    field_conversion,
    load_types,
    select_scoped,
    user_sql,
)
from goldkeeper.db.mapping_privileges import read_problems, row_security_problem, schema_problem, write_problems
from goldkeeper.errors import ConfigError

_FK = """
SELECT 1 FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid = to_regclass(%(child)s) AND c.confrelid = to_regclass(%(parent)s)
  AND c.conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass(%(child)s)
                        AND attname = %(column)s)]::int2[]
"""


#: goldkeeper's type -> the column types a problem line explains, and how: by design, never converted
_HINTED = {"text[]": ("text", "character varying"), "uuid": ("bigint", "integer", "smallint", "numeric")}
_HINTS = {
    "text[]": " (declare separators.{field} for a path stored as text)",
    "uuid": " (goldkeeper's ids are UUIDs: integer ids, serial or identity, are not supported; map a uuid column, "
    "or a text one holding UUIDs)",
}


def _column_problems(mapping: Mapping, table: TableMap, found: dict[str, str]) -> list[str]:
    problems = []
    for field, column in table.columns.items():
        where = f"{table.name}.{column}"
        if column not in found:
            problems.append(f"{where}: no such column (mapped from {table.entity}.{field})")
            continue
        wanted = mapping.field_type(table.entity, field)
        separator = (table.separators or {}).get(field)
        if field_conversion(table.entity, field, found[column], separator) is None:
            hint = (
                _HINTS.get(wanted, "").format(field=field)
                if found[column].split("(")[0] in _HINTED.get(wanted, ())
                else ""
            )
            problems.append(
                f"{where}: {found[column]} cannot hold {table.entity}.{field} ({wanted}) without loss{hint}"
            )
    return problems


_UUID_TEXT = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _row_in_scope(conn: psycopg.Connection[Any], statement: sql.Composed) -> tuple[Any, ...] | None:
    """The first row of a statement over the rows in scope, in a savepoint; None when it fails (an invalid
    ``where`` is reported on its own)."""
    try:
        with conn.transaction():
            return conn.execute(statement).fetchone()
    except psycopg.Error:
        return None


def _first_mismatch(
    conn: psycopg.Connection[Any], table: TableMap, value: sql.Composable, pattern: str
) -> tuple[Any, ...] | None:
    """``(a value, how many)`` of the rows in scope whose ``value`` does not match ``pattern``; None: all match."""
    statement = sql.SQL("SELECT {c}, count(*) OVER () FROM {t} WHERE {w} AND {c} !~ {re} LIMIT 1").format(
        c=value, t=table.relation, w=table.condition(), re=sql.Literal(pattern)
    )
    return _row_in_scope(conn, statement)


def _text_id_problems(
    conn: psycopg.Connection[Any], mapping: Mapping, table: TableMap, found: dict[str, str]
) -> list[str]:
    """uuid fields held in text columns: every row in scope must hold a lowercase canonical UUID (lossless)."""
    problems = []
    for field, column in table.columns.items():
        if mapping.field_type(table.entity, field) != "uuid" or found.get(column, "").split("(")[0] not in (
            "text",
            "character varying",
        ):
            continue
        row = _first_mismatch(conn, table, sql.Identifier(column), _UUID_TEXT)
        if row is not None:
            problems.append(
                f"{table.name}.{column}: {row[1]} row(s) hold text that is not a lowercase UUID (e.g. {row[0]!r}), "
                f"so {table.entity}.{field} (uuid) cannot be read back unchanged"
            )
    return problems


#: the ids a query may have (models.Query.id), as a PostgreSQL regular expression
_QUERY_ID = "^[A-Za-z0-9._:-]+$"


def _query_id_problem(conn: psycopg.Connection[Any], table: TableMap, found: dict[str, str]) -> str | None:
    """Every query id in scope must be one goldkeeper's queries can have (else the dump would refuse it)."""
    if table.entity != "queries":
        return None
    column = table.columns["id"]
    if column not in found or field_conversion("queries", "id", found[column]) is None:
        return None  # reported on its own
    row = _first_mismatch(conn, table, sql.SQL("{}::text").format(sql.Identifier(column)), _QUERY_ID)
    if row is None:
        return None
    return (
        f"{table.name}.{column}: {row[1]} row(s) hold an id goldkeeper's queries cannot have (e.g. {row[0]!r}; "
        "letters, digits and . _ : - only)"
    )


#: goldkeeper's types whose values have a range a column may exceed -> (lowest, highest, said in the message);
#: timestamps: what a Python datetime holds (no 'infinity'); integers: int4 (from a bigint column)
_RANGES = {
    "timestamptz": (
        "'0001-01-01 00:00:00+00'::timestamptz",
        "'9999-12-31 23:59:59.999999+00'::timestamptz",
        "years 1 to 9999 only",
    ),
    "int4": ("-2147483648", "2147483647", "-2147483648 to 2147483647 only"),
}


def _range_problems(
    conn: psycopg.Connection[Any], mapping: Mapping, table: TableMap, found: dict[str, str]
) -> list[str]:
    """Values in scope outside what goldkeeper's type holds ('infinity', a year past 9999, a bigint past int4):
    the dump could not read them back, and would fail mid-COPY without naming the column."""
    problems = []
    for field, column in table.columns.items():
        wanted = mapping.field_type(table.entity, field)
        wraps = field_conversion(table.entity, field, found.get(column, "?"), (table.separators or {}).get(field))
        if wanted not in _RANGES or wraps is None or (wanted == "int4" and found[column] != "bigint"):
            continue
        low, high, said = _RANGES[wanted]
        raw = sql.Identifier(column)
        value = wraps[0](raw) if wanted == "timestamptz" else raw  # an int4 cast would fail on the first one
        statement = sql.SQL(
            "SELECT {r}::text, count(*) OVER () FROM {t} WHERE {w} AND NOT ({v} BETWEEN {lo} AND {hi}) "
            "ORDER BY {r} LIMIT 1"
        ).format(r=raw, t=table.relation, w=table.condition(), v=value, lo=sql.SQL(low), hi=sql.SQL(high))
        row = _row_in_scope(conn, statement)
        if row is not None:
            problems.append(
                f"{table.name}.{column}: {row[1]} row(s) hold a value {table.entity}.{field} ({wanted}) cannot hold "
                f"(e.g. {row[0]!r}; {said})"
            )
    return problems


_NOT_TEXT_ARRAY = (
    "CASE WHEN jsonb_typeof({c}) = 'array' "
    "THEN EXISTS (SELECT 1 FROM jsonb_array_elements({c}) e WHERE jsonb_typeof(e) <> 'string') ELSE true END"
)


def _json_list_problems(
    conn: psycopg.Connection[Any], mapping: Mapping, table: TableMap, found: dict[str, str]
) -> list[str]:
    """A query's list of text held in jsonb: every row in scope must hold an array of strings (else it is lost)."""
    problems = []
    for field, column in table.columns.items() if table.entity == "queries" else ():
        if mapping.field_type("queries", field) != "text[]" or found.get(column) != "jsonb":
            continue
        statement = sql.SQL("SELECT count(*) FROM {t} WHERE {w} AND " + _NOT_TEXT_ARRAY).format(
            t=table.relation, w=table.condition(), c=sql.Identifier(column)
        )
        row = _row_in_scope(conn, statement)
        if row is not None and row[0]:
            problems.append(
                f"{table.name}.{column}: {row[0]} row(s) hold jsonb that is not an array of strings, "
                f"so queries.{field} (text[]) cannot be read back unchanged"
            )
    return problems


#: the JSON object each object field holds (in messages): what a row holding anything else should hold instead
_OBJECT_SHAPES = {
    ("queries", "expected"): '{"chunks": [{"id": ..., "relevance": ...}], "analyses": [...]}; '
    "a list of ids is not supported",
    ("queries", "expected_behavior"): '{"behavior": "answer" | "refuse", ...}',
    ("artifacts", "metadata"): "{...}",
}
_RECORDS = {"queries": "query", "artifacts": "artifact"}


def _json_object_problems(conn: psycopg.Connection[Any], table: TableMap, found: dict[str, str]) -> list[str]:
    """An object field (a query's ``expected``, ``expected_behavior``, an artifact's ``metadata``) in a jsonb
    column: a row in scope holding an array or a scalar there (expected results kept as a list of ids) would stop
    every dump, naming one row only; db check counts them, and says what goldkeeper reads."""
    problems = []
    for field, column in table.columns.items():
        if (table.entity, field) not in _OBJECT_SHAPES or found.get(column) != "jsonb" or "id" not in table.columns:
            continue
        statement = sql.SQL(
            "SELECT jsonb_typeof({c}), {id}::text, count(*) OVER () FROM {t} WHERE {w} "
            "AND jsonb_typeof({c}) <> 'object' ORDER BY 2 LIMIT 1"
        ).format(c=sql.Identifier(column), id=table.column("id"), t=table.relation, w=table.condition())
        row = _row_in_scope(conn, statement)
        if row is not None:
            problems.append(
                f"{table.name}.{column}: {row[2]} row(s) hold a jsonb {row[0]}, not the object {table.entity}.{field} "
                f"is ({_OBJECT_SHAPES[(table.entity, field)]}), e.g. {_RECORDS[table.entity]} {row[1]}"
            )
    return problems


#: entity -> the fields that name one of its rows per analysis, and what two rows sharing them would cost
_ONE_PER = {
    "artifacts": (
        ("analysis_id",),
        "analysis id(s) have more than one artifact",
        "keeps one artifact per analysis (dump would drop the others)",
    ),
    "findings": (
        ("analysis_id", "ordinal"),
        "(analysis id, ordinal) pair(s) hold more than one finding",
        "orders an analysis's findings by ordinal (dump would write them in an order left to chance)",
    ),
}


def _duplicate_problem(conn: psycopg.Connection[Any], table: TableMap, found: dict[str, str]) -> str | None:
    """An analysis holds one artifact, and one finding per ordinal: rows in scope sharing them are named."""
    fields, what, cost = _ONE_PER.get(table.entity, ((), "", ""))
    columns = [table.columns.get(f, "") for f in fields]
    if not fields or not all(c in found for c in columns):
        return None
    keys = sql.SQL(", ").join(map(sql.Identifier, columns))
    statement = sql.SQL(
        "SELECT concat_ws(', ', {k}), count(*) OVER () FROM {t} WHERE {w} GROUP BY {k} HAVING count(*) > 1 "
        "ORDER BY 1 LIMIT 1"
    ).format(k=keys, t=table.relation, w=table.condition())
    row = _row_in_scope(conn, statement)
    if row is None:
        return None
    where = f"{table.name}.{columns[0]}" if len(columns) == 1 else f"{table.name} ({', '.join(columns)})"
    return f"{where}: {row[1]} {what} (e.g. {row[0]!r}): goldkeeper {cost}"


def _where_problem(conn: psycopg.Connection[Any], table: TableMap) -> str | None:
    if not table.where:
        return None
    try:
        with conn.transaction():
            conn.execute(sql.SQL("EXPLAIN SELECT 1 FROM {} WHERE {}").format(table.relation, table.condition()))
    except psycopg.Error as exc:
        return f"{table.name}: where {table.where!r} is not valid: {str(exc).splitlines()[0]}"
    return None


def _embedding_problems(table: TableMap, found: dict[str, str], dim: int) -> list[str]:
    problems = []
    column = table.embedding_column
    if column is not None:
        type_ = found.get(column)
        if type_ is None:
            problems.append(f"{table.name}.{column}: no such column (the embedding column)")
        elif type_ != f"vector({dim})":
            problems.append(f"{table.name}.{column}: {type_}, but the model embeds vector({dim})")
    model = table.model_column
    if model is not None and found.get(model, "text").split("(")[0] not in ("text", "character varying"):
        problems.append(f"{table.name}.{model}: {found.get(model, 'missing')}, the model column must be text")
    elif model is not None and model not in found:
        problems.append(f"{table.name}.{model}: no such column (the embedding model column)")
    return problems


def _fulltext_problem(conn: psycopg.Connection[Any], table: TableMap, found: dict[str, str]) -> str | None:
    """``fulltext``: a tsvector column, or an expression on the table that gives one."""
    if table.fulltext_column is not None and found.get(table.fulltext_column) != "tsvector":
        type_ = found.get(table.fulltext_column, "no such column")
        return f"{table.name}.{table.fulltext_column}: {type_}, the fulltext column must be a tsvector"
    if table.fulltext_expression is None:
        return None
    statement = sql.SQL("EXPLAIN SELECT {}::tsvector FROM {}").format(
        enclosed(user_sql(table.fulltext_expression)), table.relation
    )
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        return (
            f"{table.name}: fulltext expression {table.fulltext_expression!r} is not valid: {str(exc).splitlines()[0]}"
        )
    return None


def _foreign_key_problem(conn: psycopg.Connection[Any], child: TableMap, parent: TableMap) -> str | None:
    if child.declared_foreign_key or "analysis_id" not in child.columns:
        return None
    column = child.columns["analysis_id"]
    params = {
        "child": child.relation.as_string(conn),
        "parent": parent.relation.as_string(conn),
        "column": column,
    }
    if conn.execute(_FK, params).fetchone() is not None:
        return None
    return (
        f"{child.name}.{column}: no FOREIGN KEY to {parent.name} (add one, or set "
        f"database.tables.{child.entity}.declared_foreign_key: true)"
    )


def check_mapping(conn: psycopg.Connection[Any], mapping: Mapping, dim: int | None) -> list[str]:
    """Every problem of ``mapping`` in the database on ``conn`` (read only), one line each; [] = usable.

    ``dim``: the model's dimension (None: the embedding column is not checked: dump reads no vector)."""
    problems: list[str] = []
    for entity, table in mapping.tables.items():
        found = column_types(conn, table)
        if found is None:  # a schema the role may not look into hides its tables: say so
            problems.append(
                schema_problem(conn, table) or f"{table.name}: no such table (database.tables.{entity}.table)"
            )
            continue
        denied = read_problems(conn, table, found, vectors=dim is not None)
        denied += [p for p in [row_security_problem(conn, table)] if p]  # its policies would hide rows
        if denied:  # the checks below would read it, and fail on the privilege with a misleading line
            problems += denied
            continue
        problems += _column_problems(mapping, table, found)
        problems += [p for p in [_where_problem(conn, table)] if p]
        problems += _text_id_problems(conn, mapping, table, found)
        problems += [p for p in [_query_id_problem(conn, table, found)] if p]
        problems += _json_list_problems(conn, mapping, table, found) + _json_object_problems(conn, table, found)
        problems += _range_problems(conn, mapping, table, found)
        problems += [p for p in [_duplicate_problem(conn, table, found)] if p]
        problems += _embedding_problems(table, found, dim) if dim is not None else []
        problems += [p for p in [_fulltext_problem(conn, table, found)] if p]
        if entity not in ("analyses", "queries") and column_types(conn, mapping.tables["analyses"]) is not None:
            problems += [p for p in [_foreign_key_problem(conn, table, mapping.tables["analyses"])] if p]
    return problems


#: fields whose NULL goldkeeper reads as a value (every other mapped field is required)
_NULLABLE = frozenset({("chunks", "section_title"), ("chunks", "section_path"), ("findings", "confidence")})


def null_problems(conn: psycopg.Connection[Any], mapping: Mapping) -> list[str]:
    """Required fields mapped to columns holding NULL in rows inside the scope (dump would refuse them):
    one line per column. Run on a mapping whose tables and columns exist (see :func:`check_mapping`)."""
    problems = []
    typed = load_types(conn, mapping)
    for entity, table in typed.tables.items():
        fields = [f for f in typed.mapped_fields(entity) if (entity, f) not in _NULLABLE]
        if not fields:
            continue
        counts = sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE {} IS NULL)").format(table.column(f)) for f in fields
        )
        try:
            with conn.transaction():
                row = conn.execute(select_scoped(typed, entity, counts)).fetchone()
        except (psycopg.Error, ValueError):
            continue  # reported on its own (a missing table or column, a bad where, a lossy type)
        for field, nulls in zip(fields, row or (), strict=False):
            if nulls:
                problems.append(
                    f"{table.name}.{table.columns[field]}: {nulls} row(s) are NULL, but {field} is required"
                )
    return problems


@dataclass(frozen=True)
class MappingCheck:
    """``goldkeeper db check``: the problems of the mapping (none: usable), and what was checked."""

    tables: tuple[str, ...]
    problems: tuple[str, ...]
    #: the database checked, its password redacted (said when a table is missing: perhaps the wrong one)
    database: str = ""
    missing_tables: tuple[str, ...] = ()
    #: what the role lacks for a restore (a dump-only role may: not a problem)
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "database": self.database,
            "tables": list(self.tables),
            "missing_tables": list(self.missing_tables),
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def check_database(url: str, params: DatabaseParams | None, dim: int) -> MappingCheck:
    """:func:`check_mapping` of params ``database:`` on a read-only connection to ``url``."""
    if params is None:
        raise ConfigError("params.yaml has no database: section (the reference schema `golden` needs no check)")
    mapping = Mapping.from_params(params)
    try:
        with connection(url) as conn:
            conn.read_only = True
            problems = check_mapping(conn, mapping, dim)
            problems += null_problems(conn, mapping)
            notes = write_problems(conn, load_types(conn, mapping), replace=True) if not problems else []
            notes += generated_problems(conn, mapping) + unfilled_problems(conn, mapping) if not problems else []
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot check the database mapping") from exc
    missing = tuple(t.name for t in mapping.tables.values() if f"{t.name}: no such table (" in "\n".join(problems))
    return MappingCheck(
        tables=tuple(t.name for t in mapping.tables.values()),
        problems=tuple(problems),
        database=redact_url(url),
        missing_tables=missing,
        notes=tuple(notes),
    )


def require_valid(conn: psycopg.Connection[Any], mapping: Mapping, dim: int | None) -> Mapping:
    """The mapping with its live column types, or a ConfigError (exit 3) listing its problems."""
    problems = check_mapping(conn, mapping, dim)
    if problems:
        more = f" (and {len(problems) - 1} more: run `goldkeeper db check`)" if len(problems) > 1 else ""
        raise ConfigError(f"database mapping: {problems[0]}{more}", problems=problems)
    return load_types(conn, mapping)


__all__ = ["MappingCheck", "check_mapping", "check_database", "require_valid"]
