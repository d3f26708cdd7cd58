"""Retrieval through params ``database:`` (issue 12): the same records restored into the reference schema and
into an application schema give the same retrieval metrics and rankings, searching only the mapping's scope;
``tables.chunks.fulltext`` (a tsvector column or an expression) is matched instead of the content."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from cli_support import run_cli
from db_mapping_support import APP_SCHEMA
from embed_command_support import write_program
from golden_support import make_analysis, text_of
from goldkeeper.config import EmbeddingParams, RetrievalParams, Settings, validate_settings
from goldkeeper.dataset.restore import restore_records
from goldkeeper.db.search import fulltext_chunks, fulltext_search, searched_chunks
from goldkeeper.embed import Embedder, load_embedder
from goldkeeper.errors import ConfigError
from goldkeeper.evals.answerers.retriever import database_retriever
from goldkeeper.evals.retrieval import RetrievalResult, run_retrieval
from goldkeeper.models import Analysis, Expected, ExpectedBehavior, Query, Relevance

DIM = 24
#: analyses and chunks only (the records carry no findings or artifact); the scope is the column default
APP_MAPPING: dict[str, Any] = {
    "tables": {
        "analyses": {
            "table": "app.documents",
            "columns": {"id": "doc_id", "url": "source_url", "title": "name", "created_at": "published_at"},
            "where": "state = 'draft'",
        },
        "chunks": {
            "table": "app.doc_chunks",
            "columns": {
                "id": "chunk_id",
                "analysis_id": "doc_id",
                "content": "body",
                "chunk_index": "ord",
                "section_title": "heading",
                "section_path": "path",
            },
            "separators": {"section_path": " > "},
            "embedding": {"column": "emb", "model_column": "emb_model"},
        },
    }
}
#: outside the scope: a published document whose chunk holds every question word (never retrieved)
OUTSIDE = str(uuid.UUID(int=7))


def records() -> tuple[list[Analysis], list[Query]]:
    analyses = [make_analysis(i, chunks=3).model_copy(update={"findings": [], "artifact": None}) for i in range(6)]
    queries = [
        Query(
            id=f"q-{i:02d}",
            text=text_of(i * 31 + 1, 3),
            domain="test",
            expected=Expected(chunks=[Relevance(id=a.chunks[1].id, relevance=2), Relevance(id=a.chunks[0].id)]),
            expected_behavior=ExpectedBehavior(behavior="answer"),
        )
        for i, a in enumerate(analyses)
    ]
    return analyses, queries


@pytest.fixture
def embedder(tmp_path: Path) -> Embedder:
    program = write_program(tmp_path / "embedder", DIM)
    return load_embedder(
        EmbeddingParams(provider=program, model="team/app-embedder", dimensions=DIM), root=tmp_path / "embedder"
    )


@pytest.fixture
def databases(database_url: str, second_database: str) -> tuple[str, str]:
    return database_url, second_database


def settings_with(tmp_path: Path, mapping: dict[str, Any]) -> Settings:
    return validate_settings({"root": tmp_path, "database": mapping})


def app_with_outside_rows(url: str) -> None:
    """The application schema (plus a tsvector column), and a published document outside the scope."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(APP_SCHEMA.format(dim=DIM))
        conn.execute(
            "ALTER TABLE app.doc_chunks ADD COLUMN body_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', body)) STORED"
        )
        conn.execute(
            "INSERT INTO app.documents VALUES (%s, 'https://docs.test/o', 'Outside', 'published', now())", (OUTSIDE,)
        )
        every_word = " ".join(text_of(i * 31 + 1, 3) for i in range(6))
        conn.execute(
            "INSERT INTO app.doc_chunks (chunk_id, doc_id, body, ord) VALUES (%s, %s, %s, 0)",
            (str(uuid.UUID(int=8)), OUTSIDE, every_word),
        )


def comparable(result: RetrievalResult) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    metrics = {k: v for k, v in result.metrics().items() if not k.startswith("dataset")}
    return metrics, result.per_query_records()


