"""What restore through a mapping calls "different": the records' canonical forms, not their raw columns.

``dump`` reads the application's rows through the record models, which fill defaults (a missing
``refusal`` in ``expected_behavior``, a missing ``relevance``), normalise values (an upper-case UUID in
``expected``) and order what has no order of its own (expected results by id, findings by position).
Comparing the staged records with the user's rows in SQL would call such a row changed while ``dump`` says
it is not, and a replace would rewrite the application's values for nothing. So a mapped restore compares,
per record, the sha256 of its canonical JSON (what ``dump`` writes for it) on both sides: the staged
records' as they are added, the user's rows' read back through the loader's temporary views (the same
SELECTs as ``dump``, in the loader's transaction, under its lock), only for the ids on both sides. A row
the models refuse cannot equal a staged record: it is different (a replace overwrites it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from pydantic import ValidationError

from goldkeeper.config.sections import ENTITY_FIELDS
from goldkeeper.db.mapped_reader import _build_query, _reader_row
from goldkeeper.db.mapping import Mapping
from goldkeeper.db.reader import _build_analysis, _json_loads, _Peekable, _uuid_before
from goldkeeper.errors import RecordValidationError
from goldkeeper.models import Analysis, Query

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
#: rows fetched per round trip from each view
_BATCH = 2000


def record_digest(record: Analysis | Query) -> bytes:
    """sha256 of the record's canonical JSON: equal exactly when ``dump`` would write the same bytes."""
    return hashlib.sha256(orjson.dumps(record.canonical().model_dump(mode="json"), option=_OPTIONS)).digest()


def _rows(stack: ExitStack, conn: psycopg.Connection[Any], name: str, statement: sql.Composed) -> Iterator[Any]:
    """The rows of ``statement`` through a server-side cursor (several may be open in one transaction)."""
    cur = stack.enter_context(conn.cursor(name=name))
    set_json_loads(_json_loads, context=cur)  # numbers as dump reads them
    cur.itersize = _BATCH
    cur.execute(statement)
    return iter(cur)


def _view_rows(stack: ExitStack, conn: psycopg.Connection[Any], entity: str, order: list[str]) -> Iterator[Any]:
    """The rows of the loader's view of ``entity`` whose record is staged too, in ``order``."""
    staged = "gk_queries" if entity == "queries" else "gk_analyses"
    key = "id" if entity in ("analyses", "queries") else "analysis_id"
    statement = sql.SQL("SELECT {f} FROM {v} WHERE {k} IN (SELECT s.id FROM {s} s) ORDER BY {o}").format(
        f=sql.SQL(", ").join(map(sql.Identifier, ENTITY_FIELDS[entity])),
        v=sql.Identifier(f"gk_map_{entity}"),
        k=sql.Identifier(key),
        s=sql.Identifier(staged),
        o=sql.SQL(", ").join(sql.SQL(o) for o in order),
    )
    return _rows(stack, conn, f"gk_digest_{entity}", statement)


def _children(stack: ExitStack, conn: psycopg.Connection[Any], mapping: Mapping, entity: str) -> _Peekable:
    if entity not in mapping.tables:
        return _Peekable(iter(()))
    order = {"chunks": ["analysis_id", "chunk_index"], "findings": ["analysis_id", "ordinal"]}
    rows = _view_rows(stack, conn, entity, order.get(entity, ["analysis_id"]))
    fields = ENTITY_FIELDS[entity]
    return _Peekable(_reader_row(entity, dict(zip(fields, row, strict=True))) for row in rows)


def _analysis_digests(conn: psycopg.Connection[Any], mapping: Mapping) -> Iterator[tuple[str, bytes | None]]:
    """``(id, digest)`` of each mapped analysis also staged (None: a row the models refuse)."""
    with ExitStack() as stack:
        chunks, findings, artifacts = (_children(stack, conn, mapping, e) for e in ("chunks", "findings", "artifacts"))
        for row in _view_rows(stack, conn, "analyses", ["id"]):
            key = row[0]
            children = [s.take_while(key, _uuid_before) for s in (chunks, findings, artifacts)]
            try:
                yield str(key), record_digest(_build_analysis(row, *children))
            except (ValidationError, RecordValidationError):  # RecordValidationError: a number JSON cannot hold
                yield str(key), None


def _query_digests(conn: psycopg.Connection[Any], mapping: Mapping) -> Iterator[tuple[str, bytes | None]]:
    """``(id, digest)`` of each mapped query also staged (None: a row the models refuse)."""
    fields = ENTITY_FIELDS["queries"]
    with ExitStack() as stack:
        for row in _view_rows(stack, conn, "queries", ["id"]):
            try:
                yield str(row[0]), record_digest(_build_query(mapping, dict(zip(fields, row, strict=True))))
            except (ValidationError, RecordValidationError):
                yield str(row[0]), None


def differing(conn: psycopg.Connection[Any], mapping: Mapping, entity: str, staged: dict[str, bytes]) -> list[str]:
    """The ids of ``entity`` ("analyses" or "queries") on both sides whose canonical forms differ, sorted
    (bytewise; for lowercase UUIDs that is their order). Needs the loader's views and staged tables (its ``prepare``)."""
    rows = _analysis_digests(conn, mapping) if entity == "analyses" else _query_digests(conn, mapping)
    return sorted((key for key, digest in rows if digest is None or staged.get(key) != digest), key=str.encode)


__all__ = ["differing", "record_digest"]
