"""COPY streams out of the golden tables (dump), streaming.

One ``COPY (SELECT ... ORDER BY ...) TO STDOUT`` stream per table, each on its
own connection, all sharing one exported REPEATABLE READ snapshot, so they see
the same committed state. The child streams (chunks, findings, artifacts /
query expectations) are merged into their parents in Python; memory holds one
record and the stream buffers, not the dataset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from goldkeeper.db.connection import connect, database_error
from goldkeeper.errors import DatabaseError, RecordValidationError
from goldkeeper.json_numbers import InexactNumber, exact_json_float, exact_json_int
from goldkeeper.models import Analysis, Artifact, Chunk, Expected, ExpectedBehavior, Finding, Query, Relevance

_ANALYSES_SQL = """
COPY (SELECT id, url, title, content_type, status, created_at FROM golden.analyses
      WHERE status = ANY({statuses}) ORDER BY id) TO STDOUT (FORMAT BINARY)"""
_ANALYSES_TYPES = ["uuid", "text", "text", "text", "text", "timestamptz"]

_CHUNKS_SQL = """
COPY (SELECT c.analysis_id, c.id, c.content, c.section_title, c.section_path, c.content_type, c.chunk_index
      FROM golden.chunks c JOIN golden.analyses a ON a.id = c.analysis_id
      WHERE a.status = ANY({statuses}) ORDER BY c.analysis_id, c.chunk_index) TO STDOUT (FORMAT BINARY)"""
_CHUNKS_TYPES = ["uuid", "uuid", "text", "text", "text[]", "text", "int4"]

_FINDINGS_SQL = """
COPY (SELECT f.analysis_id, f.agent, f.category, f.content, f.confidence
      FROM golden.findings f JOIN golden.analyses a ON a.id = f.analysis_id
      WHERE a.status = ANY({statuses}) ORDER BY f.analysis_id, f.ordinal) TO STDOUT (FORMAT BINARY)"""
_FINDINGS_TYPES = ["uuid", "text", "text", "text", "float8"]

_ARTIFACTS_SQL = """
COPY (SELECT r.analysis_id, r.id, r.summary, r.key_findings, r.metadata
      FROM golden.artifacts r JOIN golden.analyses a ON a.id = r.analysis_id
      WHERE a.status = ANY({statuses}) ORDER BY r.analysis_id) TO STDOUT (FORMAT BINARY)"""
_ARTIFACTS_TYPES = ["uuid", "uuid", "text", "jsonb", "jsonb"]

_QUERIES_SQL = """
COPY (SELECT id, text, domain, difficulty, tags, reference_answers, expected_behavior
      FROM golden.queries ORDER BY id COLLATE "C") TO STDOUT (FORMAT BINARY)"""
_QUERIES_TYPES = ["text", "text", "text", "text", "text[]", "jsonb", "jsonb"]

_EXPECTED_SQL = """
COPY (SELECT query_id, target_kind, target_id, relevance FROM golden.query_expected
      ORDER BY query_id COLLATE "C", target_kind, target_id) TO STDOUT (FORMAT BINARY)"""
_EXPECTED_TYPES = ["text", "text", "uuid", "int4"]


class _Peekable:
    """An iterator of rows whose next row can be looked at without taking it."""

    _END = object()

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._next: Any = next(rows, self._END)

    def take_while(self, key: Any, before: Callable[[Any, Any], bool]) -> list[tuple[Any, ...]]:
        """Skip rows whose key sorts before ``key``; return the rows whose key equals it."""
        taken = []
        while self._next is not self._END:
            row_key = self._next[0]
            if row_key == key:
                taken.append(self._next)
            elif not before(row_key, key):
                break
            self._next = next(self._rows, self._END)
        return taken


def _json_loads(data: str | bytes) -> Any:
    """A jsonb value as the store's JSON holds it; jsonb prints numbers in plain decimal (1e300 -> "1000...0"),
    which :func:`~goldkeeper.json_numbers.exact_json_int` makes the double again. A number the store cannot hold
    exactly makes the whole value an :class:`~goldkeeper.json_numbers.InexactNumber`, which the record's builder
    refuses naming the record and the field (raised here, psycopg would know neither)."""
    try:
        return json.loads(data, parse_int=exact_json_int, parse_float=exact_json_float)
    except InexactNumber as exc:
        return exc


def refuse_inexact(value: Any, table: str, record_id: Any, field: str) -> Any:
    """``value`` (a jsonb column's, read by :func:`_json_loads`), unless it holds an inexact number: then the
    one-line error naming the table, the record and the field (the dump writes nothing)."""
    if isinstance(value, InexactNumber):
        raise RecordValidationError(table, str(record_id), field, str(value))
    return value


def _copy_rows(
    conn: psycopg.Connection[Any], statement: str, types: list[str], statuses: list[str] | None
) -> Iterator[tuple[Any, ...]]:
    query = sql.SQL(statement).format(statuses=sql.Literal(statuses)) if statuses is not None else sql.SQL(statement)
    with conn.cursor() as cur, cur.copy(query) as copy:
        copy.set_types(types)
        yield from copy.rows()


@contextmanager
def _snapshot_connections(url: str, count: int) -> Iterator[list[psycopg.Connection[Any]]]:
    """``count`` read-only connections in REPEATABLE READ transactions sharing one snapshot."""
    with ExitStack() as stack:
        conns = []
        for _ in range(count):
            conn = connect(url)
            stack.callback(conn.close)
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            set_json_loads(_json_loads, context=conn)
            conns.append(conn)
        try:
            snapshot = conns[0].execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
            for conn in conns[1:]:
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        except psycopg.Error as exc:
            raise database_error(exc, url, "cannot open a snapshot of the golden tables") from exc
        yield conns


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if value is not None else value


def _uuid_before(a: UUID, b: UUID) -> bool:
    return a.bytes < b.bytes


def _text_before(a: str, b: str) -> bool:
    return a.encode("utf-8") < b.encode("utf-8")


def _build_analysis(
    row: tuple[Any, ...],
    chunks: list[tuple[Any, ...]],
    findings: list[tuple[Any, ...]],
    artifacts: list[tuple[Any, ...]],
) -> Analysis:
    analysis_id, url, title, content_type, status, created_at = row
    artifact = None
    if artifacts:
        _, art_id, summary, key_findings, metadata = artifacts[0]
        key_findings = refuse_inexact(key_findings, "golden.artifacts", art_id, "key_findings")
        metadata = refuse_inexact(metadata, "golden.artifacts", art_id, "metadata")
        artifact = Artifact(id=art_id, summary=summary, key_findings=key_findings, metadata=metadata)
    return Analysis(
        id=analysis_id,
        url=url,
        title=title,
        content_type=content_type,
        status=status,
        created_at=_utc(created_at),
        findings=[Finding(agent=f[1], category=f[2], content=f[3], confidence=f[4]) for f in findings],
        chunks=[
            Chunk(
                id=c[1], content=c[2], section_title=c[3], section_path=c[4] or [], content_type=c[5], chunk_index=c[6]
            )
            for c in chunks
        ],
        artifact=artifact,
    )


def _analyses_stream(
    url: str, conns: list[psycopg.Connection[Any]], wanted: list[str]
) -> Generator[Analysis, None, None]:
    c_an, c_ch, c_fi, c_ar = conns
    try:
        chunks = _Peekable(_copy_rows(c_ch, _CHUNKS_SQL, _CHUNKS_TYPES, wanted))
        findings = _Peekable(_copy_rows(c_fi, _FINDINGS_SQL, _FINDINGS_TYPES, wanted))
        artifacts = _Peekable(_copy_rows(c_ar, _ARTIFACTS_SQL, _ARTIFACTS_TYPES, wanted))
        for row in _copy_rows(c_an, _ANALYSES_SQL, _ANALYSES_TYPES, wanted):
            key = row[0]
            yield _build_analysis(
                row,
                chunks.take_while(key, _uuid_before),
                findings.take_while(key, _uuid_before),
                artifacts.take_while(key, _uuid_before),
            )
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot read golden analyses") from exc


def _expected_of(rows: list[tuple[Any, ...]]) -> Expected:
    chunks = [Relevance(id=r[2], relevance=r[3]) for r in rows if r[1] == "chunk"]
    analyses = [Relevance(id=r[2], relevance=r[3]) for r in rows if r[1] == "analysis"]
    return Expected(chunks=chunks, analyses=analyses).canonical()


def _queries_stream(url: str, conns: list[psycopg.Connection[Any]]) -> Generator[Query, None, None]:
    c_q, c_e = conns
    try:
        expected = _Peekable(_copy_rows(c_e, _EXPECTED_SQL, _EXPECTED_TYPES, None))
        for row in _copy_rows(c_q, _QUERIES_SQL, _QUERIES_TYPES, None):
            query_id, text, domain, difficulty, tags, reference_answers, behavior = row
            reference_answers = refuse_inexact(reference_answers, "golden.queries", query_id, "reference_answers")
            behavior = refuse_inexact(behavior, "golden.queries", query_id, "expected_behavior")
            yield Query(
                id=query_id,
                text=text,
                domain=domain,
                difficulty=difficulty,
                tags=tags or [],
                expected=_expected_of(expected.take_while(query_id, _text_before)),
                reference_answers=reference_answers,
                expected_behavior=ExpectedBehavior.model_validate(behavior),
            )
    except psycopg.Error as exc:
        raise database_error(exc, url, "cannot read golden queries") from exc


@contextmanager
def golden_reader(url: str, statuses: Iterable[str]) -> Iterator[tuple[Iterator[Analysis], Iterator[Query]]]:
    """``(analyses, queries)`` streams of one consistent snapshot (six connections sharing it).

    Analyses: status in ``statuses``, ascending id, each with chunks (by
    chunk_index), findings (by ordinal) and artifact. Queries: ascending id
    (bytewise), ``expected`` built from ``golden.query_expected``. The streams
    are lazy: a COPY starts when its iterator is first read, yet sees the
    snapshot taken when the reader opened.
    """
    with _snapshot_connections(url, 6) as conns:
        analyses = _analyses_stream(url, conns[:4], list(statuses))
        queries = _queries_stream(url, conns[4:])
        try:
            yield analyses, queries
        finally:
            for stream in (analyses, queries):
                try:
                    stream.close()
                except (psycopg.Error, DatabaseError):
                    pass  # the connections are closed next: an unfinished COPY dies with them


def iter_analyses(url: str, statuses: Iterable[str]) -> Iterator[Analysis]:
    """The analyses stream of :func:`golden_reader` on its own."""
    with golden_reader(url, statuses) as (analyses, _):
        yield from analyses


def iter_queries(url: str) -> Iterator[Query]:
    """The queries stream of :func:`golden_reader` on its own."""
    with golden_reader(url, ()) as (_, queries):
        yield from queries


__all__ = ["golden_reader", "iter_analyses", "iter_queries"]
