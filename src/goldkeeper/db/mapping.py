"""The application's own tables: goldkeeper's entities mapped onto them (params ``database:``, issue 12).

A :class:`Mapping` says, per entity (analyses, chunks, artifacts, findings; queries optionally, else
they stay in goldkeeper's own ``golden.queries``), which table holds it, which column holds each
field, and which rows belong to the dataset (``where``). SQL is generated from it with
:mod:`psycopg.sql` (identifiers quoted); the ``where`` is the user's own SQL condition from
params.yaml and is inserted as written (:func:`user_sql`): in statements run without parameters,
or with ``%`` doubled in those that need parameters (psycopg reads ``%`` as a placeholder there).

Each field has goldkeeper's type (the reference schema's); a column of another type is read and
written through a lossless conversion (:func:`conversion`): uuid <-> text ids, text[] <-> jsonb
arrays or a text path with a declared separator, timestamptz <-> timestamp without time zone (UTC),
int4 <-> int8, varchar -> text. A JSON object (a query's ``expected`` and ``expected_behavior``, an
artifact's ``metadata``) only in a jsonb column (:func:`field_conversion`). A field that is not
mapped is read as goldkeeper's default (so it is left out of the store) and restored as the column
default. :func:`check_mapping` compares the mapping with the live database (``goldkeeper db check``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from goldkeeper.config.sections import ENTITY_FIELDS, DatabaseParams, TableMapParams

#: goldkeeper's type of each field (the reference schema's column types)
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "analyses": ("uuid", "text", "text", "text", "text", "timestamptz"),
    "chunks": ("uuid", "uuid", "text", "text", "text[]", "text", "int4"),
    "artifacts": ("uuid", "uuid", "text", "jsonb", "jsonb"),
    "findings": ("uuid", "int4", "text", "text", "text", "float8"),
    "queries": ("text", "text", "text", "text", "text[]", "jsonb", "jsonb", "jsonb"),
}
#: what an unmapped field reads as (goldkeeper's default, so the store leaves it out)
FIELD_DEFAULTS: dict[tuple[str, str], str] = {
    ("analyses", "content_type"): "'text'::text",
    ("analyses", "status"): "'completed'::text",
    ("chunks", "section_title"): "NULL::text",
    ("chunks", "section_path"): "'{}'::text[]",
    ("chunks", "content_type"): "'text'::text",
    ("artifacts", "key_findings"): "'[]'::jsonb",
    ("artifacts", "metadata"): "'{}'::jsonb",
    ("findings", "confidence"): "NULL::float8",
    ("queries", "domain"): "''::text",
    ("queries", "difficulty"): "'medium'::text",
    ("queries", "tags"): "'{}'::text[]",
    ("queries", "expected"): """'{"analyses": [], "chunks": []}'::jsonb""",
    ("queries", "reference_answers"): "'[]'::jsonb",
}
#: jsonb fields holding a JSON object: only a jsonb column holds them (a text[] column holds only lists of text)
OBJECT_FIELDS = frozenset({("artifacts", "metadata"), ("queries", "expected"), ("queries", "expected_behavior")})

Wrap = Callable[[sql.Composable], sql.Composable]

#: PostgreSQL's type names (format_type) for goldkeeper's short ones
_PG_NAMES = {
    "uuid": "uuid",
    "text": "text",
    "timestamptz": "timestamp with time zone",
    "int4": "integer",
    "float8": "double precision",
    "jsonb": "jsonb",
    "text[]": "text[]",
}
#: the text column types (format_type, without a length)
TEXTUAL = ("text", "character varying")


def _same(expr: sql.Composable) -> sql.Composable:
    return expr


def _tpl(template: str) -> Wrap:
    return lambda expr: sql.SQL(template).format(x=expr)


def conversion(field_type: str, column_type: str, separator: str | None = None) -> tuple[Wrap, Wrap] | None:
    """(read, write) SQL wrappers from a column of ``column_type`` to goldkeeper's ``field_type`` and
    back, or None when the conversion would lose information. ``column_type`` is PostgreSQL's
    ``format_type`` (``character varying(200)`` counts as ``character varying``)."""
    # any precision reads without loss (6, PostgreSQL's maximum, is the unqualified type's; Rails' datetime is
    # timestamp(6), Prisma's DateTime timestamp(3)): the store holds microseconds. A restored value finer than
    # the column holds is refused, naming it (:mod:`goldkeeper.db.mapped_fit`), never rounded
    column_type = re.sub(r"^timestamp\([0-6]\) with", "timestamp with", column_type)
    if column_type.startswith(ENUM_PREFIX):  # its labels are text: read as one, written back cast to the type
        enum = sql.SQL(column_type.removeprefix(ENUM_PREFIX))  # format_type's own spelling: a valid type name
        return (_tpl("{x}::text"), lambda x: sql.SQL("{}::{}").format(x, enum)) if field_type == "text" else None
    base = column_type.split("(")[0].strip() if not column_type.endswith("[]") else column_type
    wanted = _PG_NAMES[field_type]
    if base == wanted:
        return _same, _same
    if field_type == "text" and base in TEXTUAL:
        return _tpl("{x}::text"), _same
    if field_type == "uuid" and base in TEXTUAL:
        return _tpl("{x}::uuid"), _tpl("{x}::text")
    if field_type == "timestamptz" and base == "timestamp without time zone":
        return _tpl("({x} AT TIME ZONE 'UTC')"), _tpl("({x} AT TIME ZONE 'UTC')")
    if field_type == "int4" and base in ("bigint", "smallint"):
        return _tpl("{x}::int4"), _same
    if field_type == "text[]" and base == "jsonb":
        return _tpl("ARRAY(SELECT jsonb_array_elements_text({x}))"), _tpl("to_jsonb({x})")
    if field_type == "text[]" and base in TEXTUAL and separator:
        sep = sql.Literal(separator)
        return (
            # NULL reads as the empty path, as '' does: the dump cannot tell them apart, so neither may restore
            lambda x: sql.SQL("COALESCE(string_to_array({x}, {s}), '{{}}'::text[])").format(x=x, s=sep),
            lambda x: sql.SQL("array_to_string({x}, {s})").format(x=x, s=sep),
        )
    if field_type == "jsonb" and base == "text[]":
        return _tpl("to_jsonb({x})"), _tpl("ARRAY(SELECT jsonb_array_elements_text({x}))")
    return None


def field_conversion(
    entity: str, field: str, column_type: str, separator: str | None = None
) -> tuple[Wrap, Wrap] | None:
    """:func:`conversion` for ``entity.field`` (an object field only from a jsonb column)."""
    field_type = FIELD_TYPES[entity][ENTITY_FIELDS[entity].index(field)]
    if (entity, field) in OBJECT_FIELDS and column_type != "jsonb":
        return None
    return conversion(field_type, column_type, separator)


def user_sql(text: str, *, escaped: bool = False) -> sql.SQL:
    """The user's own SQL from params.yaml, inserted as written; ``escaped``: ``%`` doubled, for a statement
    executed with parameters (psycopg would read ``%`` as a placeholder, and ``%%`` as one ``%``)."""
    return sql.SQL(text.replace("%", "%%") if escaped else text)


def enclosed(user: sql.Composable) -> sql.Composed:
    """The user's SQL in parentheses on lines of their own: ``(\n<sql>\n)``, so a ``-- comment`` ending it
    cannot swallow the closing parenthesis."""
    return sql.SQL("(\n{}\n)").format(user)


@dataclass(frozen=True)
class TableMap:
    """One entity's table: ``columns`` maps goldkeeper's fields to the table's columns."""

    entity: str
    schema: str | None
    table: str
    columns: dict[str, str]
    where: str | None = None
    separators: dict[str, str] | None = None
    embedding_column: str | None = None
    model_column: str | None = None
    declared_foreign_key: bool = False
    #: chunks: the tsvector column, or the SQL expression, the full-text search matches (None: the content)
    fulltext_column: str | None = None
    fulltext_expression: str | None = None

    @classmethod
    def from_params(cls, entity: str, params: TableMapParams) -> TableMap:
        schema, _, table = params.table.rpartition(".")
        emb = params.embedding
        return cls(
            entity=entity,
            schema=schema or None,
            table=table,
            columns=dict(params.columns),
            where=params.where,
            separators=dict(params.separators),
            embedding_column=emb.column if emb else None,
            model_column=emb.model_column if emb else None,
            declared_foreign_key=params.declared_foreign_key,
            fulltext_column=params.fulltext.column if params.fulltext else None,
            fulltext_expression=params.fulltext.expression if params.fulltext else None,
        )

    @property
    def name(self) -> str:
        """``schema.table`` as params names it, SQL's quotes read (``"MyApp"."Document"``: ``MyApp.Document``; messages)."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def relation(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)

    def column(self, field: str) -> sql.Identifier:
        return sql.Identifier(self.columns[field])

    def condition(self, *, escaped: bool = False) -> sql.Composable:
        """The ``where`` (TRUE when none), parenthesised on lines of its own (a trailing ``-- comment`` in it
        ends at its line). ``escaped``: for a statement run with parameters, where psycopg reads ``%`` as a
        placeholder (``name LIKE 'a%'`` is written ``'a%%'`` there)."""
        return enclosed(user_sql(self.where, escaped=escaped)) if self.where else sql.SQL("TRUE")


@dataclass(frozen=True)
class Mapping:
    """Every mapped entity's :class:`TableMap`, and the column types met in the database."""

    tables: dict[str, TableMap]
    #: (entity, field) -> the column's format_type; filled by :func:`load_types`
    types: dict[tuple[str, str], str] | None = None

    @classmethod
    def from_params(cls, params: DatabaseParams) -> Mapping:
        ordered = [entity for entity in ENTITY_FIELDS if entity in params.tables]  # analyses, chunks, ...
        return cls({entity: TableMap.from_params(entity, params.tables[entity]) for entity in ordered})

    def field_type(self, entity: str, field: str) -> str:
        return FIELD_TYPES[entity][ENTITY_FIELDS[entity].index(field)]

    def _wraps(self, entity: str, field: str) -> tuple[Wrap, Wrap]:
        table = self.tables[entity]
        column_type = (self.types or {}).get((entity, field), _PG_NAMES[self.field_type(entity, field)])
        wraps = field_conversion(entity, field, column_type, (table.separators or {}).get(field))
        if wraps is None:
            raise ValueError(f"{table.name}.{table.columns[field]}: no lossless conversion")  # db check reports it
        return wraps

    def read_expr(self, entity: str, field: str, alias: str | None = None) -> sql.Composable:
        """The SQL expression reading ``field`` in goldkeeper's type (a default when it is not mapped)."""
        table = self.tables[entity]
        if field not in table.columns:
            return sql.SQL(FIELD_DEFAULTS[(entity, field)])
        column = sql.Identifier(alias, table.columns[field]) if alias else table.column(field)
        return self._wraps(entity, field)[0](column)

    def write_expr(self, entity: str, field: str, value: sql.Composable) -> sql.Composable:
        """The SQL expression turning ``value`` (goldkeeper's type) into the column's type."""
        return self._wraps(entity, field)[1](value)

    def mapped_fields(self, entity: str) -> list[str]:
        return [f for f in ENTITY_FIELDS[entity] if f in self.tables[entity].columns]


