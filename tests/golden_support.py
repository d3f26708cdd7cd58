"""Helpers for the dump / restore tests: deterministic records and a fingerprint of the golden tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from goldkeeper.models import Analysis, Artifact, Chunk, Expected, ExpectedBehavior, Finding, Query, Relevance

NS = uuid.UUID("7a0c3f52-52a4-4c43-9f0e-1a54d1a1c0de")
GOLDEN_TABLES = (
    "analyses",
    "chunks",
    "artifacts",
    "findings",
    "queries",
    "query_expected",
    "embedding_cache",
    "schema_info",
)

WORDS = (
    "river delta sediment basalt glacier monsoon harbour canal fortress treaty dynasty archive "
    "telescope orbit comet nebula enzyme protein genome cell membrane voltage circuit turbine"
).split()


def text_of(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(words))


def make_analysis(i: int, chunks: int = 3, words: int = 8, tag: str = "") -> Analysis:
    aid = uuid.uuid5(NS, f"analysis-{i}")
    return Analysis(
        id=aid,
        url=f"https://en.wikipedia.org/wiki/Article_{i}",
        title=f"Article {i}{tag}",
        created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i, microseconds=i),
        findings=[Finding(agent="curator", category="coverage", content=f"finding {i}", confidence=0.25 + i % 3 / 4)],
        chunks=[
            Chunk(
                id=uuid.uuid5(aid, f"chunk-{j}"),
                content=f"{text_of(i * 31 + j, words)} ({i}.{j}){tag}",
                section_title=f"Section {j}" if j % 2 else None,
                section_path=["Article", f"Section {j}"],
                chunk_index=j,
            )
            for j in range(chunks)
        ],
        artifact=Artifact(
            id=uuid.uuid5(aid, "artifact"),
            summary=f"summary of {i}",
            key_findings=[f"key {i}"],
            metadata={"source": "test", "n": i, "nested": {"list": [1, 2.5, None, "x"]}},
        ),
    )


def make_query(i: int, analysis: Analysis) -> Query:
    return Query(
        id=f"q-{i:04d}",
        text=f"What about {analysis.title}?",
        domain="test",
        difficulty="easy",
        tags=["t", str(i % 3)],
        expected=Expected(
            chunks=[Relevance(id=analysis.chunks[0].id, relevance=2)], analyses=[Relevance(id=analysis.id)]
        ),
        reference_answers=[f"answer {i}"],
        expected_behavior=ExpectedBehavior(behavior="answer", must_not=["fabricate_citation"]),
    )


def make_records(n: int, chunks: int = 3, words: int = 8, tag: str = "") -> tuple[list[Analysis], list[Query]]:
    analyses = [make_analysis(i, chunks, words, tag) for i in range(n)]
    queries = [make_query(i, a) for i, a in enumerate(analyses)]
    refuse = Query(
        id="q-refuse",
        text="Unanswerable?",
        domain="test",
        expected_behavior=ExpectedBehavior(behavior="refuse", must_not=["answer_without_evidence"]),
    )
    return analyses, queries + [refuse]


def fingerprint(url: str) -> dict[str, str | None]:
    """md5 of every golden table's rows (sorted), embeddings included; None for a missing table."""
    result: dict[str, str | None] = {}
    with psycopg.connect(url) as conn:
        for table in GOLDEN_TABLES:
            if conn.execute("SELECT to_regclass(%s)", (f"golden.{table}",)).fetchone() == (None,):
                result[table] = None
                continue
            row = conn.execute(
                f"SELECT count(*)::text || ':' || coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
                f"FROM golden.{table} t"
            ).fetchone()
            result[table] = row[0] if row else None
    return result


def store_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
