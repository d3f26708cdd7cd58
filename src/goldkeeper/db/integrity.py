"""Read-only facts about the golden schema that ``verify --db`` judges.

Everything is read in one ``REPEATABLE READ READ ONLY`` transaction, so the
facts describe one consistent snapshot. Each fact is a count plus a bounded
sample of the offending ids (never the whole table in memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from goldkeeper.db.connection import connection
from goldkeeper.db.golden_privileges import RECORD_TABLES, refuse_unreadable
from goldkeeper.db.schema import embedding_column_dim
from goldkeeper.db.state import DatasetState, read_dataset_state

#: the tables whose row counts are compared with the manifest (manifest key -> SQL).
_COUNTS = {
    "analyses": "SELECT count(*) FROM golden.analyses a WHERE a.status = ANY(%(statuses)s)",
    "chunks": "SELECT count(*) FROM golden.chunks c JOIN golden.analyses a ON a.id = c.analysis_id "
    "WHERE a.status = ANY(%(statuses)s)",
    "artifacts": "SELECT count(*) FROM golden.artifacts t JOIN golden.analyses a ON a.id = t.analysis_id "
    "WHERE a.status = ANY(%(statuses)s)",
    "findings": "SELECT count(*) FROM golden.findings f JOIN golden.analyses a ON a.id = f.analysis_id "
    "WHERE a.status = ANY(%(statuses)s)",
    "queries": "SELECT count(*) FROM golden.queries",
}

#: orphans: rows whose parent row does not exist (possible when FKs were disabled or dropped).
_ORPHANS = {
    "chunks": "SELECT c.id::text FROM golden.chunks c "
    "WHERE NOT EXISTS (SELECT 1 FROM golden.analyses a WHERE a.id = c.analysis_id) ORDER BY c.id",
    "artifacts": "SELECT t.id::text FROM golden.artifacts t "
    "WHERE NOT EXISTS (SELECT 1 FROM golden.analyses a WHERE a.id = t.analysis_id) ORDER BY t.id",
    "findings": "SELECT f.analysis_id::text || '#' || f.ordinal FROM golden.findings f "
    "WHERE NOT EXISTS (SELECT 1 FROM golden.analyses a WHERE a.id = f.analysis_id) ORDER BY f.analysis_id, f.ordinal",
    "query_expected": "SELECT e.query_id FROM golden.query_expected e "
    "WHERE NOT EXISTS (SELECT 1 FROM golden.queries q WHERE q.id = e.query_id) ORDER BY e.query_id",
}

_DANGLING = """
SELECT e.query_id, e.target_kind, e.target_id::text FROM golden.query_expected e
WHERE (e.target_kind = 'chunk' AND NOT EXISTS (SELECT 1 FROM golden.chunks c WHERE c.id = e.target_id))
   OR (e.target_kind = 'analysis' AND NOT EXISTS (SELECT 1 FROM golden.analyses a WHERE a.id = e.target_id))
ORDER BY e.query_id, e.target_kind, e.target_id
"""


@dataclass(frozen=True)
class Sampled:
    """How many rows match, and the first few of them."""

    count: int
    sample: tuple[Any, ...] = ()


@dataclass(frozen=True)
class IntegrityFacts:
    schema_exists: bool
    counts: dict[str, int] = field(default_factory=dict)
    column_dim: int | None = None
    unembedded: Sampled = Sampled(0)
    #: embedded chunks per embedding_model value (None = embedded but no model recorded)
    models: dict[str | None, Sampled] = field(default_factory=dict)
    #: embedded chunks per vector dimension
    dims: dict[int, Sampled] = field(default_factory=dict)
    orphans: dict[str, Sampled] = field(default_factory=dict)
    dangling_expected: Sampled = Sampled(0)
    #: what the last restore recorded (None: nothing recorded)
    state: DatasetState | None = None


def _sampled(conn: psycopg.Connection[Any], sql: str, params: Any, limit: int) -> Sampled:
    count_row = conn.execute(f"SELECT count(*) FROM ({sql}) s", params).fetchone()
    count = int(count_row[0]) if count_row else 0
    if count == 0:
        return Sampled(0)
    rows = conn.execute(f"{sql} LIMIT {int(limit)}", params).fetchall()
    return Sampled(count, tuple(row[0] if len(row) == 1 else tuple(row) for row in rows))


def _grouped(conn: psycopg.Connection[Any], column: str, limit: int) -> dict[Any, Sampled]:
    rows = conn.execute(
        f"""
        SELECT {column} AS k, count(*), (array_agg(id::text ORDER BY id))[1:{int(limit)}]
        FROM golden.chunks WHERE embedding IS NOT NULL GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    return {row[0]: Sampled(int(row[1]), tuple(row[2])) for row in rows}


def integrity_facts(url: str, statuses: list[str], limit: int = 20) -> IntegrityFacts:
    """Collect the facts ``verify --db`` needs, from one read-only snapshot."""
    with connection(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # a table the role may not read is missing from information_schema: "the schema does not exist" otherwise
        refuse_unreadable(conn, (*RECORD_TABLES, "golden.dataset_state"))
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'golden'"
            ).fetchall()
        }
        needed = {"analyses", "chunks", "artifacts", "findings", "queries", "query_expected"}
        if not needed <= tables:
            return IntegrityFacts(schema_exists=False)
        params = {"statuses": list(statuses)}
        counts = {}
        for key, sql in _COUNTS.items():
            row = conn.execute(sql, params).fetchone()
            counts[key] = int(row[0]) if row else 0
        unembedded = _sampled(
            conn, "SELECT id::text FROM golden.chunks WHERE embedding IS NULL ORDER BY id", None, limit
        )
        return IntegrityFacts(
            schema_exists=True,
            counts=counts,
            column_dim=embedding_column_dim(conn),
            unembedded=unembedded,
            models=_grouped(conn, "embedding_model", limit),
            dims=_grouped(conn, "vector_dims(embedding)", limit),
            orphans={kind: _sampled(conn, sql, None, limit) for kind, sql in _ORPHANS.items()},
            dangling_expected=_sampled(conn, _DANGLING, None, limit),
            state=read_dataset_state(conn),
        )


__all__ = ["Sampled", "IntegrityFacts", "integrity_facts"]
