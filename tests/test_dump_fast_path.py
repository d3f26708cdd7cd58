"""The dump's fast path (db/documents.py: JSON built by PostgreSQL, no model per row) writes the very
bytes of the model path (db/reader.py's models -> StoreWriter.add_analysis/add_query), and rejects
what the models reject.

Rows go into the golden tables with plain SQL (no embeddings: the dump does not read them), so a
test can also hold what restore would never write: values the models normalise (a confidence of
1.0, an expected_behavior without its defaults) and, with a constraint dropped, rows the models
refuse.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from golden_support import store_bytes
from goldkeeper.config import Settings
from goldkeeper.dataset.dump import dump
from goldkeeper.db import documents
from goldkeeper.db.reader import golden_reader
from goldkeeper.db.schema import ensure_schema
from goldkeeper.errors import DatabaseError, RecordValidationError
from goldkeeper.json_numbers import exact_json_number
from goldkeeper.models import Analysis, Query
from goldkeeper.store import StoreWriter
from test_dump_restore_property import datasets

AID = "6fcbcd47-09ed-50e3-94fa-fce1a529c16a"
CID = "97daf9ee-9b62-5fe1-9a72-01b6ce2f9e0b"


def insert(url: str, analyses: list[Analysis], queries: list[Query], *statements: str) -> None:
    """The records as rows (what restore writes, without vectors), then ``statements``."""
    with psycopg.connect(url) as conn:
        ensure_schema(conn, 384)
        for a in analyses:
            conn.execute(
                "INSERT INTO golden.analyses VALUES (%s, %s, %s, %s, %s, %s)",
                (a.id, a.url, a.title, a.content_type, a.status, a.created_at),
            )
            for c in a.chunks:
                conn.execute(
                    "INSERT INTO golden.chunks (id, analysis_id, content, section_title, section_path, content_type, "
                    "chunk_index) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (c.id, a.id, c.content, c.section_title, c.section_path, c.content_type, c.chunk_index),
                )
            for i, f in enumerate(a.findings):
                conn.execute(
                    "INSERT INTO golden.findings VALUES (%s, %s, %s, %s, %s, %s)",
                    (a.id, i, f.agent, f.category, f.content, f.confidence),
                )
            if (r := a.artifact) is not None:
                conn.execute(
                    "INSERT INTO golden.artifacts VALUES (%s, %s, %s, %s, %s)",
                    (r.id, a.id, r.summary, Jsonb(r.key_findings), Jsonb(r.metadata)),
                )
        for q in queries:
            conn.execute(
                "INSERT INTO golden.queries (id, text, domain, difficulty, tags, reference_answers, expected_behavior) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (q.id, q.text, q.domain, q.difficulty, q.tags, Jsonb(q.reference_answers),
                 Jsonb(q.expected_behavior.model_dump(mode="json"))),
            )  # fmt: skip
            for kind, targets in (("chunk", q.expected.chunks), ("analysis", q.expected.analyses)):
                for t in targets:
                    conn.execute(
                        "INSERT INTO golden.query_expected VALUES (%s, %s, %s, %s)", (q.id, kind, t.id, t.relevance)
                    )
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def model_path(url: str, out: Path) -> dict[str, bytes]:
    """The dump as the models write it: golden_reader's records through StoreWriter.add_analysis/add_query."""
    with (
        StoreWriter(out, "golden", {"analyses": 4, "queries": 4}) as writer,
        golden_reader(url, ["completed"]) as (
            analyses,
            queries,
        ),
    ):
        for analysis in analyses:
            writer.add_analysis(analysis)
        for query in queries:
            writer.add_query(query)
    return store_bytes(out)


def fast_path(url: str, out: Path) -> dict[str, bytes]:
    dump(
        url, Settings(root=out.parent, dataset={"name": "golden"}, store={"shards": {"analyses": 4, "queries": 4}}), out
    )
    return store_bytes(out)


