"""Staged loads into the golden tables (restore) with COPY.

Records are copied in batches into temporary tables (``ON COMMIT DROP``),
then compared with the golden tables in SQL (set differences per table, so
"identical" means equal under PostgreSQL's own equality: ``jsonb``,
``timestamptz``...), then applied with ``INSERT ... SELECT``. Everything
happens in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_dumps

from goldkeeper.db.connection import connect, database_error
from goldkeeper.db.golden_privileges import lacking_privileges
from goldkeeper.db.lock import lock_golden
from goldkeeper.db.schema import ensure_schema
from goldkeeper.errors import ConflictError, DatabaseError, DuplicateRecordError
from goldkeeper.models import Analysis, Query

_TEMP_TABLES = """
CREATE TEMP TABLE gk_analyses (id uuid, url text, title text, content_type text, status text,
    created_at timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE gk_chunks (id uuid, analysis_id uuid, content text, section_title text, section_path text[],
    content_type text, chunk_index int4) ON COMMIT DROP;
CREATE TEMP TABLE gk_artifacts (id uuid, analysis_id uuid, summary text, key_findings jsonb, metadata jsonb)
    ON COMMIT DROP;
CREATE TEMP TABLE gk_findings (analysis_id uuid, ordinal int4, agent text, category text, content text,
    confidence float8) ON COMMIT DROP;
CREATE TEMP TABLE gk_queries (id text, text text, domain text, difficulty text, tags text[], expected jsonb,
    reference_answers jsonb, expected_behavior jsonb) ON COMMIT DROP;
CREATE TEMP TABLE gk_query_expected (query_id text, target_kind text, target_id uuid, relevance int4)
    ON COMMIT DROP
"""

#: temp table -> (golden table, columns compared and inserted, the analysis/query key column)
_TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "gk_analyses": (
        "golden.analyses",
        ("id", "url", "title", "content_type", "status", "created_at"),
        ("uuid", "text", "text", "text", "text", "timestamptz"),
        "id",
    ),
    "gk_chunks": (
        "golden.chunks",
        ("id", "analysis_id", "content", "section_title", "section_path", "content_type", "chunk_index"),
        ("uuid", "uuid", "text", "text", "text[]", "text", "int4"),
        "analysis_id",
    ),
    "gk_artifacts": (
        "golden.artifacts",
        ("id", "analysis_id", "summary", "key_findings", "metadata"),
        ("uuid", "uuid", "text", "jsonb", "jsonb"),
        "analysis_id",
    ),
    "gk_findings": (
        "golden.findings",
        ("analysis_id", "ordinal", "agent", "category", "content", "confidence"),
        ("uuid", "int4", "text", "text", "text", "float8"),
        "analysis_id",
    ),
    "gk_queries": (
        "golden.queries",
        ("id", "text", "domain", "difficulty", "tags", "expected", "reference_answers", "expected_behavior"),
        ("text", "text", "text", "text", "text[]", "jsonb", "jsonb", "jsonb"),
        "id",
    ),
    "gk_query_expected": (
        "golden.query_expected",
        ("query_id", "target_kind", "target_id", "relevance"),
        ("text", "text", "uuid", "int4"),
        "query_id",
    ),
}
_ANALYSIS_TABLES = ("gk_analyses", "gk_chunks", "gk_artifacts", "gk_findings")
#: the temp tables of analyses, parents first (a mapped loader writes them into the user's tables)
ANALYSIS_TABLES = _ANALYSIS_TABLES
_QUERY_TABLES = ("gk_queries", "gk_query_expected")


def _json_dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode("utf-8")


def analysis_rows(analysis: Analysis) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of one analysis, per temp table."""
    a = analysis.canonical()
    rows: dict[str, list[tuple[Any, ...]]] = {
        "gk_analyses": [(a.id, a.url, a.title, a.content_type, a.status, a.created_at)],
        "gk_chunks": [
            (c.id, a.id, c.content, c.section_title, list(c.section_path), c.content_type, c.chunk_index)
            for c in a.chunks
        ],
        "gk_findings": [
            (a.id, ordinal, f.agent, f.category, f.content, f.confidence) for ordinal, f in enumerate(a.findings)
        ],
        "gk_artifacts": [],
    }
    if a.artifact is not None:
        r = a.artifact
        rows["gk_artifacts"].append((r.id, a.id, r.summary, list(r.key_findings), dict(r.metadata)))
    return rows


def query_rows(query: Query) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of one query, per temp table (``expected`` jsonb mirrors ``query_expected``)."""
    q = query.canonical()
    return {
        "gk_queries": [
            (
                q.id,
                q.text,
                q.domain,
                q.difficulty,
                list(q.tags),
                q.expected.model_dump(mode="json"),
                list(q.reference_answers),
                q.expected_behavior.model_dump(mode="json"),
            )
        ],
        "gk_query_expected": [(q.id, "chunk", r.id, r.relevance) for r in q.expected.chunks]
        + [(q.id, "analysis", r.id, r.relevance) for r in q.expected.analyses],
    }


#: the privileges a restore needs on each golden table: it reads every one (classification), inserts new
#: records, writes the chunks' vectors and its own state (UPDATE); ``--replace`` deletes analyses and queries
#: (their children go with them, by ON DELETE CASCADE)
_GOLDEN_PRIVILEGES = {
    "golden.analyses": ("SELECT", "INSERT"),
    "golden.chunks": ("SELECT", "INSERT", "UPDATE"),
    "golden.artifacts": ("SELECT", "INSERT"),
    "golden.findings": ("SELECT", "INSERT"),
    "golden.queries": ("SELECT", "INSERT"),
    "golden.query_expected": ("SELECT", "INSERT"),
    "golden.embedding_cache": ("SELECT", "INSERT"),
    "golden.dataset_state": ("SELECT", "INSERT", "UPDATE"),
}
_REPLACE_DELETES = ("golden.analyses", "golden.queries")


@dataclass
class Changes:
    """How the incoming records of one kind relate to the rows already there."""

    added: list[str] = field(default_factory=list)
    identical: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    #: rows in the database that the incoming records do not contain
    absent: list[str] = field(default_factory=list)


class GoldenLoader:
    """Stage records in temp tables, classify them against golden rows, apply them. One transaction."""

    def __init__(
        self, conn: psycopg.Connection[Any], *, batch_size: int = 1000, lock_timeout: float | None = None
    ) -> None:
        self.conn = conn
        self.batch_size = batch_size
        #: seconds to wait for another writer's golden lock (None: as long as it takes)
        self.lock_timeout = lock_timeout
        self._buffer: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _TABLES}
        self._buffered = 0
        #: temp table -> the relation its rows are compared with (a mapped loader: views of the user's tables)
        self.targets: dict[str, str] = {name: spec[0] for name, spec in _TABLES.items()}
        set_json_dumps(_json_dumps, context=conn)

    def prepare(self, dim: int) -> None:
        """Lock (waiting at most ``lock_timeout`` for another writer), ensure the schema, create the temp tables."""
        lock_golden(self.conn, self.lock_timeout)
        #: the embedding column's dimension before ``prepare`` retyped it to the model's (None: unchanged)
        self.dim_changed_from: int | None = ensure_schema(self.conn, dim)["dim_changed_from"]
        for statement in _TEMP_TABLES.split(";"):
            self.conn.execute(statement)

    def golden_privileges(self, *, replace: bool) -> dict[str, tuple[str, ...]]:
        """The privileges a restore (``replace``: ``--replace``) needs on goldkeeper's own tables: those its
        records go to (a mapped loader's go to the application's tables instead), its cache and its state."""
        written = {*self.targets.values(), "golden.embedding_cache", "golden.dataset_state"}
        wanted = {table: privileges for table, privileges in _GOLDEN_PRIVILEGES.items() if table in written}
        for table in _REPLACE_DELETES if replace else ():
            if table in wanted:
                wanted[table] += ("DELETE",)
        return wanted

    def refuse_unwritable(self, *, replace: bool) -> None:
        """Refuse, before anything is written, a role lacking a privilege the restore needs, naming the GRANTs
        (PostgreSQL would stop it at the first write with ``permission denied for table ...``, no role named);
        a dry run too, so that it fails where the restore would."""
        lacking = lacking_privileges(self.conn, self.golden_privileges(replace=replace))
        if lacking:
            role, grants = lacking
            raise DatabaseError(
                f"role {role} lacks privileges restore needs on the golden schema; nothing was changed "
                f"(have the schema's owner run: {grants})"
            )

    def add_analysis(self, analysis: Analysis) -> None:
        self._add(analysis_rows(analysis))

    def add_query(self, query: Query) -> None:
        self._add(query_rows(query))

    def _add(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        for table, table_rows in rows.items():
            self._buffer[table].extend(table_rows)
            self._buffered += len(table_rows)
        if self._buffered >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """COPY the buffered rows into the temp tables."""
        with self.conn.cursor() as cur:
            for table, rows in self._buffer.items():
                if not rows:
                    continue
                _, columns, types, _ = _TABLES[table]
                statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                with cur.copy(statement) as copy:
                    copy.set_types(list(types))
                    for row in rows:
                        copy.write_row(row)
                rows.clear()
        self._buffered = 0

    # ---------------------------------------------------------------- classify

    def _check_staged_unique(self) -> None:
        for table, key, what in (
            ("gk_analyses", "id", "analysis"),
            ("gk_chunks", "id", "chunk"),
            ("gk_artifacts", "id", "artifact"),
            ("gk_queries", "id", "query"),
        ):
            dupes = self.conn.execute(
                sql.SQL("SELECT {k}::text FROM {t} GROUP BY {k} HAVING count(*) > 1 ORDER BY 1 LIMIT 20").format(
                    k=sql.Identifier(key), t=sql.Identifier(table)
                )
            ).fetchall()
            if dupes:
                ids = [r[0] for r in dupes]
                raise DuplicateRecordError(f"duplicate {what} id {ids[0]} in the records to restore", ids=ids)

    def _different(self, tables: tuple[str, ...], parent: str) -> list[str]:
        """Keys present on both sides whose rows differ in any of ``tables``."""
        golden_parent = self.targets[parent]
        parts = []
        for table in tables:
            _, columns, _, key = _TABLES[table]
            golden = self.targets[table]
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            k = sql.Identifier(key)
            both = sql.SQL("{k} IN (SELECT p.id FROM {parent} p JOIN {gparent} g ON g.id = p.id)").format(
                k=k, parent=sql.Identifier(parent), gparent=sql.SQL(golden_parent)
            )
            mine = sql.SQL("SELECT {cols} FROM {t} WHERE {both}").format(cols=cols, t=sql.Identifier(table), both=both)
            theirs = sql.SQL("SELECT {cols} FROM {g} WHERE {both}").format(cols=cols, g=sql.SQL(golden), both=both)
            parts.append(
                sql.SQL("SELECT {k} FROM (({a}) EXCEPT ({b})) d UNION SELECT {k} FROM (({b}) EXCEPT ({a})) e").format(
                    k=k, a=mine, b=theirs
                )
            )
        statement = sql.SQL("SELECT DISTINCT k::text FROM ({}) u(k) ORDER BY 1").format(sql.SQL(" UNION ").join(parts))
        return [r[0] for r in self.conn.execute(statement).fetchall()]

    def _ids(self, statement: str, params: tuple[Any, ...] = ()) -> list[str]:
        # no parameters: None, so that a `%` in the statement (a mapping's `where`) is not read as a placeholder
        return [r[0] for r in self.conn.execute(statement, params or None).fetchall()]

    def classify(self, statuses: list[str] | None = None) -> dict[str, Changes]:
        """Compare the staged records with the golden rows (call after every record was added).

        ``statuses``: the scope of the records (the store's ``scope.statuses``): golden analyses with
        another status are outside it, so never ``absent`` (a replace keeps them). None: every row.
        """
        self.flush()
        self._check_staged_unique()
        for table in _TABLES:
            self.conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        result = {}
        scoped = "AND g.status = ANY(%s::text[])" if statuses is not None else ""
        for entity, parent, tables in (
            ("analyses", "gk_analyses", _ANALYSIS_TABLES),
            ("queries", "gk_queries", _QUERY_TABLES),
        ):
            golden = self.targets[parent]
            collate = "" if entity == "analyses" else ' COLLATE "C"'
            different = self._different(tables, parent)
            existing = self._ids(
                f"SELECT p.id::text FROM {parent} p JOIN {golden} g ON g.id = p.id ORDER BY p.id{collate}"
            )
            diff_set = set(different)
            result[entity] = Changes(
                added=self._ids(
                    f"SELECT p.id::text FROM {parent} p LEFT JOIN {golden} g ON g.id = p.id "
                    f"WHERE g.id IS NULL ORDER BY p.id{collate}"
                ),
                identical=[i for i in existing if i not in diff_set],
                different=different if entity == "analyses" else sorted(different, key=lambda s: s.encode()),
                absent=self._ids(
                    f"SELECT g.id::text FROM {golden} g LEFT JOIN {parent} p ON p.id = g.id "
                    f"WHERE p.id IS NULL {scoped if entity == 'analyses' else ''} ORDER BY g.id{collate}",
                    (statuses,) if entity == "analyses" and statuses is not None else (),
                ),
            )
        return result

    # ---------------------------------------------------------------- apply

    def apply(self, changes: dict[str, Changes], *, replace: bool) -> None:
        """Delete (with ``replace``) what differs or is absent, then insert what is new or replaced."""
        a, q = changes["analyses"], changes["queries"]
        self._note_resolved(replace and bool(a.different or a.absent))
        if replace:
            self._delete_replaced(a, q)
        elif a.different or q.different:
            raise _conflict(a.different, q.different)
        self.conn.execute(
            "CREATE TEMP TABLE gk_insert_analyses ON COMMIT DROP AS SELECT unnest(%s::uuid[]) AS id",
            (a.added + (a.different if replace else []),),
        )
        self.conn.execute(
            "CREATE TEMP TABLE gk_insert_queries ON COMMIT DROP AS SELECT unnest(%s::text[]) AS id",
            (q.added + (q.different if replace else []),),
        )
        self._check_id_collisions()
        self._insert_analyses()
        self._insert_queries()

    def _delete_replaced(self, analyses: Changes, queries: Changes) -> None:
        """Replace: delete what differs (inserted again next) and what the records no longer hold."""
        self._delete_analyses(analyses.different + analyses.absent)
        self._delete_queries(queries.different + queries.absent)

    def _delete_analyses(self, ids: list[str]) -> None:
        """Delete these analyses with everything that belongs to them (replace)."""
        self.conn.execute("DELETE FROM golden.analyses WHERE id = ANY(%s::uuid[])", (ids,))

    def _delete_queries(self, ids: list[str]) -> None:
        """Delete these queries with their expectations (replace)."""
        self.conn.execute("DELETE FROM golden.queries WHERE id = ANY(%s::text[])", (ids,))

    def _insert_queries(self) -> None:
        """Insert the staged queries listed in ``gk_insert_queries``, with their expectations."""
        for table in _QUERY_TABLES:
            self._insert(table, "gk_insert_queries")

    def _insert_analyses(self) -> None:
        """Insert the staged analyses listed in ``gk_insert_analyses``, with their children."""
        for table in _ANALYSIS_TABLES:
            self._insert(table, "gk_insert_analyses")

    def _check_id_collisions(self) -> None:
        """Chunk / artifact ids that already belong to another analysis that stays (not one being written)."""
        rows = self.conn.execute(
            f"""
            SELECT 'chunk ' || t.id::text || ' (in analysis ' || g.analysis_id::text || ')'
            FROM gk_chunks t JOIN {self.targets["gk_chunks"]} g ON g.id = t.id
            WHERE t.analysis_id IN (SELECT id FROM gk_insert_analyses)
              AND g.analysis_id NOT IN (SELECT id FROM gk_insert_analyses)
            UNION ALL
            SELECT 'artifact ' || t.id::text || ' (of analysis ' || g.analysis_id::text || ')'
            FROM gk_artifacts t JOIN {self.targets["gk_artifacts"]} g ON g.id = t.id
            WHERE t.analysis_id IN (SELECT id FROM gk_insert_analyses)
              AND g.analysis_id NOT IN (SELECT id FROM gk_insert_analyses)
            ORDER BY 1 LIMIT 50
            """
        ).fetchall()
        if rows:
            ids = [r[0] for r in rows]
            raise ConflictError(
                f"{len(ids)} record id(s) already exist under another analysis: {', '.join(ids[:5])}"
                + (" ..." if len(ids) > 5 else ""),
                ids=ids,
            )

    def _insert(self, table: str, keys: str) -> None:
        golden, columns, _, key = _TABLES[table]
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        self.conn.execute(
            sql.SQL("INSERT INTO {g} ({cols}) SELECT {cols} FROM {t} WHERE {k} IN (SELECT id FROM {keys})").format(
                g=sql.SQL(golden), cols=cols, t=sql.Identifier(table), k=sql.Identifier(key), keys=sql.Identifier(keys)
            )
        )

    def _missing_target(self) -> str:
        """SQL true for an expectation ``e`` whose chunk / analysis the tables do not hold."""
        chunks, analyses = self.targets["gk_chunks"], self.targets["gk_analyses"]
        return (
            f"((e.target_kind = 'chunk' AND NOT EXISTS (SELECT 1 FROM {chunks} c WHERE c.id = e.target_id))"
            f" OR (e.target_kind = 'analysis' AND NOT EXISTS (SELECT 1 FROM {analyses} a WHERE a.id = e.target_id)))"
        )

    def _note_resolved(self, analyses_removed: bool) -> None:
        """Before a replace deletes analyses or chunks: the expectations that point at a chunk / analysis that
        exists, so that one the replace leaves pointing nowhere is found, a query the records do not touch
        included (an analyses-only import keeps the queries). Empty when nothing of the analyses is removed."""
        expected = self.targets["gk_query_expected"]
        where = f"NOT {self._missing_target()}" if analyses_removed else "false"
        self.conn.execute(
            f"CREATE TEMP TABLE gk_resolved ON COMMIT DROP AS "
            f"SELECT e.query_id, e.target_kind, e.target_id FROM {expected} e WHERE {where}"
        )

    def dangling_references(self, limit: int = 20) -> tuple[int, list[str]]:
        """How many expectations point at chunks / analyses that do not exist (after apply), and the first
        ``limit``: those of the inserted queries, and those the apply broke (it removed their target).

        Expectations already pointing nowhere before are not checked: a restore is not to blame for
        (nor blocked by) references a user broke by hand; ``verify --db`` reports those.
        """
        rows = self.conn.execute(
            f"""
            SELECT count(*) OVER (), e.query_id || ' -> ' || e.target_kind || ' ' || e.target_id::text
            FROM {self.targets["gk_query_expected"]} e
            WHERE (e.query_id IN (SELECT id FROM gk_insert_queries)
                   OR (e.query_id, e.target_kind, e.target_id) IN (SELECT * FROM gk_resolved))
              AND {self._missing_target()}
            ORDER BY 2 LIMIT %s
            """,
            (limit,),
        ).fetchall()
        return (int(rows[0][0]) if rows else 0), [r[1] for r in rows]


def _conflict(analyses: list[str], queries: list[str]) -> ConflictError:
    ids = [f"analysis {i}" for i in analyses] + [f"query {i}" for i in queries]
    shown = ", ".join(ids[:10]) + (f" ... ({len(ids)} in all)" if len(ids) > 10 else "")
    return ConflictError(
        f"{len(ids)} record(s) exist in the database with different content: {shown}; "
        "nothing was changed (use --replace to overwrite, or --dry-run to list them)",
        analyses=analyses,
        queries=queries,
        ids=ids,
    )


@contextmanager
def golden_transaction(
    url: str, *, rollback: bool = False, action: str = "restore failed"
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction on a new connection: committed at the end, or rolled back on error or when
    ``rollback`` (dry runs). psycopg errors become :class:`DatabaseError` (passwords scrubbed)."""
    conn = connect(url)
    try:
        try:
            with conn.transaction():
                yield conn
                if rollback:
                    raise psycopg.Rollback()
        except psycopg.Error as exc:
            raise database_error(exc, url, action) from exc
    finally:
        conn.close()


__all__ = ["ANALYSIS_TABLES", "analysis_rows", "query_rows", "Changes", "GoldenLoader", "golden_transaction"]
