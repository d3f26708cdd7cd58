"""Staged loads into the application's own tables (restore through a :class:`~goldkeeper.db.mapping.Mapping`).

The same design as :class:`goldkeeper.db.loader.GoldenLoader`, whose staging, classification and query handling it
reuses: records are COPYed into temporary tables, compared with temporary views that show the user's rows in
goldkeeper's shape (only the rows inside each ``where``; a record is different when its canonical form, what ``dump``
writes, differs: :mod:`goldkeeper.db.mapped_digest`), then applied in the caller's transaction under the golden
advisory lock. A replace updates a changed record in place, mapped columns only (its other columns, and the
application's rows that reference it, stay; a chunk whose text changed loses its vector, computed again), deletes
only the mapped rows inside the ``where`` that the records no longer hold (findings, which have no id, are replaced
as a whole), and inserts new records into the mapped columns (the others take their defaults; a NOT NULL one without
any is refused first: :mod:`goldkeeper.db.mapped_required`). A record id held by a row outside the ``where`` is a
conflict: a restore never touches those rows. Queries the same way when ``database.tables.queries`` maps them (their
expectations are read from its ``expected`` column, the view ``gk_map_query_expected``), else in goldkeeper's own
``golden.queries``. Nothing is created in the user's schema: the views are temporary, the embedding cache lives in
goldkeeper's own schema ``golden``. :class:`MappedChunkVectors` writes the chunk vectors into the user's embedding
column; when a restore writes many, the user's HNSW indexes on that column are dropped and re-created from their own
definitions in the same transaction (:meth:`MappedChunkVectors.hnsw_deferred`), as goldkeeper does with its own.
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
from goldkeeper.db.embedding_cache import STAGED_VECTORS, stage_vectors
from goldkeeper.db.loader import ANALYSIS_TABLES, Changes, GoldenLoader
from goldkeeper.db.mapped_digest import differing, record_digest
from goldkeeper.db.mapped_fit import unfit
from goldkeeper.db.mapped_reader import expected_rows, select_entity
from goldkeeper.db.mapped_required import refuse_unfilled
from goldkeeper.db.mapping import FIELD_DEFAULTS, FIELD_TYPES, Mapping, park_positions
from goldkeeper.db.mapping_check import require_valid
from goldkeeper.db.mapping_privileges import refuse_write_problems
from goldkeeper.db.schema import HNSW_REBUILD_MIN_ROWS, HNSW_REBUILD_MIN_SHARE
from goldkeeper.errors import ConflictError, DataIntegrityError
from goldkeeper.models import Analysis, Query
from goldkeeper.progress import SILENT, Progress

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

_ENTITY_OF = {
    "gk_analyses": "analyses",
    "gk_chunks": "chunks",
    "gk_artifacts": "artifacts",
    "gk_findings": "findings",
    "gk_queries": "queries",
}
#: a written child row as restore names it (findings have no id: their analysis and position)
_CHILD_KEY = {"gk_chunks": "id::text", "gk_artifacts": "id::text", "gk_findings": "analysis_id::text || '#' || ordinal"}
#: one record of each entity, in messages
_RECORD = {"analyses": "analysis", "chunks": "chunk", "artifacts": "artifact", "queries": "query"}


def _view(table: str) -> str:
    return f"gk_map_{_ENTITY_OF[table]}"


class MappedLoader(GoldenLoader):
    """A :class:`GoldenLoader` whose analyses live in the application's tables (see the module doc)."""

    def __init__(self, conn: psycopg.Connection[Any], mapping: Mapping, **options: Any) -> None:
        super().__init__(conn, **options)
        self.mapping = mapping
        self.targets.update({table: _view(table) for table in ANALYSIS_TABLES})
        if "queries" in mapping.tables:
            self.targets.update({"gk_queries": "gk_map_queries", "gk_query_expected": "gk_map_query_expected"})
        #: the canonical digest of each staged record (what is "different" is decided with these)
        self._digests: dict[str, dict[str, bytes]] = {"analyses": {}, "queries": {}}

    def add_analysis(self, analysis: Analysis) -> None:
        self._digests["analyses"][str(analysis.id)] = record_digest(analysis)
        super().add_analysis(analysis)

    def add_query(self, query: Query) -> None:
        if "queries" in self.mapping.tables:
            self._digests["queries"][query.id] = record_digest(query)
        super().add_query(query)

    def _different(self, tables: tuple[str, ...], parent: str) -> list[str]:
        """The records on both sides whose canonical forms differ (:mod:`goldkeeper.db.mapped_digest`): a
        row that reads back as the staged record (defaults filled, values normalised) is not different."""
        entity = _ENTITY_OF[parent]
        if entity == "queries" and "queries" not in self.mapping.tables:
            return super()._different(tables, parent)  # goldkeeper's own golden.queries
        return differing(self.conn, self.mapping, entity, self._digests[entity])

    def _tables(self) -> tuple[str, ...]:
        """The temp tables written into the user's tables: the analyses', and the queries' when mapped."""
        return ANALYSIS_TABLES + (("gk_queries",) if "queries" in self.mapping.tables else ())

    def prepare(self, dim: int) -> None:
        """Lock, ensure goldkeeper's own schema (queries, cache), check the mapping, create the views."""
        super().prepare(dim)
        self.mapping = require_valid(self.conn, self.mapping, dim)
        for table in self._tables():
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
        if "queries" in self.mapping.tables:
            # a mapped query's expectations, in golden.query_expected's shape, from its ``expected`` jsonb
            self.conn.execute(
                sql.SQL(
                    "CREATE TEMP VIEW gk_map_query_expected (query_id, target_kind, target_id, relevance) AS {}"
                ).format(expected_rows(sql.SQL("SELECT id, expected FROM gk_map_queries")))
            )

    def refuse_unwritable(self, *, replace: bool) -> None:
        """Refuse, before anything is written, a role lacking a privilege the writes need, naming it."""
        refuse_write_problems(self.conn, self.mapping, replace=replace)
        super().refuse_unwritable(replace=replace)

    def classify(self, statuses: list[str] | None = None) -> dict[str, Changes]:
        """Refuse records the mapping cannot hold (:meth:`_check_unmapped`), then classify them."""
        self.flush()
        self._check_unmapped()
        self._check_fit()
        return refuse_unfilled(self.conn, self.mapping, super().classify(statuses))  # NOT NULL, no INSERT fills it

    def _check_fit(self) -> None:
        """A value its column cannot hold as it is (too long for its ``varchar(n)``, not an enum label, finer than its
        ``timestamp(p)``): PostgreSQL names neither column nor record, or rounds: named first (``mapped_fit``)."""
        for table in self._tables():
            entity = _ENTITY_OF[table]
            for field in self.mapping.mapped_fields(entity) if entity in self.mapping.tables else ():
                found = unfit(self.conn, self.mapping, table, (entity, field), _CHILD_KEY.get(table, "id::text"))
                if found is not None:
                    record, what = found
                    raise DataIntegrityError(
                        f"{_RECORD.get(entity, 'finding')} {record}: {field} {what}; nothing was changed"
                    )

    def _check_unmapped(self) -> None:
        """A value in an unmapped entity or field would be lost (and differ forever): refuse it, naming it."""
        for table in self._tables():
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

    def _delete_replaced(self, analyses: Changes, queries: Changes) -> None:
        """Replace: delete only what the records no longer hold; what differs is updated in place (module doc)."""
        self._delete_analyses(analyses.absent)
        self._delete_queries(queries.absent)

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

    def _delete_queries(self, ids: list[str]) -> None:
        """Delete these queries from the mapped table (inside its ``where``), else from golden.queries."""
        if "queries" not in self.mapping.tables:
            super()._delete_queries(ids)
            return
        table = self.mapping.tables["queries"]
        self.conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {w} AND {k} = ANY({ids}::text[])").format(
                t=table.relation, w=table.condition(), k=self.mapping.read_expr("queries", "id"), ids=sql.Literal(ids)
            )
        )

    def _insert_queries(self) -> None:
        """Write the queries into the mapped table (refusing an id held outside its ``where``), else golden's."""
        if "queries" not in self.mapping.tables:
            super()._insert_queries()
            return
        self._write_mapped("gk_queries", "gk_insert_queries")
        self._refuse_outside("gk_insert_queries", "gk_map_queries", "queries")

    def _write_mapped(self, table: str, keys: str) -> None:
        """Write the staged rows of ``table`` whose record is in ``keys``: update those already there (in
        scope), insert the others; a replaced analysis's children the records no longer hold are deleted."""
        entity = _ENTITY_OF[table]
        if entity == "findings":  # no id of their own: an analysis's findings are replaced as a whole
            self._delete_children(entity, keys, keep=None)
            self._insert_mapped(table, keys, only_new=False)
            return
        self._refuse_taken_outside(table, keys)
        if entity in ("chunks", "artifacts"):
            self._delete_children(entity, keys, keep=table)
        self._update_mapped(table, keys)
        self._insert_mapped(table, keys, only_new=True)

    def _staged(self, table: str, keys: str) -> sql.Composed:
        """The staged rows of ``table`` whose record (analysis or query) is listed in ``keys``."""
        entity = _ENTITY_OF[table]
        key = "analysis_id" if entity in ("chunks", "artifacts", "findings") else "id"
        return sql.SQL("SELECT * FROM {s} WHERE {k} IN (SELECT id FROM {keys})").format(
            s=sql.Identifier(table), k=sql.Identifier(key), keys=sql.Identifier(keys)
        )

    def _insert_mapped(self, table: str, keys: str, *, only_new: bool) -> None:
        """INSERT the staged rows into the mapped columns (``only_new``: those whose id no row holds)."""
        entity = _ENTITY_OF[table]
        fields = self.mapping.mapped_fields(entity)
        target = self.mapping.tables[entity]
        new: sql.Composable = sql.SQL("")
        if only_new:
            new = sql.SQL(" WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = {v})").format(
                t=target.relation,
                c=target.column("id"),
                v=self.mapping.write_expr(entity, "id", sql.Identifier("s", "id")),
            )
        self.conn.execute(
            sql.SQL("INSERT INTO {t} ({cols}) SELECT {vals} FROM ({staged}) s{new}").format(
                t=target.relation,
                cols=sql.SQL(", ").join(target.column(f) for f in fields),
                vals=sql.SQL(", ").join(self.mapping.write_expr(entity, f, sql.Identifier("s", f)) for f in fields),
                staged=self._staged(table, keys),
                new=new,
            )
        )

    def _update_mapped(self, table: str, keys: str) -> None:
        """UPDATE the rows (inside the ``where``) that hold a staged id and differ, in their mapped columns only.

        The staged values come through a derived table whose columns are all ``gk__``-prefixed, so the
        user's ``where`` (unqualified column names) can only mean the user's table."""
        entity = _ENTITY_OF[table]
        target = self.mapping.tables[entity]
        fields = [f for f in self.mapping.mapped_fields(entity) if f != "id"]
        if not fields:
            return
        if entity == "chunks":
            self.conn.execute(park_positions(self.mapping, self._staged(table, keys)))
        values = [self.mapping.write_expr(entity, f, sql.Identifier("s", f)) for f in fields]
        names = [sql.Identifier(f"gk__{i}") for i in range(len(fields))]
        sets = [sql.SQL("{} = gk__s.{}").format(target.column(f), n) for f, n in zip(fields, names, strict=True)]
        if entity == "chunks" and "content" in fields:  # a changed text loses its vector: embedded again
            changed = sql.SQL("{} IS DISTINCT FROM gk__s.{}").format(
                target.column("content"), names[fields.index("content")]
            )
            for column in (target.embedding_column, target.model_column):
                if column:
                    sets.append(
                        sql.SQL("{c} = CASE WHEN {x} THEN NULL ELSE {c} END").format(
                            c=sql.Identifier(column), x=changed
                        )
                    )
        self.conn.execute(
            sql.SQL(
                "UPDATE {t} SET {sets} FROM (SELECT {key} AS gk__key, {vals} FROM ({staged}) s) gk__s "
                "WHERE {t}.{id} = gk__s.gk__key AND {w} AND ROW({cols}) IS DISTINCT FROM ROW({new})"
            ).format(
                t=target.relation,
                sets=sql.SQL(", ").join(sets),
                key=self.mapping.write_expr(entity, "id", sql.Identifier("s", "id")),
                vals=sql.SQL(", ").join(sql.SQL("{} AS {}").format(v, n) for v, n in zip(values, names, strict=True)),
                staged=self._staged(table, keys),
                id=target.column("id"),
                w=target.condition(),
                cols=sql.SQL(", ").join(sql.SQL("{}.{}").format(target.relation, target.column(f)) for f in fields),
                new=sql.SQL(", ").join(sql.SQL("gk__s.{}").format(n) for n in names),
            )
        )

    def _delete_children(self, entity: str, keys: str, *, keep: str | None) -> None:
        """Delete the mapped rows (inside the ``where``) of the analyses in ``keys`` whose id is not in the
        staged table ``keep`` (None: all of them)."""
        target = self.mapping.tables[entity]
        kept = (
            sql.SQL(" AND {i} NOT IN (SELECT s.id FROM {s} s)").format(
                i=self.mapping.read_expr(entity, "id"), s=sql.Identifier(keep)
            )
            if keep
            else sql.SQL("")
        )
        self.conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {w} AND {fk} IN (SELECT k.id FROM {keys} k){kept}").format(
                t=target.relation,
                w=target.condition(),
                fk=self.mapping.read_expr(entity, "analysis_id"),
                keys=sql.Identifier(keys),
                kept=kept,
            )
        )

    def _refuse_taken_outside(self, table: str, keys: str) -> None:
        """A staged id held by a row of the user's table outside the mapped scope: a restore never touches it."""
        entity = _ENTITY_OF[table]
        target = self.mapping.tables[entity]
        taken = self._ids(
            sql.SQL(
                "SELECT s.id::text FROM ({staged}) s WHERE EXISTS (SELECT 1 FROM {t} x WHERE x.{c} = {v}) "
                'AND s.id NOT IN (SELECT v.id FROM {view} v) ORDER BY (s.id::text) COLLATE "C" LIMIT 20'
            )
            .format(
                staged=self._staged(table, keys),
                t=target.relation,
                c=target.column("id"),
                v=self.mapping.write_expr(entity, "id", sql.Identifier("s", "id")),
                view=sql.Identifier(_view(table)),
            )
            .as_string(self.conn)
        )
        if taken:
            raise ConflictError(
                f"{_RECORD[entity]} {taken[0]} already exists in {target.name} "
                f"outside the mapped scope (database.tables.{entity}.where): a restore never touches those rows; "
                "nothing was changed",
                ids=taken,
            )

    def _refuse_outside(self, inserted: str, view: str, entity: str, key: str = "id::text") -> None:
        """Every inserted record (row of ``inserted``, named by ``key``) must read back through the view:
        inside the ``where``."""
        outside = self._ids(f"SELECT {key} FROM {inserted} EXCEPT SELECT {key} FROM {view}")
        if outside:
            raise DataIntegrityError(
                f"{len(outside)} restored {entity} would fall outside database.tables.{entity}.where "
                f"(e.g. {sorted(outside)[0]}), where the next dump would not read them: map the column the where "
                "reads, or widen the where",
                ids=sorted(outside),
            )

    def _insert_analyses(self) -> None:
        self._check_separators()
        for table in ANALYSIS_TABLES:
            if _ENTITY_OF[table] in self.mapping.tables:
                self._write_mapped(table, "gk_insert_analyses")
        self._refuse_outside("gk_insert_analyses", "gk_map_analyses", "analyses")
        for table in ANALYSIS_TABLES[1:]:  # a child outside its own where: the next dump would lose it
            if _ENTITY_OF[table] in self.mapping.tables:
                written = f"(SELECT * FROM {table} WHERE analysis_id IN (SELECT id FROM gk_insert_analyses)) w"
                self._refuse_outside(written, _view(table), _ENTITY_OF[table], _CHILD_KEY[table])

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

    def _stale(self, model_id: str) -> sql.Composable:
        emb = sql.Identifier(str(self.table.embedding_column))
        if self.table.model_column is None:
            return sql.SQL("{} IS NULL").format(emb)
        return sql.SQL("({e} IS NULL OR {m} IS DISTINCT FROM {v})").format(
            e=emb, m=sql.Identifier(self.table.model_column), v=sql.Literal(model_id)
        )

    def _select(self, what: sql.Composable, model_id: str) -> sql.Composed:
        """The stale chunks in scope. No parameters (the model id is a literal): a ``where`` may hold ``%``."""
        parent = self.mapping.tables["analyses"]
        return sql.SQL(
            "SELECT {what} FROM {t} WHERE {w} AND {stale} AND {fk} IN (SELECT {pk} FROM {p} WHERE {pw})"
        ).format(
            what=what,
            t=self.table.relation,
            w=self.table.condition(),
            stale=self._stale(model_id),
            fk=self.mapping.read_expr("chunks", "analysis_id"),
            pk=self.mapping.read_expr("analyses", "id"),
            p=parent.relation,
            pw=parent.condition(),
        )

    @contextmanager
    def hnsw_deferred(
        self, conn: psycopg.Connection[Any], rows_to_write: int, progress: Progress = SILENT
    ) -> Iterator[list[str]]:
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
        if not indexes:
            return
        with progress.task("building the vector index (HNSW)", None):
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for _, definition in indexes:
                conn.execute(definition)

    def count_stale(self, conn: psycopg.Connection[Any], model_id: str) -> int:
        row = conn.execute(self._select(sql.SQL("count(*)"), model_id)).fetchone()
        return int(row[0]) if row else 0

    def iter_stale(self, conn: psycopg.Connection[Any], model_id: str, batch_size: int) -> Iterator[list[Any]]:
        what = sql.SQL("{}, {}").format(self.mapping.read_expr("chunks", "id"), self.table.column("content"))
        with conn.cursor(name="goldkeeper_stale_mapped_chunks") as cur:
            cur.itersize = batch_size
            cur.execute(sql.SQL("{} ORDER BY 1").format(self._select(what, model_id)))
            while rows := cur.fetchmany(batch_size):
                yield [(row[0], row[1]) for row in rows]

    def write(self, conn: psycopg.Connection[Any], model_id: str, rows: Sequence[tuple[UUID, np.ndarray]]) -> int:
        if not rows:
            return 0
        stage_vectors(conn, rows)
        sets = [sql.SQL("{} = v.embedding").format(sql.Identifier(str(self.table.embedding_column)))]
        if self.table.model_column is not None:
            sets.append(sql.SQL("{} = {}").format(sql.Identifier(self.table.model_column), sql.Literal(model_id)))
        cur = conn.execute(
            sql.SQL("UPDATE {t} AS c SET {sets} FROM {staged} AS v WHERE c.{id} = {vid}").format(
                staged=sql.Identifier(STAGED_VECTORS),
                t=self.table.relation,
                sets=sql.SQL(", ").join(sets),
                id=self.table.column("id"),
                vid=self.mapping.write_expr("chunks", "id", sql.Identifier("v", "id")),
            )
        )
        return cur.rowcount


__all__ = ["MappedLoader", "MappedChunkVectors"]
