"""Staged loads into the application's own tables (restore through a :class:`~goldkeeper.db.mapping.Mapping`).

The same design as :class:`goldkeeper.db.loader.GoldenLoader`, whose staging, classification and
query handling it reuses: records are COPYed into temporary tables, compared in SQL with temporary
views that show the user's rows in goldkeeper's shape (only the rows inside each ``where``), then
applied in the caller's transaction under the golden advisory lock. A replace deletes only mapped
rows inside the ``where``; inserts write the mapped columns (the others take their defaults).
Nothing is created in the user's schema: the views are temporary, queries and the embedding cache
live in goldkeeper's own schema ``golden``. :class:`MappedChunkVectors` writes the chunk vectors
into the user's embedding column; when a restore writes many, the user's HNSW indexes on that column are
dropped and re-created from their own definitions in the same transaction (:meth:`MappedChunkVectors.hnsw_deferred`),
as goldkeeper does with its own index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg import sql

from goldkeeper.config.sections import ENTITY_FIELDS
from goldkeeper.db.loader import ANALYSIS_TABLES, Changes, GoldenLoader
from goldkeeper.db.mapped_reader import select_entity
from goldkeeper.db.mapping import FIELD_DEFAULTS, FIELD_TYPES, Mapping
from goldkeeper.db.mapping_check import require_valid
from goldkeeper.db.schema import HNSW_REBUILD_MIN_ROWS, HNSW_REBUILD_MIN_SHARE
from goldkeeper.errors import DataIntegrityError

#: the valid HNSW indexes on one column of a table that this role may drop and re-create exactly:
#: the table's owner (or a member of its role), the default tablespace, no comment, nothing depending on them
_DEFERRABLE_HNSW = """
SELECT format('%%I.%%I', n.nspname, ic.relname), pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = to_regclass(%(table)s) AND a.attname = %(column)s AND am.amname = 'hnsw'
  AND i.indisvalid AND ic.reltablespace = 0 AND obj_description(ic.oid, 'pg_class') IS NULL
  AND pg_has_role(t.relowner, 'USAGE')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