def restore_both(urls: tuple[str, str], settings: Settings, embedder: Embedder) -> None:
    analyses, queries = records()
    restore_records(urls[0], analyses, queries, embedder)
    app_with_outside_rows(urls[1])
    restore_records(urls[1], analyses, queries, embedder, database=settings.database)
    with psycopg.connect(urls[1], autocommit=True) as conn:  # the outside chunk has a vector too
        conn.execute(
            "UPDATE app.doc_chunks SET emb = (SELECT emb FROM app.doc_chunks WHERE emb IS NOT NULL LIMIT 1) "
            "WHERE chunk_id = %s",
            (str(uuid.UUID(int=8)),),
        )


@pytest.mark.parametrize(
    "fulltext",
    [None, {"column": "body_tsv"}, {"expression": "to_tsvector('english', coalesce(heading, '') || ' ' || body)"}],
    ids=["content", "column", "expression"],
)
def test_the_reference_and_the_application_schema_give_the_same_retrieval_metrics(
    databases: tuple[str, str], embedder: Embedder, tmp_path: Path, fulltext: dict[str, str] | None
) -> None:
    chunks = {**APP_MAPPING["tables"]["chunks"], **({"fulltext": fulltext} if fulltext else {})}
    settings = settings_with(tmp_path, {"tables": {**APP_MAPPING["tables"], "chunks": chunks}})
    restore_both(databases, settings, embedder)
    params = RetrievalParams(k=3, depth=20)
    reference = run_retrieval(databases[0], embedder, params)
    app = run_retrieval(databases[1], embedder, params, database=settings.database)
    assert reference.chunks == app.chunks == 18  # the outside chunk is not counted
    assert reference.metrics()["fulltext.recip_rank"] > 0.5 and reference.metrics()["hybrid.recip_rank"] > 0.3
    if fulltext is None or "column" in fulltext:
        assert comparable(app) == comparable(reference)
    else:  # the section titles are matched too: the full-text ranking may differ, the vectors' may not
        assert comparable(app)[1][:6] == comparable(reference)[1][:6]  # vector mode first
    outside = str(uuid.UUID(int=8))
    assert not any(outside in record["retrieved"] for record in app.per_query_records())

    with psycopg.connect(databases[1], autocommit=True) as conn:  # the application's own index serves the search
        conn.execute("CREATE INDEX doc_chunks_emb ON app.doc_chunks USING hnsw (emb vector_cosine_ops)")
        conn.execute("SET enable_seqscan = off")
        query = "[" + ",".join(["1"] * DIM) + "]"
        plan = conn.execute(
            sql.SQL("EXPLAIN SELECT ch.id FROM {} ch ORDER BY ch.embedding <=> {}::vector LIMIT 5").format(
                searched_chunks(conn, settings.database, "english", DIM), sql.Literal(query)
            ),
            {},
        ).fetchall()
        assert "Index Scan using doc_chunks_emb" in "\n".join(row[0] for row in plan)
    assert (
        comparable(run_retrieval(databases[1], embedder, params, database=settings.database))[1][:6]
        == (comparable(reference)[1][:6])
    )


@pytest.mark.parametrize(
    "fulltext",
    [None, {"column": "body_tsv"}, {"expression": "to_tsvector('german', coalesce(heading, '') || ' ' || body)"}],
    ids=["content", "column", "expression"],
)
def test_the_mapped_chunks_tsvectors_are_computed_once_with_the_same_rankings(
    databases: tuple[str, str], embedder: Embedder, tmp_path: Path, fulltext: dict[str, str] | None
) -> None:
    # ts_rank_cd parsed every matching chunk of the application's table again for each question (its tsvector an
    # expression); a temporary table of the rows inside the scope now holds them, a tsvector column is read as is
    chunks = {**APP_MAPPING["tables"]["chunks"], **({"fulltext": fulltext} if fulltext else {})}
    settings = settings_with(tmp_path, {"tables": {**APP_MAPPING["tables"], "chunks": chunks}})
    restore_both(databases, settings, embedder)
    texts = [q.text for q in records()[1]]
    with psycopg.connect(databases[1]) as conn:
        source = searched_chunks(conn, settings.database, "german", DIM)
        read, why = fulltext_chunks(conn, settings.database, source)
        assert why is None and (read == source) == (fulltext is not None and "column" in fulltext)
        found = fulltext_search(conn, texts, 20, ts_config="german", chunks=read)
        assert found == fulltext_search(conn, texts, 20, ts_config="german", chunks=source)
    assert all(found) and str(uuid.UUID(int=8)) not in {h.chunk_id for hits in found for h in hits}  # the scope