def park_positions(mapping: Mapping, staged: sql.Composable) -> sql.Composed:
    """The UPDATE moving the chunks (inside the ``where``) whose position or document the staged rows ``staged``
    change to positions above every one in use, first: updated in place one by one, they would collide under the
    common UNIQUE (document, position) constraint with a position not yet moved (a swap, a chunk inserted at the
    head, two documents trading chunks)."""
    table = mapping.tables["chunks"]
    position = table.column("chunk_index")
    return sql.SQL(
        "UPDATE {t} SET {c} = gk__p.gk__parked FROM (SELECT {key} AS gk__key, {new} AS gk__new, {doc} AS gk__doc, "
        "greatest((SELECT max({c}) FROM {t}), (SELECT max(chunk_index) FROM gk_chunks)) + row_number() OVER () "
        "AS gk__parked FROM ({staged}) s) gk__p WHERE {t}.{id} = gk__p.gk__key AND {w} "
        "AND ROW({a}, {c}) IS DISTINCT FROM ROW(gk__doc, gk__new)"
    ).format(
        t=table.relation,
        c=position,
        a=table.column("analysis_id"),
        key=mapping.write_expr("chunks", "id", sql.Identifier("s", "id")),
        new=mapping.write_expr("chunks", "chunk_index", sql.Identifier("s", "chunk_index")),
        doc=mapping.write_expr("chunks", "analysis_id", sql.Identifier("s", "analysis_id")),
        staged=staged,
        id=table.column("id"),
        w=table.condition(),
    )