def both_paths(url: str, tmp: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    tag = uuid.uuid4().hex[:8]
    return fast_path(url, tmp / f"fast-{tag}"), model_path(url, tmp / f"model-{tag}")


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=datasets())
def test_the_fast_path_writes_the_bytes_of_the_model_path(database_url: str, tmp_path: Path, data: Any) -> None:
    analyses, queries = data
    with psycopg.connect(database_url) as conn:
        conn.execute("DROP SCHEMA IF EXISTS golden CASCADE")
    insert(database_url, analyses, queries)
    fast, model = both_paths(database_url, tmp_path)
    assert fast == model


def edge_rows() -> tuple[list[Analysis], list[Query]]:
    """Values where a JSON number, a timestamp, an escape or a default could go wrong."""
    text = 'back\\slash "quoted" tab\tnew\nline \x7f \x01 \u00e9 \U0001f600 \\n'
    analysis = Analysis.model_validate(
        {
            "id": AID,
            "url": "https://example.org/" + text,
            "title": text,
            "created_at": datetime(1, 1, 1, tzinfo=UTC),
            "chunks": [
                {"id": CID, "content": text, "section_path": [text, ""], "chunk_index": 7},
                {"id": str(uuid.uuid4()), "content": "", "section_title": text, "chunk_index": 0},
            ],
            "findings": [
                {"agent": "a", "category": "c", "content": text, "confidence": c} for c in (1.0, 0.0, -0.0, 0.1, None)
            ],
            "artifact": {
                "id": str(uuid.uuid4()),
                "summary": text,
                "key_findings": [text],
                "metadata": {
                    "big": 1e300,
                    "tiny": 5e-324,
                    "u64": 2**64 - 1,
                    "over": float(2**64),  # jsonb prints it 18446744073709552000: the double again
                    "neg": float(-(2**63) - 1),
                    "one": 1.0,
                    "s": text,
                    "z": {"b": [1.5, None, True], "a": {}},
                },
            },
        }
    )
    later = analysis.model_copy(
        update={
            "id": uuid.uuid4(),
            "created_at": datetime(2026, 12, 2, 10, 0, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "chunks": [],
            "findings": [],
            "artifact": None,
        }
    )
    query = Query.model_validate(
        {
            "id": "q:1.a-b_c",
            "text": text,
            "domain": text,
            "tags": [text],
            "expected": {"chunks": [{"id": CID, "relevance": 3}], "analyses": [{"id": AID}]},
            "reference_answers": [text, ""],
            "expected_behavior": {"behavior": "refuse", "grounding_requirements": [text]},
        }
    )
    return [analysis, later], [query]


def test_edge_values_and_values_the_models_normalise_give_the_same_bytes(database_url: str, tmp_path: Path) -> None:
    analyses, queries = edge_rows()
    insert(
        database_url,
        analyses,
        queries,
        # restore never writes these: the models fill defaults and drop empty grounding_requirements
        """INSERT INTO golden.queries (id, text, domain, expected_behavior)
           VALUES ('q2', 't', 'd', '{"behavior": "answer"}'), ('q3', 't', 'd', '{"behavior": "refuse",
           "grounding_requirements": [], "must_not": ["fabricate_citation"]}')""",
    )
    fast, model = both_paths(database_url, tmp_path)
    assert fast == model
    assert b'"confidence": 1.0' in b"".join(fast.values())  # a float, as the model writes it


REJECTED: dict[str, list[str]] = {
    "empty url": ["UPDATE golden.analyses SET url = ''"],
    "null title": ["ALTER TABLE golden.analyses ALTER title DROP NOT NULL", "UPDATE golden.analyses SET title = NULL"],
    "negative chunk_index": [
        "ALTER TABLE golden.chunks DROP CONSTRAINT chunks_chunk_index_check",
        f"UPDATE golden.chunks SET chunk_index = -1 WHERE id = '{CID}'",
    ],
    "duplicate chunk_index": [
        "ALTER TABLE golden.chunks DROP CONSTRAINT chunks_analysis_id_chunk_index_key",
        "UPDATE golden.chunks SET chunk_index = 7",
    ],
    "NULL in section_path": [f"UPDATE golden.chunks SET section_path = '{{a,NULL}}' WHERE id = '{CID}'"],
    "2-D section_path": [f"UPDATE golden.chunks SET section_path = '{{{{a}},{{b}}}}' WHERE id = '{CID}'"],
    "confidence above 1": [
        "ALTER TABLE golden.findings DROP CONSTRAINT findings_confidence_check",
        "UPDATE golden.findings SET confidence = 2 WHERE ordinal = 0",
    ],
    "key_findings not strings": ["UPDATE golden.artifacts SET key_findings = '[[\"x\"]]'"],
    "metadata not an object": ["UPDATE golden.artifacts SET metadata = '[]'"],
    "query id pattern": [
        "INSERT INTO golden.queries (id, text, domain, expected_behavior) VALUES ('a b', 't', 'd', '{\"behavior\": \"answer\"}')"
    ],
    "empty query text": ["UPDATE golden.queries SET text = ''"],
    "difficulty": ["UPDATE golden.queries SET difficulty = 'impossible'"],
    "NULL in tags": ["UPDATE golden.queries SET tags = '{a,NULL}'"],
    "reference_answers not a list": ["UPDATE golden.queries SET reference_answers = '\"x\"'"],
    "expected_behavior": ["UPDATE golden.queries SET expected_behavior = '{\"behavior\": \"maybe\"}'"],
    "expected_behavior unknown key": ["UPDATE golden.queries SET expected_behavior = '{\"behavior\": \"answer\", \"x\": 1}'"],
    "relevance 0": [
        "ALTER TABLE golden.query_expected DROP CONSTRAINT query_expected_relevance_check",
        "UPDATE golden.query_expected SET relevance = 0",
    ],
    "relevance above the highest level": ["UPDATE golden.query_expected SET relevance = 1001"],
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_what_the_models_reject_the_fast_path_rejects(database_url: str, tmp_path: Path, case: str) -> None:
    analyses, queries = edge_rows()
    insert(database_url, analyses, queries, *REJECTED[case])
    for path in (fast_path, model_path):
        run: Callable[[str, Path], Any] = path
        with pytest.raises(ValidationError):
            run(database_url, tmp_path / f"{path.__name__}")
        assert not (tmp_path / path.__name__).exists()  # nothing half-written


#: jsonb numbers orjson (the store's JSON) cannot hold: each would be written as another number
INEXACT: dict[str, tuple[str, str, str]] = {
    "1e400": ("artifacts", "metadata", '{"a": 1e400}'),
    "22 significant digits": ("artifacts", "metadata", '{"b": 0.1000000000000000000001}'),
    "30-digit integer": ("artifacts", "metadata", '{"c": 123456789012345678901234567890}'),
    "2**70, nested": ("artifacts", "metadata", '{"d": [1, {"e": 1180591620717411303424}]}'),
    "2**64": ("artifacts", "metadata", '{"f": 18446744073709551616}'),
    "under the smallest double": ("artifacts", "metadata", '{"g": -1e-400}'),
    "in expected_behavior": ("queries", "expected_behavior", '{"behavior": "answer", "x": 1e-400}'),
}


@pytest.mark.parametrize("case", sorted(INEXACT))
def test_a_number_the_store_cannot_hold_stops_both_paths_naming_it(
    database_url: str, tmp_path: Path, case: str
) -> None:
    table, field, value = INEXACT[case]
    analyses, queries = edge_rows()
    insert(database_url, analyses, queries, f"UPDATE golden.{table} SET {field} = '{value}'")
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT id::text, ({field} #>> '{{}}')::text FROM golden.{table} LIMIT 1").fetchone()
    assert row is not None
    for path in (fast_path, model_path):
        run: Callable[[str, Path], Any] = path
        with pytest.raises(RecordValidationError) as caught:
            run(database_url, tmp_path / path.__name__)
        message = str(caught.value)
        assert message.startswith(f"golden.{table}: record {row[0]}: field {field}: the number "), message
        assert "\n" not in message and "neither a 64-bit integer nor a double" in message
        assert not (tmp_path / path.__name__).exists()  # nothing half-written


def test_numbers_the_store_holds_exactly_are_dumped_as_they_are(database_url: str, tmp_path: Path) -> None:
    """Shortest texts of doubles and 64-bit integers pass, on both paths alike (jsonb prints 1e300 in full)."""
    exact = (
        '{"a": 1.50, "b": 0.1, "c": 1e-05, "d": 0.30000000000000004, "e": 1e300, "f": 18446744073709551615, '
        '"g": -9223372036854775808, "h": 5e-324, "i": 1.7976931348623157e308, "j": 0.000, "k": [-2.5e-300]}'
    )
    analyses, queries = edge_rows()
    insert(database_url, analyses, queries, f"UPDATE golden.artifacts SET metadata = '{exact}'")
    fast, model = both_paths(database_url, tmp_path)
    assert fast == model
    records = [
        r for name, data in fast.items() if name.startswith("analyses/") for r in json.loads(data, parse_float=Decimal)
    ]
    (written,) = [r["artifact"]["metadata"] for r in records if r["artifact"] is not None]
    assert written == json.loads(exact, parse_float=Decimal)  # each number the same decimal as in the database


NUMBERS = [
    *("0", "-0", "0.0", "1", "1.0", "1.50", "0.1", "1e-05", "0.30000000000000004", "1e300", "1e2", "-2.5e-300"),
    *(str(2**64 - 1), str(2**64), f"{2**64 - 1}.0", str(-(2**63)), str(-(2**63) - 1), "9007199254740993"),
    *("123456789012345678901234567890", "0.1000000000000000000001", "1e400", "-1e400", "1e-400", "5e-324"),
    *("3e-324", "4.95e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "1.7976931348623158e308"),
    *("1.7976931348623159e308", "12345678901234567.5", "0.12345678901234567", "1234567890.123456"),
]


def test_the_fast_paths_sql_and_the_models_python_judge_every_number_alike(database_url: str) -> None:
    """documents._INEXACT (SQL, the fast path) and json_numbers.exact_json_number (the model path, importers, verify)
    are one rule written twice: on jsonb's own text of each number they must agree."""
    verdicts = []
    with psycopg.connect(database_url) as conn:
        conn.execute("SET extra_float_digits = 1")  # as golden_documents sets it
        for number in NUMBERS:
            text, flagged = conn.execute(
                f"SELECT (j -> 0)::text, {documents._INEXACT.format('j')} FROM (SELECT %s::jsonb AS j) s",
                (f"[{number}]",),
            ).fetchone()  # type: ignore[misc]
            verdicts.append((number, flagged is None, exact_json_number(text) is not None))
            assert flagged in (None, text)
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert {v[0] for v in verdicts if not v[1]} >= {"1e400", str(2**64), f"{2**64 - 1}.0", "0.1000000000000000000001"}


@pytest.mark.parametrize(
    ("dropped", "what"), [("golden.findings", "analyses"), ("golden.query_expected", "queries")]
)  # fmt: skip
def test_a_copy_that_cannot_start_is_a_one_line_error_and_writes_nothing(
    database_url: str, tmp_path: Path, dropped: str, what: str
) -> None:
    """The analyses' COPY starts in a thread, the queries' one in the caller (db/documents.py): either
    failing is the same one-line error, raised in the caller, once the other has started too."""
    analyses, queries = edge_rows()
    insert(database_url, analyses, queries, f"DROP TABLE {dropped} CASCADE")
    with pytest.raises(DatabaseError, match=f'cannot read golden {what} .*: relation "{dropped}" does not exist'):
        fast_path(database_url, tmp_path / "out")
    assert not (tmp_path / "out").exists()