def test_the_grounded_retriever_searches_the_mapped_chunks(
    databases: tuple[str, str], embedder: Embedder, tmp_path: Path
) -> None:
    hits = {}
    for mode in ("vector", "fulltext", "hybrid"):
        settings = validate_settings({"root": tmp_path, "database": APP_MAPPING, "grounded": {"retrieval_mode": mode}})
        reference = settings.model_copy(update={"database": None, "database_url": databases[0]})
        if mode == "vector":
            restore_both(databases, settings, embedder)
        texts = [q.text for q in records()[1]]
        app = settings.model_copy(update={"database_url": databases[1]})
        hits[mode] = database_retriever(app, embedder)(texts, 5)
        assert hits[mode] == database_retriever(reference, embedder)(texts, 5)
        assert all(len(found) == 5 for found in hits[mode])


def test_a_mapping_that_does_not_fit_is_refused_before_searching(
    databases: tuple[str, str], embedder: Embedder, tmp_path: Path
) -> None:
    settings = settings_with(tmp_path, APP_MAPPING)
    restore_both(databases, settings, embedder)
    with psycopg.connect(databases[1]) as conn, pytest.raises(ConfigError, match=r"app.doc_chunks.emb: vector\(24\)"):
        searched_chunks(conn, settings.database, "english", DIM + 1)
    for fulltext, problem in (
        ({"column": "body"}, "app.doc_chunks.body: text, the fulltext column must be a tsvector"),
        ({"expression": "to_tsvector(nope)"}, "app.doc_chunks: fulltext expression 'to_tsvector(nope)' is not valid"),
    ):
        chunks = {**APP_MAPPING["tables"]["chunks"], "fulltext": fulltext}
        other = settings_with(tmp_path, {"tables": {**APP_MAPPING["tables"], "chunks": chunks}})
        with psycopg.connect(databases[1]) as conn, pytest.raises(ConfigError, match=re.escape(problem)):
            searched_chunks(conn, other.database, "english", DIM)
    bad = {"tables": {**APP_MAPPING["tables"], "chunks": {**APP_MAPPING["tables"]["chunks"], "fulltext": {}}}}
    with pytest.raises(ConfigError, match="fulltext: set exactly one of column or expression"):
        settings_with(tmp_path, bad)


def test_eval_retrieval_command_uses_the_mapping(
    databases: tuple[str, str], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = write_program(project, DIM)
    embedding = {"provider": program, "model": "team/app-embedder", "dimensions": DIM}
    settings = validate_settings({"root": project, "database": APP_MAPPING, "embedding": embedding})
    restore_both(databases, settings, load_embedder(settings.embedding, root=project))
    (project / "params.yaml").write_text(yaml.safe_dump({"database": APP_MAPPING, "embedding": embedding}))
    code, out, err = run_cli(["--database-url", databases[1], "eval", "retrieval", "--json"], capsys)
    assert code == 0, err
    app = json.loads(out)
    (project / "params.yaml").write_text(yaml.safe_dump({"embedding": embedding}))
    code, out, err = run_cli(["--database-url", databases[0], "eval", "retrieval", "--json"], capsys)
    assert code == 0, err
    reference = json.loads(out)
    assert app["queries.evaluated"] == 6 and app["hybrid.ndcg_at_k"] > 0
    assert {k: v for k, v in app.items() if not k.startswith("dataset")} == {
        k: v for k, v in reference.items() if not k.startswith("dataset")
    }
