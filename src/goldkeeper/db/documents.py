"""COPY streams of whole records as JSON built by PostgreSQL (the dump's fast path).

One ``COPY (SELECT json_build_object(...) ...) TO STDOUT`` per entity: PostgreSQL
joins each analysis to its chunks, findings and artifact (each query to its
expectations) and writes the record as one JSON value, in the order and with the
values the store holds (chunks by ``chunk_index``, expectations by id, absent
arrays as ``[]``). Python parses a value with orjson and hands the dict on: it
builds no model per row, which is where :mod:`goldkeeper.db.reader` spends its
time (psycopg parsing ~13 rows and pydantic building ~15 objects per analysis).

Why the dicts need no pydantic model. The columns are typed by PostgreSQL: a
``uuid`` prints as ``str(UUID)``, an ``integer`` as an int, ``text`` as a string,
``timestamptz`` as RFC 3339 (made a UTC ``datetime`` here), ``double precision``
as its shortest exact text (made a float here: ``1`` would otherwise be an int);
jsonb is parsed by orjson exactly as :mod:`goldkeeper.db.reader` parses it
(integers outside 64 bits that are a double's become that double). What the models check beyond those
types, PostgreSQL checks in the same SELECT, per record, into a flag (``_OK``):
non-null required columns, non-empty url and query text, the query id pattern,
``difficulty``, ``confidence`` in [0, 1], ``chunk_index >= 0`` and unique,
``relevance`` in [1, ``MAX_RELEVANCE``], text arrays without NULLs, ``key_findings`` and
``reference_answers`` arrays of strings, ``metadata`` an object. A query's
``expected_behavior`` goes through :class:`~goldkeeper.models.ExpectedBehavior`
(it fills defaults), once per distinct value. A number in ``metadata`` or ``expected_behavior`` that
the store's JSON cannot hold exactly (``1e400``, ``2**70``) puts its text in the flag and stops the dump,
naming the record (orjson would parse it as another number). A record whose flag is not true
takes the model path (``model_validate`` -> ``canonical`` -> ``model_dump``),
which raises the models' own error or writes what the models write; so the
fast path changes no byte and accepts nothing the models reject
(``tests/test_dump_fast_path.py`` holds the two paths to the same bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from goldkeeper.db.connection import database_error
from goldkeeper.db.reader import _snapshot_connections
from goldkeeper.errors import DatabaseError, DataIntegrityError, RecordValidationError
from goldkeeper.json_numbers import inexact_number_problem, load_marking_inexact
from goldkeeper.models import MAX_RELEVANCE, Analysis, ExpectedBehavior, Query

#: work_mem of the dump's transactions (see golden_documents)
_SORT_MEMORY = "64MB"

#: the key of the per-record flag: true when every check the models make beyond the column types holds
_OK = "_ok"

#: a text[] column holds one dimension and no NULL (array_position refuses several dimensions)
_FLAT = "(CASE WHEN array_ndims({0}) > 1 THEN false ELSE array_position({0}, NULL) IS NULL END)"
_STRINGS = "(jsonb_typeof({0}) = 'array' AND NOT EXISTS (SELECT FROM jsonb_array_elements({0}) e "
_STRINGS += "WHERE jsonb_typeof(e) <> 'string'))"

#: the text of the first number in a jsonb value that the store's JSON cannot hold exactly (NULL: none), the
#: SQL of :func:`goldkeeper.json_numbers.exact_json_number`: a 64-bit integer, or a decimal equal to the shortest
#: text of its double (extra_float_digits = 1); an integer only as written without a point (scale 0: orjson reads
#: 18446744073709551615.0 as a double). CASE orders the tests: a cast of 1e400 to float8 would raise.
#: The jsonb_path_exists guard makes it one walk of the value that stops at its first number: no query per
#: record whose jsonb holds none.
_NUMBERS = "'strict $.** ? (@.type() == \"number\")'"
_INEXACT = (
    f"(CASE WHEN jsonb_path_exists({{0}}, {_NUMBERS}) THEN (SELECT n::text FROM jsonb_path_query({{0}}, {_NUMBERS}) n, "
    "LATERAL (SELECT n::numeric AS v) x WHERE NOT CASE "
    "WHEN scale(v) = 0 AND v BETWEEN -9223372036854775808 AND 18446744073709551615 THEN true "
    "WHEN v = 0 THEN true "  # 0.0: a double, under the smallest one the range test below allows
    "WHEN abs(v) NOT BETWEEN 4.9e-324 AND 1.7976931348623157e308 THEN false "
    "ELSE v::float8::text::numeric = v END LIMIT 1) END)"
)
#: the record's flag: the inexact number's text when there is one, else whether every check holds
_FLAG = "CASE WHEN {0} IS NOT NULL THEN to_json({0}) ELSE to_json({1}) END"

_ANALYSES_SQL = f"""
COPY (SELECT json_build_object(
    'id', a.id, 'url', a.url, 'title', a.title, 'content_type', a.content_type, 'status', a.status,
    'created_at', a.created_at, 'chunks', coalesce(ch.list, '[]'), 'findings', coalesce(fi.list, '[]'),
    'artifact', ar.doc,
    '{_OK}', {
    _FLAG.format(
        "ar.inexact",
        '''coalesce(a.url <> '' AND num_nulls(a.title, a.content_type, a.status,
        a.created_at) = 0 AND coalesce(ch.ok, true) AND coalesce(fi.ok, true) AND coalesce(ar.ok, true), false)''',
    )
})
  FROM golden.analyses a
  LEFT JOIN (
    SELECT c.analysis_id,
           json_agg(r ORDER BY c.chunk_index) AS list,
           bool_and(num_nulls(c.id, c.content, c.content_type, c.chunk_index) = 0
                    AND c.chunk_index >= 0 AND {_FLAT.format("c.section_path")})
             AND count(DISTINCT c.chunk_index) = count(*) AS ok
      -- each chunk as a row of the store's fields, which json_agg writes as an object (with its column
      -- names): about a sixth less server time than json_build_object per chunk at 100,000 chunks
      FROM golden.chunks c,
           LATERAL (SELECT c.id, c.content, c.section_title, coalesce(c.section_path, '{{{{}}}}') AS section_path,
                           c.content_type, c.chunk_index) r
     GROUP BY c.analysis_id) ch ON ch.analysis_id = a.id
  LEFT JOIN (
    SELECT f.analysis_id,
           json_agg(json_build_object(
             'agent', f.agent, 'category', f.category, 'content', f.content,
             'confidence', f.confidence::text) ORDER BY f.ordinal) AS list,
           bool_and(num_nulls(f.agent, f.category, f.content) = 0
                    AND (f.confidence IS NULL OR f.confidence BETWEEN 0 AND 1)) AS ok
      FROM golden.findings f GROUP BY f.analysis_id) fi ON fi.analysis_id = a.id
  LEFT JOIN LATERAL (
    SELECT json_build_object('id', r.id, 'summary', r.summary, 'key_findings', r.key_findings,
                             'metadata', r.metadata) AS doc,
           num_nulls(r.id, r.summary) = 0 AND jsonb_typeof(r.metadata) = 'object'
             AND {_STRINGS.format("r.key_findings")} AS ok,
           {_INEXACT.format("r.metadata")} AS inexact
      FROM golden.artifacts r WHERE r.analysis_id = a.id ORDER BY r.id LIMIT 1) ar ON true
  WHERE a.status = ANY({{statuses}}) ORDER BY a.id) TO STDOUT (FORMAT BINARY)"""

_QUERIES_SQL = f"""
COPY (SELECT json_build_object(
    'id', q.id, 'text', q.text, 'domain', q.domain, 'difficulty', q.difficulty,
    'tags', coalesce(q.tags, '{{}}'), 'expected', json_build_object('chunks', coalesce(e.chunks, '[]'), 'analyses', coalesce(e.analyses, '[]')),
    'reference_answers', q.reference_answers, 'expected_behavior', q.expected_behavior::text,
    '{_OK}', {
    _FLAG.format(
        "b.inexact",
        f'''coalesce(q.id ~ '^[-A-Za-z0-9._:]+$'
        AND q.text <> '' AND q.domain IS NOT NULL AND q.difficulty IN ('easy', 'medium', 'hard')
        AND {_FLAT.format("q.tags")} AND {_STRINGS.format("q.reference_answers")} AND coalesce(e.ok, true), false)''',
    )
})
  FROM golden.queries q
  CROSS JOIN LATERAL (SELECT {_INEXACT.format("q.expected_behavior")} AS inexact) b
  LEFT JOIN (
    SELECT x.query_id,
           json_agg(json_build_object('id', x.target_id, 'relevance', x.relevance) ORDER BY x.target_id)
             FILTER (WHERE x.target_kind = 'chunk') AS chunks,
           json_agg(json_build_object('id', x.target_id, 'relevance', x.relevance) ORDER BY x.target_id)
             FILTER (WHERE x.target_kind = 'analysis') AS analyses,
           bool_and(coalesce(x.relevance BETWEEN 1 AND {MAX_RELEVANCE}, false)) AS ok
      FROM golden.query_expected x GROUP BY x.query_id) e ON e.query_id = q.id
  ORDER BY q.id COLLATE "C") TO STDOUT (FORMAT BINARY)"""


def _copy_values(conn: psycopg.Connection[Any], statement: sql.SQL | sql.Composed) -> Iterator[bytes | None]:
    """The values of a one-column ``COPY ... TO STDOUT (FORMAT BINARY)`` of json, after a first None: the
    statement is sent, and the server at work on it, once the first item is taken.

    Binary, because json's binary form is its text as it is: the text format would escape every
    backslash of the JSON for this side to find and undo, line by line."""
    with conn.cursor() as cur, cur.copy(statement) as copy:
        yield None
        copy.set_types(["bytea"])  # the bytes as sent (psycopg parses the rows' framing in C)
        for (value,) in copy.rows():
            yield value


def _refuse_inexact(ok: Any, table: str, record_id: Any, field: str) -> None:
    """The flag holds the text of a number the store's JSON cannot hold exactly: orjson has already changed
    it in ``doc``, so neither path may write it (see :data:`_INEXACT`)."""
    if isinstance(ok, str):
        raise RecordValidationError(table, str(record_id), field, inexact_number_problem(ok))


def _analysis(doc: dict[str, Any]) -> dict[str, Any]:
    ok = doc.pop(_OK)
    _refuse_inexact(ok, "golden.artifacts", (doc["artifact"] or {}).get("id"), "metadata")
    try:
        doc["created_at"] = datetime.fromisoformat(doc["created_at"]).astimezone(UTC)
    except (TypeError, ValueError) as exc:
        raise DataIntegrityError(f"analysis {doc['id']}: created_at {doc['created_at']!r} is not a datetime") from exc
    for finding in doc["findings"]:
        if finding["confidence"] is not None:
            finding["confidence"] = float(finding["confidence"])
    if ok is True:
        return doc
    return Analysis.model_validate(doc).canonical().model_dump(mode="json")


class _Behaviors:
    """``expected_behavior`` jsonb text -> the dict ExpectedBehavior writes (None: invalid), for few distinct values."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, Any] | None] = {}

    def get(self, text: str) -> dict[str, Any] | None:
        if text not in self._seen:
            if len(self._seen) >= self.LIMIT:
                self._seen.clear()
            try:
                self._seen[text] = ExpectedBehavior.model_validate(orjson.loads(text)).model_dump(mode="json")
            except ValueError:  # pydantic's ValidationError: the model path below raises it with its context
                self._seen[text] = None
        return self._seen[text]


