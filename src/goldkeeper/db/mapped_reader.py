"""COPY streams out of the application's own tables (dump through a :class:`~goldkeeper.db.mapping.Mapping`).

The same design as :mod:`goldkeeper.db.reader`: one ``COPY (SELECT ...) TO STDOUT`` per entity, each
on its own connection, all sharing one exported snapshot, children merged into their analysis in
Python. The SELECTs are generated from the mapping: each column converted to goldkeeper's type, the
rows limited to the ``where`` of their table (children: to analyses inside the analyses' ``where``).
Queries come from the mapped queries table when the mapping has one (inside its ``where``, by id
bytewise; a row goldkeeper cannot read is a one-line error naming the table, the id and the column),
else from goldkeeper's own ``golden.queries`` (none when that table does not exist).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from pydantic import ValidationError

from goldkeeper.config.sections import ENTITY_FIELDS
from goldkeeper.db.connection import database_error
from goldkeeper.db.mapping import FIELD_TYPES, Mapping, select_scoped
from goldkeeper.db.mapping_check import require_valid
from goldkeeper.db.reader import (
    _build_analysis,
    _Peekable,
    _queries_stream,
    _snapshot_connections,
    _uuid_before,
    refuse_inexact,
)
from goldkeeper.errors import DatabaseError, RecordValidationError
from goldkeeper.models import Analysis, Expected, ExpectedBehavior, Query

#: the order of each child stream after its analysis id (chunks: chunk_index; findings: ordinal)
_CHILD_ORDER = {"chunks": "chunk_index", "findings": "ordinal", "artifacts": None}


def select_entity(mapping: Mapping, entity: str) -> sql.Composed:
    """``SELECT <every field in goldkeeper's type> FROM <table> WHERE <scope> ORDER BY <key>``."""
    fields = ENTITY_FIELDS[entity]
    exprs = sql.SQL(", ").join(mapping.read_expr(entity, f) for f in fields)
    if entity == "queries":  # bytewise, as golden.queries and the store order them
        return sql.SQL('{} ORDER BY ({}) COLLATE "C"').format(
            select_scoped(mapping, entity, exprs), mapping.read_expr(entity, "id")
        )
    order = [sql.Literal(1)] if entity == "analyses" else [sql.Literal(fields.index("analysis_id") + 1)]
    if entity != "analyses" and _CHILD_ORDER[entity] is not None:
        order.append(sql.Literal(fields.index(str(_CHILD_ORDER[entity])) + 1))
    return sql.SQL("{} ORDER BY {}").format(select_scoped(mapping, entity, exprs), sql.SQL(", ").join(order))


def _copy_entity(conn: psycopg.Connection[Any], mapping: Mapping, entity: str) -> Iterator[tuple[Any, ...]]:
    """The entity's rows in the reader's column order (analysis id first for children)."""
    if entity not in mapping.tables:
        return
    fields = ENTITY_FIELDS[entity]
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(select_entity(mapping, entity))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(FIELD_TYPES[entity]))
        for row in copy.rows():
            if entity == "analyses":
                yield row
                continue
            values = dict(zip(fields, row, strict=True))
            yield _reader_row(entity, values)


def _reader_row(entity: str, v: dict[str, Any]) -> tuple[Any, ...]:
    """A child row in the shape :func:`goldkeeper.db.reader._build_analysis` takes."""
    keys: tuple[str, ...]
    if entity == "chunks":
        keys = ("analysis_id", "id", "content", "section_title", "section_path", "content_type", "chunk_index")
    elif entity == "findings":
        keys = ("analysis_id", "agent", "category", "content", "confidence")
    else:
        keys = ("analysis_id", "id", "summary", "key_findings", "metadata")
    return tuple(v[k] for k in keys)


def _refuse_inexact_artifacts(mapping: Mapping, artifacts: list[tuple[Any, ...]]) -> None:
    """A number in an artifact's jsonb that the store cannot hold exactly: one line naming the mapped table,
    the artifact id and the column (checked before the model, which would name goldkeeper's own table)."""
    table = mapping.tables.get("artifacts")
    for artifact in artifacts:
        for index, field in ((3, "key_findings"), (4, "metadata")):
            if table is not None:
                refuse_inexact(artifact[index], table.name, artifact[1], table.columns.get(field, field))


def _build_query(mapping: Mapping, values: dict[str, Any]) -> Query:
    """A query from its row (goldkeeper's types); a value the model refuses names the row and the column."""
    table = mapping.tables["queries"]
    for field in ("reference_answers", "expected", "expected_behavior"):
        refuse_inexact(values[field], table.name, values["id"], table.columns.get(field, field))
    nested: str | None = "expected"
    try:
        expected = Expected.model_validate(values["expected"]).canonical()
        nested = "expected_behavior"
        behavior = ExpectedBehavior.model_validate(values["expected_behavior"])
        nested = None
        plain = {k: v for k, v in values.items() if k not in ("expected", "expected_behavior")}
        return Query(**plain, expected=expected, expected_behavior=behavior)
    except ValidationError as exc:
        table = mapping.tables["queries"]
        first = exc.errors()[0]
        path = ([nested] if nested else []) + [str(part) for part in first["loc"]]
        if path and path[0] in table.columns:
            path[0] = table.columns[path[0]]
        raise RecordValidationError(table.name, str(values["id"]), ".".join(path), first["msg"]) from exc