ORDER BY 1
"""

_ENTITY_OF = {"gk_analyses": "analyses", "gk_chunks": "chunks", "gk_artifacts": "artifacts", "gk_findings": "findings"}


def _view(table: str) -> str:
    return f"gk_map_{_ENTITY_OF[table]}"


class MappedLoader(GoldenLoader):
    """A :class:`GoldenLoader` whose analyses live in the application's tables (see the module doc)."""

    def __init__(self, conn: psycopg.Connection[Any], mapping: Mapping, **options: Any) -> None:
        super().__init__(conn, **options)
        self.mapping = mapping
        self.targets.update({table: _view(table) for table in ANALYSIS_TABLES})

    def prepare(self, dim: int) -> None:
        """Lock, ensure goldkeeper's own schema (queries, cache), check the mapping, create the views."""
        super().prepare(dim)
        self.mapping = require_valid(self.conn, self.mapping, dim)
        for table in ANALYSIS_TABLES:
            entity = _ENTITY_OF[table]
            fields = sql.SQL(", ").join(map(sql.Identifier, ENTITY_FIELDS[entity]))
            if entity in self.mapping.tables:
                body: sql.Composable = select_entity(self.mapping, entity)
            else:  # not mapped: the dataset has none
                body = sql.SQL("SELECT {} WHERE false").format(
                    sql.SQL(", ").join(sql.SQL(f"NULL::{t}") for t in FIELD_TYPES[entity])
                )
            self.conn.execute(
                sql.SQL("CREATE TEMP VIEW {v} ({f}) AS {b}").format(v=sql.Identifier(_view(table)), f=fields, b=body)
            )

    def classify(self, statuses: list[str] | None = None) -> dict[str, Changes]:
        """Refuse records the mapping cannot hold (:meth:`_check_unmapped`), then classify them."""
        self.flush()
        self._check_unmapped()
        return super().classify(statuses)

    def _check_unmapped(self) -> None:
        """A value in an unmapped entity or field would be lost (and differ forever): refuse it, naming it."""
        for table in ANALYSIS_TABLES:
            entity = _ENTITY_OF[table]
            if entity not in self.mapping.tables:
                lost = self._count(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                if lost:
                    raise DataIntegrityError(
                        f"the records have {lost} {entity}, but database.tables.{entity} is not mapped "
                        "(they would be lost): map it"
                    )
                continue
            for field in ENTITY_FIELDS[entity]:
                if field in self.mapping.tables[entity].columns:
                    continue
                lost = self._count(
                    sql.SQL("SELECT count(*) FROM {t} WHERE {f} IS DISTINCT FROM {d}").format(
                        t=sql.Identifier(table), f=sql.Identifier(field), d=sql.SQL(FIELD_DEFAULTS[(entity, field)])
                    )
                )
                if lost:
                    raise DataIntegrityError(
                        f"{lost} of the records' {entity} have a {field} other than goldkeeper's default, but "
                        f"database.tables.{entity}.columns.{field} is not mapped (it would be lost): map it"
                    )

    def _count(self, statement: sql.Composed) -> int:
        row = self.conn.execute(statement).fetchone()
        return int(row[0]) if row else 0

    def _delete_analyses(self, ids: list[str]) -> None:
        """Delete the mapped children of these analyses (inside their ``where``), then the analyses."""
        for entity in ("findings", "artifacts", "chunks", "analyses"):
            if entity not in self.mapping.tables:
                continue
            table = self.mapping.tables[entity]
            key = "id" if entity == "analyses" else "analysis_id"
            self.conn.execute(
                sql.SQL("DELETE FROM {t} WHERE {w} AND {k} = ANY({ids}::uuid[])").format(
                    t=table.relation, w=table.condition(), k=self.mapping.read_expr(entity, key), ids=sql.Literal(ids)
                )
            )

    def _insert_analyses(self) -> None:
        self._check_separators()
        for table in ANALYSIS_TABLES:
            entity = _ENTITY_OF[table]
            if entity not in self.mapping.tables:
                continue
            fields = self.mapping.mapped_fields(entity)
            target = self.mapping.tables[entity]
            self.conn.execute(
                sql.SQL(
                    "INSERT INTO {t} ({cols}) SELECT {vals} FROM {s} WHERE {k} IN (SELECT id FROM gk_insert_analyses)"
                ).format(
                    t=target.relation,
                    cols=sql.SQL(", ").join(target.column(f) for f in fields),
                    vals=sql.SQL(", ").join(self.mapping.write_expr(entity, f, sql.Identifier(f)) for f in fields),
                    s=sql.Identifier(table),
                    k=sql.Identifier("id" if entity == "analyses" else "analysis_id"),
                )
            )
        outside = self._ids("SELECT id::text FROM gk_insert_analyses EXCEPT SELECT id::text FROM gk_map_analyses")
        if outside:
            raise DataIntegrityError(
                f"{len(outside)} restored analyses would fall outside database.tables.analyses.where "
                f"(e.g. {sorted(outside)[0]}): map the column the where reads",
                ids=sorted(outside),
            )

    def _check_separators(self) -> None:
        """A path written as text with a separator must read back the same: no part may contain it."""
        chunks = self.mapping.tables["chunks"]
        separator = (chunks.separators or {}).get("section_path")
        if separator is None or "section_path" not in chunks.columns:
            return
        bad = self._ids(
            "SELECT id::text FROM gk_chunks WHERE analysis_id IN (SELECT id FROM gk_insert_analyses) AND "
            "(section_path = ARRAY['']::text[] OR EXISTS (SELECT 1 FROM unnest(section_path) e WHERE strpos(e, %s) > 0))"
            " ORDER BY 1 LIMIT 20",
            (separator,),
        )
        if bad:
            raise DataIntegrityError(
                f"chunk {bad[0]}: its section_path cannot be stored as text with separator {separator!r} "
                "(a part contains it, or the path is one empty part)",
                ids=bad,
            )


class MappedChunkVectors:
    """Chunk vectors in the user's embedding column (the chunks inside the mapping's scope)."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.table = mapping.tables["chunks"]
        assert self.table.embedding_column is not None  # the section requires it

    def _stale(self) -> sql.Composable:
        emb = sql.Identifier(str(self.table.embedding_column))
        if self.table.model_column is None:
            return sql.SQL("{} IS NULL").format(emb)
        return sql.SQL("({e} IS NULL OR {m} IS DISTINCT FROM %(model_id)s)").format(
            e=emb, m=sql.Identifier(self.table.model_column)
        )

    def _select(self, what: sql.Composable) -> sql.Composed:
        parent = self.mapping.tables["analyses"]
        return sql.SQL(
            "SELECT {what} FROM {t} WHERE {w} AND {stale} AND {fk} IN (SELECT {pk} FROM {p} WHERE {pw})"
        ).format(
            what=what,
            t=self.table.relation,
            w=self.table.condition(),
            stale=self._stale(),
            fk=self.mapping.read_expr("chunks", "analysis_id"),
            pk=self.mapping.read_expr("analyses", "id"),
            p=parent.relation,
            pw=parent.condition(),
        )

    @contextmanager
    def hnsw_deferred(self, conn: psycopg.Connection[Any], rows_to_write: int) -> Iterator[list[str]]:
        """Drop the user's HNSW indexes on the embedding column while many vectors are written, then re-create
        each from its own definition (``pg_get_indexdef``), in the caller's transaction; yields their names.

        The thresholds of :func:`goldkeeper.db.schema.hnsw_deferred` (inserting into an HNSW graph row by row
        costs several times more than building it once). Only the indexes this role may drop and re-create
        exactly (:data:`_DEFERRABLE_HNSW`); any other stays and is maintained row by row. If the body raises,
        nothing is re-created and the transaction must be rolled back, which brings the indexes back.
        DROP INDEX locks the table against the application's readers until the transaction ends.
        """
        total_row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table.relation)).fetchone()
        total = int(total_row[0]) if total_row else 0
        if rows_to_write < HNSW_REBUILD_MIN_ROWS or rows_to_write < HNSW_REBUILD_MIN_SHARE * total:
            yield []
            return
        params = {"table": self.table.relation.as_string(conn), "column": self.table.embedding_column}
        indexes = conn.execute(_DEFERRABLE_HNSW, params).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
        yield [name for name, _ in indexes]
        if indexes:
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)

    def count_stale(self, conn: psycopg.Connection[Any], model_id: str) -> int:
        row = conn.execute(self._select(sql.SQL("count(*)")), {"model_id": model_id}).fetchone()
        return int(row[0]) if row else 0

    def iter_stale(self, conn: psycopg.Connection[Any], model_id: str, batch_size: int) -> Iterator[list[Any]]:
        what = sql.SQL("{}, {}").format(self.mapping.read_expr("chunks", "id"), self.table.column("content"))
        with conn.cursor(name="goldkeeper_stale_mapped_chunks") as cur:
            cur.itersize = batch_size
            cur.execute(sql.SQL("{} ORDER BY 1").format(self._select(what)), {"model_id": model_id})
            while rows := cur.fetchmany(batch_size):
                yield [(row[0], row[1]) for row in rows]

    def write(self, conn: psycopg.Connection[Any], model_id: str, rows: Sequence[tuple[UUID, np.ndarray]]) -> int:
        if not rows:
            return 0
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS goldkeeper_chunk_vec (id uuid, embedding vector) ON COMMIT DROP")
        conn.execute("TRUNCATE goldkeeper_chunk_vec")
        with conn.cursor().copy("COPY goldkeeper_chunk_vec (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "vector"])
            for chunk_id, vector in rows:
                copy.write_row((chunk_id, np.asarray(vector, dtype=np.float32)))
        sets = [sql.SQL("{} = v.embedding").format(sql.Identifier(str(self.table.embedding_column)))]
        if self.table.model_column is not None:
            sets.append(sql.SQL("{} = {}").format(sql.Identifier(self.table.model_column), sql.Literal(model_id)))
        cur = conn.execute(
            sql.SQL("UPDATE {t} AS c SET {sets} FROM goldkeeper_chunk_vec AS v WHERE c.{id} = {vid}").format(
                t=self.table.relation,
                sets=sql.SQL(", ").join(sets),
                id=self.table.column("id"),
                vid=self.mapping.write_expr("chunks", "id", sql.Identifier("v", "id")),
            )
        )
        return cur.rowcount


__all__ = ["MappedLoader", "MappedChunkVectors"]