def select_scoped(mapping: Mapping, entity: str, exprs: sql.Composable, *, escaped: bool = False) -> sql.Composed:
    """``SELECT <exprs> FROM <table> WHERE <scope>``: the entity's rows inside its ``where`` (children: whose
    analysis is inside the analyses' ``where`` too). ``escaped``: for a statement run with parameters
    (:meth:`TableMap.condition`)."""
    table = mapping.tables[entity]
    if entity in ("analyses", "queries"):
        return sql.SQL("SELECT {e} FROM {t} WHERE {w}").format(
            e=exprs, t=table.relation, w=table.condition(escaped=escaped)
        )
    parent = mapping.tables["analyses"]
    return sql.SQL("SELECT {e} FROM {t} WHERE {w} AND {fk} IN (SELECT {pk} FROM {p} WHERE {pw})").format(
        e=exprs,
        t=table.relation,
        w=table.condition(escaped=escaped),
        fk=mapping.read_expr(entity, "analysis_id"),
        pk=mapping.read_expr("analyses", "id"),
        p=parent.relation,
        pw=parent.condition(escaped=escaped),
    )


#: how :data:`COLUMN_TYPE` marks an enum type (``enum app.doc_state``): read as text, written with a cast
ENUM_PREFIX = "enum "
#: the type of the column ``a`` (pg_attribute; ``t``: its pg_type) as ``format_type`` writes it, a domain's as its
#: base type's: a domain over text holds text without loss (read and written as text; PostgreSQL applies its
#: CHECK on write); an enum's after :data:`ENUM_PREFIX`
COLUMN_TYPE = (
    f"CASE WHEN t.typtype = 'e' THEN '{ENUM_PREFIX}' ELSE '' END || "
    "format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, "
    "CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)"
)


