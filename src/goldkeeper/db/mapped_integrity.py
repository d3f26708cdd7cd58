"""``verify --db``'s facts about the application's own tables (params ``database:``, issue 12).

The same :class:`~goldkeeper.db.integrity.IntegrityFacts` as the reference schema's, read in one
``REPEATABLE READ READ ONLY`` transaction through a :class:`~goldkeeper.db.mapping.Mapping`: the
rows counted are those inside each ``where`` (children: of an analysis inside the analyses' ``where``,
as ``dump`` reads them); the embeddings are the mapped embedding column (and model column, when
mapped); orphans are children whose ``analysis_id`` matches no analyses row at all; queries and their
expected results are the mapped queries table's (inside its ``where``; expected results in its jsonb
``expected``), else goldkeeper's own (``golden.queries``). No statement takes parameters, so a
``where`` holding ``%`` is read as written.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from goldkeeper.db.connection import connection
from goldkeeper.db.integrity import IntegrityFacts, Sampled
from goldkeeper.db.mapped_reader import dangling_select
from goldkeeper.db.mapping import Mapping, column_types, select_scoped
from goldkeeper.db.mapping_check import require_valid
from goldkeeper.db.state import read_dataset_state

#: the sample id of an orphan finding (it has no id of its own)
_FINDING_KEY = "{} || '#' || {}"


def _sampled(conn: psycopg.Connection[Any], select: sql.Composable, limit: int) -> Sampled:
    row = conn.execute(sql.SQL("SELECT count(*) FROM ({}) s").format(select)).fetchone()
    count = int(row[0]) if row else 0
    if count == 0:
        return Sampled(0)
    rows = conn.execute(sql.SQL("SELECT * FROM ({}) s ORDER BY 1 LIMIT {}").format(select, sql.Literal(limit)))
    return Sampled(count, tuple(r[0] if len(r) == 1 else tuple(r) for r in rows.fetchall()))


def _key(mapping: Mapping, entity: str) -> sql.Composable:
    """The text naming one row of ``entity`` in a sample (findings: ``analysis_id#ordinal``)."""
    if entity == "findings":
        return sql.SQL(_FINDING_KEY).format(
            sql.SQL("({})::text").format(mapping.read_expr(entity, "analysis_id")),
            mapping.read_expr(entity, "ordinal"),
        )
    return sql.SQL("({})::text").format(mapping.read_expr(entity, "id"))


def _counts(conn: psycopg.Connection[Any], mapping: Mapping, has_golden: bool) -> dict[str, int]:
    counts = {}
    for entity in ("analyses", "chunks", "artifacts", "findings"):
        if entity not in mapping.tables:
            counts[entity] = 0
            continue
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM ({}) s").format(select_scoped(mapping, entity, sql.SQL("1")))
        ).fetchone()
        counts[entity] = int(row[0]) if row else 0
    if "queries" in mapping.tables:
        scoped = select_scoped(mapping, "queries", sql.SQL("1"))
        row = conn.execute(sql.SQL("SELECT count(*) FROM ({}) s").format(scoped)).fetchone()
    else:
        row = conn.execute("SELECT count(*) FROM golden.queries").fetchone() if has_golden else (0,)
    counts["queries"] = int(row[0]) if row else 0
    return counts


def _grouped(conn: psycopg.Connection[Any], mapping: Mapping, what: sql.Composable, limit: int) -> dict[Any, Sampled]:
    """Embedded chunks in scope grouped by ``what`` (the model column, or the vector's dimension)."""
    emb = sql.Identifier(str(mapping.tables["chunks"].embedding_column))
    scoped = select_scoped(
        mapping, "chunks", sql.SQL("{w} AS k, {id} AS id, {e} AS e").format(w=what, id=_key(mapping, "chunks"), e=emb)
    )
    rows = conn.execute(
        sql.SQL(
            "SELECT k, count(*), (array_agg(id ORDER BY id))[1:{n}] FROM ({s}) s WHERE e IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).format(n=sql.Literal(limit), s=scoped)
    ).fetchall()
    return {row[0]: Sampled(int(row[1]), tuple(row[2])) for row in rows}


def _orphans(conn: psycopg.Connection[Any], mapping: Mapping, limit: int) -> dict[str, Sampled]:
    parent = mapping.tables["analyses"]
    out: dict[str, Sampled] = {}
    for entity in ("chunks", "artifacts", "findings"):
        if entity not in mapping.tables:
            continue
        table = mapping.tables[entity]
        # the child's column qualified: unqualified inside the subquery, a child's doc_id would mean the
        # parent's own doc_id when both tables name it so (every row then has its analysis). The child's id
        # is written in the parent's column type: an analyses row outside the where may hold any text
        fk = mapping.read_expr(entity, "analysis_id", alias="gk__child")
        select = sql.SQL(
            "SELECT {k} FROM {t} AS gk__child WHERE {w} AND NOT EXISTS (SELECT 1 FROM {p} WHERE {p}.{pk} = {fk})"
        ).format(
            k=_key(mapping, entity),
            t=table.relation,
            w=table.condition(),
            p=parent.relation,
            pk=parent.column("id"),
            fk=mapping.write_expr("analyses", "id", fk),
        )
        out[entity] = _sampled(conn, select, limit)
    return out


def _dangling(conn: psycopg.Connection[Any], mapping: Mapping, limit: int) -> Sampled:
    """Expected results whose chunk / analysis is not inside the mapping's scope."""
    return _sampled(conn, dangling_select(mapping), limit)


def _column_dim(conn: psycopg.Connection[Any], mapping: Mapping) -> int | None:
    table = mapping.tables["chunks"]
    found = (column_types(conn, table) or {}).get(str(table.embedding_column), "")
    match = re.fullmatch(r"vector\((\d+)\)", found)
    return int(match.group(1)) if match else None


def mapped_integrity_facts(url: str, mapping: Mapping, limit: int = 20) -> IntegrityFacts:
    """The facts ``verify --db`` judges, from one read-only snapshot of the mapped tables (see the module
    doc). A mapping that does not fit the database is a ConfigError listing its problems."""
    with connection(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        mapping = require_valid(conn, mapping, None)
        chunks = mapping.tables["chunks"]
        has_golden = conn.execute(
            "SELECT to_regclass('golden.queries') IS NOT NULL AND to_regclass('golden.query_expected') IS NOT NULL"
        ).fetchone() == (True,)
        emb = sql.Identifier(str(chunks.embedding_column))
        unembedded = select_scoped(mapping, "chunks", sql.SQL("{}, {} AS e").format(_key(mapping, "chunks"), emb))
        model = sql.Identifier(chunks.model_column) if chunks.model_column else None
        return IntegrityFacts(
            schema_exists=True,
            counts=_counts(conn, mapping, has_golden),
            column_dim=_column_dim(conn, mapping),
            unembedded=_unembedded(conn, unembedded, limit),
            models=_grouped(conn, mapping, model, limit) if model is not None else {},
            dims=_grouped(conn, mapping, sql.SQL("vector_dims({})").format(emb), limit),
            orphans=_orphans(conn, mapping, limit),
            dangling_expected=_dangling(conn, mapping, limit)
            if has_golden or "queries" in mapping.tables
            else Sampled(0),
            state=read_dataset_state(conn),
        )


def _unembedded(conn: psycopg.Connection[Any], scoped: sql.Composable, limit: int) -> Sampled:
    return _sampled(conn, sql.SQL("SELECT k FROM ({}) u(k, e) WHERE e IS NULL").format(scoped), limit)


__all__ = ["mapped_integrity_facts"]