def _query(doc: dict[str, Any], behaviors: _Behaviors) -> dict[str, Any]:
    ok = doc.pop(_OK)
    _refuse_inexact(ok, "golden.queries", doc["id"], "expected_behavior")
    text = doc["expected_behavior"]
    behavior = behaviors.get(text) if text is not None else None
    if ok is True and behavior is not None:
        doc["expected_behavior"] = behavior
        return doc
    doc["expected_behavior"] = orjson.loads(text) if text is not None else None
    return Query.model_validate(doc).canonical().model_dump(mode="json")


def _parse(value: bytes) -> Any:
    """A record's JSON; a number orjson refuses (1e400 is infinity as a double) leaves its record to the
    standard parser, so that its flag names the record and the field (see :func:`_refuse_inexact`)."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return load_marking_inexact(value)  # an InexactNumber, which no model accepts, in its place


def _records(url: str, what: str, values: Iterator[bytes | None], convert: Callable[[Any], Any]) -> Iterator[Any]:
    """The records of a :func:`_copy_values` stream, started: its COPY is sent before this returns."""

    def records() -> Iterator[Any]:
        try:
            for value in values:
                yield convert(_parse(value))  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise database_error(exc, url, f"cannot read golden {what}") from exc

    try:
        next(values)
    except psycopg.Error as exc:
        raise database_error(exc, url, f"cannot read golden {what}") from exc
    return records()


@contextmanager
def golden_documents(
    url: str, statuses: Iterable[str]
) -> Iterator[tuple[Iterator[dict[str, Any]], Iterator[dict[str, Any]]]]:
    """``(analyses, queries)``: the records of one snapshot as the dicts the store writes.

    What :func:`goldkeeper.db.reader.golden_reader` yields, dumped: each dict is
    ``record.canonical().model_dump(mode="json")`` of its record (``created_at`` a UTC datetime,
    which canonical JSON writes as that dump does). Same order and scope; unlike golden_reader, both
    COPYs are running when this yields, so read the queries first (their server work is small) while
    the server sorts the chunks for the analyses.
    """
    with _snapshot_connections(url, 2) as conns:
        for conn in conns:
            conn.execute("SET LOCAL client_encoding = 'UTF8'")  # the JSON text orjson reads
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            conn.execute("SET LOCAL extra_float_digits = 1")  # shortest text that reads back the same double
            # the chunks are sorted for their analyses: in memory up to this (100,000 chunks fit) instead of
            # in runs merged on disk past the default 4MB; a cap per sort, not an allocation
            conn.execute(f"SET LOCAL work_mem = '{_SORT_MEMORY}'")
        analyses_sql = sql.SQL(_ANALYSES_SQL).format(statuses=sql.Literal(list(statuses)))
        streams = [_copy_values(conns[0], analyses_sql), _copy_values(conns[1], sql.SQL(_QUERIES_SQL))]
        try:
            behaviors = _Behaviors()
            # Starting a COPY waits until its server has a first row, after sorting (the chunks: a
            # quarter of a second at 100,000): the analyses' one starts in a thread, so that both
            # servers sort at once and the caller reads the queries while the chunks are sorted.
            with ThreadPoolExecutor(1) as pool:
                started = pool.submit(_records, url, "analyses", streams[0], _analysis)
                queries = _records(url, "queries", streams[1], lambda doc: _query(doc, behaviors))
                analyses = started.result()
            yield analyses, queries
        finally:
            for stream in streams:
                try:
                    stream.close()  # type: ignore[attr-defined]
                except (psycopg.Error, DatabaseError):
                    pass  # the connections are closed next: an unfinished COPY dies with them


__all__ = ["golden_documents"]