def column_types(conn: psycopg.Connection[Any], table: TableMap) -> dict[str, str] | None:
    """column -> format_type of ``table`` (None: no such table, or a schema the role may not look into:
    ``to_regclass`` would raise; ``db check`` says which)."""
    if table.schema is not None and conn.execute(
        "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = %s", (table.schema,)
    ).fetchone() == (False,):
        return None
    regclass = conn.execute("SELECT to_regclass(%s)::oid", (table.relation.as_string(conn),)).fetchone()
    if regclass is None or regclass[0] is None:
        return None
    rows = conn.execute(
        f"SELECT a.attname, {COLUMN_TYPE} FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (regclass[0],),
    ).fetchall()
    return {name: type_ for name, type_ in rows}


def load_types(conn: psycopg.Connection[Any], mapping: Mapping) -> Mapping:
    """The mapping with the live column types (missing tables/columns are left out: see check_mapping)."""
    types: dict[tuple[str, str], str] = {}
    for entity, table in mapping.tables.items():
        found = column_types(conn, table) or {}
        for field, column in table.columns.items():
            if column in found:
                types[(entity, field)] = found[column]
    return Mapping(mapping.tables, types)


__all__ = [
    "COLUMN_TYPE",
    "ENUM_PREFIX",
    "TEXTUAL",
    "FIELD_TYPES",
    "FIELD_DEFAULTS",
    "OBJECT_FIELDS",
    "TableMap",
    "Mapping",
    "conversion",
    "field_conversion",
    "park_positions",
    "column_types",
    "load_types",
    "user_sql",
    "enclosed",
    "select_scoped",
]