def _mapped_queries(url: str, conn: psycopg.Connection[Any], mapping: Mapping) -> Generator[Query]:
    """The mapped queries table's rows inside its ``where``, as queries (ascending id, bytewise)."""
    fields = ENTITY_FIELDS["queries"]
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(select_entity(mapping, "queries"))
    try:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(list(FIELD_TYPES["queries"]))
            for row in copy.rows():
                yield _build_query(mapping, dict(zip(fields, row, strict=True)))
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot read the mapped queries") from exc


#: the model each entity's rows become -> (entity, index of the record id in its reader row)
_CHILD_MODELS = {"Chunk": ("chunks", 1), "Finding": ("findings", None), "Artifact": ("artifacts", 1)}


def _record_error(
    mapping: Mapping, row: tuple[Any, ...], children: list[list[tuple[Any, ...]]], exc: ValidationError
) -> RecordValidationError:
    """A value the model refuses (a NULL in a required column...): one line naming the table, the record id
    (the analysis', the chunk's, the artifact's; a finding: the analysis id and its position) and the column."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    entity, record = "analyses", str(row[0])
    if exc.title in _CHILD_MODELS:
        entity, id_index = _CHILD_MODELS[exc.title]
        slot = ("chunks", "findings", "artifacts").index(entity)
        position = next((i for i, ch in enumerate(children[slot]) if _refused(row, slot, ch, exc.title)), 0)
        bad = children[slot][position]
        record = str(bad[id_index]) if id_index is not None else f"{row[0]} finding {position}"
    table = mapping.tables[entity]
    if loc and loc[0] in table.columns:
        loc[0] = table.columns[loc[0]]
    return RecordValidationError(table.name, record, ".".join(loc) or None, first["msg"])


def _refused(row: tuple[Any, ...], slot: int, child: tuple[Any, ...], model: str) -> bool:
    """Whether ``model`` refuses this one child row of the analysis ``row``."""
    alone: list[list[tuple[Any, ...]]] = [[], [], []]
    alone[slot] = [child]
    try:
        _build_analysis(row, *alone)
    except ValidationError as exc:
        return exc.title == model
    return False


def _analyses_stream(url: str, conns: list[psycopg.Connection[Any]], mapping: Mapping) -> Generator[Analysis]:
    c_an, c_ch, c_fi, c_ar = conns
    try:
        chunks = _Peekable(_copy_entity(c_ch, mapping, "chunks"))
        findings = _Peekable(_copy_entity(c_fi, mapping, "findings"))
        artifacts = _Peekable(_copy_entity(c_ar, mapping, "artifacts"))
        for row in _copy_entity(c_an, mapping, "analyses"):
            key = row[0]
            children = [s.take_while(key, _uuid_before) for s in (chunks, findings, artifacts)]
            _refuse_inexact_artifacts(mapping, children[2])
            try:
                yield _build_analysis(row, *children)
            except ValidationError as exc:
                raise _record_error(mapping, row, children, exc) from exc
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot read the mapped analyses") from exc


#: the mapped queries' expected results as golden.query_expected's rows (query_id, target_kind, target_id)
#: the ``expected`` jsonb of rows ``(id, expected)`` as golden.query_expected's rows; an entry that is not an
#: array counts as none (``db check`` and the dump refuse such a row, naming it)
_EXPECTED_ROWS = (
    "SELECT q.id AS query_id, k.kind AS target_kind, (e ->> 'id')::uuid AS target_id, "
    "(e ->> 'relevance')::int4 AS relevance "
    "FROM ({q}) q CROSS JOIN (VALUES ('chunk', 'chunks'), ('analysis', 'analyses')) AS k (kind, key) "
    "CROSS JOIN LATERAL jsonb_array_elements("
    "CASE WHEN jsonb_typeof(q.expected -> k.key) = 'array' THEN q.expected -> k.key ELSE '[]'::jsonb END) AS e"
)


def expected_rows(queries: sql.Composable) -> sql.Composed:
    """``(query_id, target_kind, target_id, relevance)`` of each expected result of ``queries`` (a SELECT of
    ``id, expected``): the mapped queries' expectations in golden.query_expected's shape."""
    return sql.SQL(_EXPECTED_ROWS).format(q=queries)


def _expected(mapping: Mapping) -> sql.Composable:
    if "queries" not in mapping.tables:
        return sql.SQL("golden.query_expected")
    exprs = sql.SQL("{} AS id, {} AS expected").format(
        mapping.read_expr("queries", "id"), mapping.read_expr("queries", "expected")
    )
    return sql.SQL("({})").format(expected_rows(select_scoped(mapping, "queries", exprs)))


def dangling_select(mapping: Mapping) -> sql.Composed:
    """``(query_id, target_kind, target_id)`` of each expected result whose chunk / analysis is not inside the
    mapping's scope (the mapped queries' ``expected``, else ``golden.query_expected``, which must exist)."""
    return sql.SQL(
        "SELECT e.query_id, e.target_kind, e.target_id::text FROM {x} e "
        "WHERE (e.target_kind = 'chunk' AND e.target_id NOT IN ({c})) "
        "OR (e.target_kind = 'analysis' AND e.target_id NOT IN ({a}))"
    ).format(
        x=_expected(mapping),
        c=select_scoped(mapping, "chunks", mapping.read_expr("chunks", "id")),
        a=select_scoped(mapping, "analyses", mapping.read_expr("analyses", "id")),
    )


def _refuse_dangling(conn: psycopg.Connection[Any], mapping: Mapping) -> None:
    """A query expecting a chunk / analysis the dump leaves out (outside a ``where``) stops it in one line:
    the store would break its own contract (``restore`` refuses ``query.dangling_chunk``)."""
    if "queries" in mapping.tables:
        table, column = mapping.tables["queries"].name, mapping.tables["queries"].columns["expected"]
    elif conn.execute("SELECT to_regclass('golden.query_expected') IS NOT NULL").fetchone() == (True,):
        table, column = "golden.query_expected", "target_id"
    else:
        return
    statement = sql.SQL("SELECT d.*, count(*) OVER () FROM ({}) d ORDER BY 1, 3 LIMIT 1").format(
        dangling_select(mapping)
    )
    try:
        with conn.transaction():  # a savepoint: the snapshot stays usable
            row = conn.execute(statement).fetchone()
    except psycopg.Error:
        return  # an id that is not a UUID: the query's row is refused, naming it, when it is read
    if row is None:
        return
    query_id, kind, target, count = row
    more = f" (and {count - 1} more)" if count > 1 else ""
    scope = mapping.tables["analyses"].name
    if kind == "chunk":
        scope = f"{mapping.tables['chunks'].name} and {scope}"
    raise RecordValidationError(
        table,
        str(query_id),
        column,
        f"expected {kind} {target} is not in the dump (no such {kind} inside the where of {scope}), "
        f"so restore would refuse the store (query.dangling_{kind}){more}",
    )


@contextmanager
def mapped_reader(
    url: str, mapping: Mapping, *, expected_in_scope: bool = False
) -> Iterator[tuple[Iterator[Analysis], Iterator[Query]]]:
    """``(analyses, queries)`` of one snapshot of the application's tables (see the module doc).

    The mapping is checked first (a problem is a ConfigError listing them, nothing read); with
    ``expected_in_scope`` (dump) so is every query's expected chunk / analysis: inside the scope, else a
    RecordValidationError naming the first (nothing read)."""
    with _snapshot_connections(url, 6) as conns:
        try:
            mapping = require_valid(conns[0], mapping, None)
            if expected_in_scope:
                _refuse_dangling(conns[0], mapping)
            queries = _queries_of(url, conns[4:], mapping)
        except psycopg.Error as exc:  # e.g. a reader role without USAGE on goldkeeper's own schema golden
            raise database_error(exc, url, "cannot read the mapped tables") from exc
        analyses = _analyses_stream(url, conns[:4], mapping)
        try:
            yield analyses, queries
        finally:
            for stream in (analyses, queries):
                try:
                    getattr(stream, "close", lambda: None)()
                except (psycopg.Error, DatabaseError):
                    pass  # the connections are closed next: an unfinished COPY dies with them


def _queries_of(url: str, conns: list[psycopg.Connection[Any]], mapping: Mapping) -> Iterator[Query]:
    """The mapped queries, else goldkeeper's own ``golden.queries`` (none when it does not exist)."""
    if "queries" in mapping.tables:
        return _mapped_queries(url, conns[0], mapping)
    if conns[0].execute("SELECT to_regclass('golden.queries') IS NOT NULL").fetchone() == (True,):
        return _queries_stream(url, conns)
    return iter(())


@contextmanager
def mapped_queries(url: str, mapping: Mapping) -> Iterator[Iterator[Query]]:
    """The queries of a database mapped by ``mapping`` (the mapped table, else ``golden.queries``).

    For readers that need the queries alone (the evals, ``verify --db``); the mapping is checked first."""
    with _snapshot_connections(url, 2) as conns:
        try:
            mapping = require_valid(conns[0], mapping, None)
            queries = _queries_of(url, conns, mapping)
        except psycopg.Error as exc:  # e.g. a reader role without USAGE on goldkeeper's own schema golden
            raise database_error(exc, url, "cannot read the mapped queries") from exc
        try:
            yield queries
        finally:
            try:
                getattr(queries, "close", lambda: None)()
            except (psycopg.Error, DatabaseError):
                pass  # the connections are closed next: an unfinished COPY dies with them


__all__ = ["dangling_select", "expected_rows", "mapped_reader", "mapped_queries", "select_entity", "select_scoped"]
