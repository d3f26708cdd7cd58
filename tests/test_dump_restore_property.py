"""Property: any valid records survive restore -> dump -> restore --replace -> dump unchanged.

Generated data includes unicode (outside the BMP, RTL, combining marks), empty
strings, very long texts, nested metadata, arbitrary floats and 64-bit
integers, timestamps with offsets. Runs against the real database and the real
embedding model; the first dump must hold exactly the generated records and
the second must be byte-identical to the first.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_support import store_bytes
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_records, restore_store
from goldkeeper.dataset.verify.refusal import ALLOWABLE_CODES
from goldkeeper.embed import load_embedder
from goldkeeper.models import Analysis, Artifact, Chunk, Expected, ExpectedBehavior, Finding, Query, Relevance
from goldkeeper.store import open_store

# PostgreSQL text cannot hold NUL; surrogates are not valid UTF-8
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
short_text = st.text(CHARS, max_size=12)
long_text = st.builds(lambda s, n: (s or "x") * n, st.text(CHARS, min_size=1, max_size=8), st.integers(500, 3000))
any_text = st.one_of(short_text, short_text, long_text)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    short_text,
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(short_text, children, max_size=3)),
    max_leaves=8,
)
timestamps = st.builds(
    lambda dt, minutes: dt.replace(tzinfo=timezone(timedelta(minutes=minutes)) if minutes else UTC),
    st.datetimes(),
    st.sampled_from([0, 0, 60, -330, 825]),
)


@st.composite
def analyses(draw: st.DrawFn) -> Analysis:
    aid = draw(st.uuids())
    n_chunks = draw(st.integers(0, 3))
    indexes = draw(st.lists(st.integers(0, 10_000), min_size=n_chunks, max_size=n_chunks, unique=True))
    chunks = [
        Chunk(
            id=draw(st.uuids()),
            content=draw(any_text),
            section_title=draw(st.none() | short_text),
            section_path=draw(st.lists(short_text, max_size=3)),
            content_type=draw(st.sampled_from(["text", "table", ""])),
            chunk_index=index,
        )
        for index in indexes
    ]
    findings = draw(
        st.lists(
            st.builds(
                Finding, agent=short_text, category=short_text, content=any_text, confidence=st.none() | st.floats(0, 1)
            ),
            max_size=3,
        )
    )
    artifact = draw(
        st.none()
        | st.builds(
            Artifact,
            id=st.uuids(),
            summary=any_text,
            key_findings=st.lists(short_text, max_size=3),
            metadata=st.dictionaries(short_text, json_value, max_size=4),
        )
    )
    return Analysis(
        id=aid,
        url="https://en.wikipedia.org/wiki/" + draw(st.text(CHARS, min_size=1, max_size=20)),
        title=draw(any_text),
        content_type=draw(st.sampled_from(["text", "html"])),
        status="completed",
        created_at=draw(timestamps),
        findings=findings,
        chunks=chunks,
        artifact=artifact,
    )


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[Analysis], list[Query]]:
    items = draw(st.lists(analyses(), max_size=4, unique_by=lambda a: a.id))
    chunk_ids = [c.id for a in items for c in a.chunks]
    artifact_ids = [a.artifact.id for a in items if a.artifact is not None]
    # ids must be unique across the dataset (uuids() practically always are; make sure)
    if len(set(chunk_ids)) != len(chunk_ids) or len(set(artifact_ids)) != len(artifact_ids):
        items = items[:1]
    chunk_ids = [c.id for a in items for c in a.chunks]
    analysis_ids = [a.id for a in items]
    query_ids = draw(st.lists(st.from_regex(r"[A-Za-z0-9._:\-]{1,24}", fullmatch=True), max_size=5, unique=True))
    queries = []
    for qid in query_ids:
        expected_chunks = draw(st.lists(st.sampled_from(chunk_ids), unique=True, max_size=3)) if chunk_ids else []
        expected_analyses = (
            draw(st.lists(st.sampled_from(analysis_ids), unique=True, max_size=2)) if analysis_ids else []
        )
        queries.append(
            Query(
                id=qid,
                text=draw(st.text(CHARS, min_size=1, max_size=40).filter(str.strip)),  # blank: refused
                domain=draw(short_text),
                difficulty=draw(st.sampled_from(["easy", "medium", "hard"])),
                tags=draw(st.lists(short_text, max_size=3)),
                expected=Expected(
                    chunks=[Relevance(id=c, relevance=draw(st.integers(1, 3))) for c in expected_chunks],
                    analyses=[Relevance(id=a) for a in expected_analyses],
                ),
                reference_answers=draw(st.lists(any_text, max_size=2)),
                expected_behavior=ExpectedBehavior(
                    behavior=draw(st.sampled_from(["answer", "refuse"])),
                    must_not=draw(st.lists(short_text, max_size=2)),
                ),
            )
        )
    return items, queries


def json_numbers(value: Any) -> Any:
    """A record as JSON with every number as an exact Decimal of its JSON text.

    jsonb keeps numbers as decimals and prints integral ones without exponent,
    so the float 4.666211575051314e16 comes back as the integer
    46662115750513140: the same JSON number, another Python type.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, dict):
        return {k: json_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_numbers(v) for v in value]
    return value


def as_json(records: Any) -> list[Any]:
    return [json_numbers(r.model_dump(mode="json")) for r in records]


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=datasets())
def test_round_trip_through_the_database(
    database_url: str, tmp_path: Path, data: tuple[list[Analysis], list[Query]]
) -> None:
    analyses_in, queries_in = data
    embedder = load_embedder(EmbeddingParams())
    project = tmp_path / f"p-{uuid.uuid4().hex[:8]}"
    gk_settings = load_settings(root=project, env={})
    try:
        restore_records(database_url, analyses_in, queries_in, embedder, replace=True)
        first = dump(database_url, gk_settings, project / "one")
        store = open_store(project / "one")
        assert as_json(sorted(store.analyses(), key=lambda a: str(a.id))) == as_json(
            # timestamptz keeps the instant, not the offset: dumps are in UTC
            sorted(
                (a.canonical().model_copy(update={"created_at": a.created_at.astimezone(UTC)}) for a in analyses_in),
                key=lambda a: str(a.id),
            )
        )
        assert as_json(sorted(store.queries(), key=lambda q: q.id)) == as_json(
            sorted((q.canonical() for q in queries_in), key=lambda q: q.id)
        )
        one = store_bytes(project / "one")
        # arbitrary data: the content contracts (URL, prompt rubric) are not what this round trip tests
        report = restore_store(database_url, project / "one", embedder, replace=True, allow=ALLOWABLE_CODES)
        assert not report.analyses.added and not report.queries.added
        second = dump(database_url, gk_settings, project / "two")
        assert store_bytes(project / "two") == one
        assert second.version == first.version
    finally:
        shutil.rmtree(project, ignore_errors=True)
