"""Instruction prefixes (``embedding.query_prefix`` / ``document_prefix``): each embedding site, the identity, the caches.

A ``command:`` program records the JSON lines it is given (``FAKE_EMBED_RECORD``), so each site is seen to send
the prefixed text with the right kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from db_mapping_support import restored_app
from embed_command_support import recorded, write_program
from golden_support import make_records
from goldkeeper.config import EmbeddingParams, GroundedParams, RetrievalParams, validate_settings
from goldkeeper.dataset.restore import restore_records
from goldkeeper.db import embedding_cache
from goldkeeper.db.schema import ensure_schema
from goldkeeper.embed import load_embedder
from goldkeeper.embed.command_backend import CommandEmbedder
from goldkeeper.embed.file_cache import FileEmbeddingCache
from goldkeeper.embed.fill import DatabaseCache, VectorCache, embed_texts_cached
from goldkeeper.errors import ConfigError
from goldkeeper.evals.answerers import ExtractiveAnswerer, Hit, split_sentences
from goldkeeper.evals.answerers.caching import CachingEmbedder
from goldkeeper.evals.answerers.retriever import database_retriever
from goldkeeper.evals.grounded import Rubric, score_answers
from goldkeeper.evals.judges import LexicalJudge
from goldkeeper.evals.retrieval import run_retrieval
from test_grounded_scores import AS_OF, C1, C2, answer_query, index  # noqa: F401

DIM = 8
E5 = {"query_prefix": "query: ", "document_prefix": "passage: "}
ROOT = Path(__file__).resolve().parents[1]


def _embedder(folder: Path, **params: Any) -> Any:
    values = {"provider": write_program(folder), "model": "team/e5", "dimensions": DIM, **params}
    return load_embedder(EmbeddingParams.model_validate(values), root=folder)


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "stdin.jsonl"
    monkeypatch.setenv("FAKE_EMBED_RECORD", str(path))
    return path


def test_empty_prefixes_keep_every_identity_byte_for_byte(tmp_path: Path) -> None:
    empty = _embedder(tmp_path, query_prefix="", document_prefix="")
    assert isinstance(empty, CommandEmbedder) and empty.model_id == "command:team/e5:8"
    # the committed baselines name the default model's identity: it must not move
    baseline = json.loads((ROOT / "baselines" / "squad-v2-dev-12-6a2dd577ff0638c9.json").read_text())
    default = load_embedder(EmbeddingParams(query_prefix="", document_prefix=""))
    assert baseline["identity"]["modelVersion"].startswith(f"{default.model_id}+answerer=")
    # a prefix names both (pinned: the chunks' embedding_model and the caches hold this string)
    assert _embedder(tmp_path, **E5).model_id == "command:team/e5:8+prefix:4b24d1aaebab2949"
    sides = {
        _embedder(tmp_path, query_prefix="query: ").model_id,
        _embedder(tmp_path, document_prefix="query: ").model_id,
    }
    assert len(sides) == 2 and all(s.startswith("command:team/e5:8+prefix:") for s in sides)


def test_the_document_prefix_counts_toward_the_tokens_a_chunk_may_have() -> None:
    plain = load_embedder(EmbeddingParams())
    prefixed = load_embedder(EmbeddingParams(**E5))
    assert prefixed.max_tokens == plain.max_tokens == 512  # the restore warning about cut chunks reads both
    text = "The Normans gave their name to Normandy."
    assert prefixed.token_counts([text]) == plain.token_counts([f"passage: {text}"]) > plain.token_counts([text])
    np.testing.assert_array_equal(prefixed.embed_documents([text]), plain.embed_documents([f"passage: {text}"]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("query:\x1b[2J ", r"embedding.query_prefix.*control character U\+001B \(only tab and newline"),
        (7, r"embedding.query_prefix.*string"),
    ],
)
def test_a_prefix_with_a_control_character_or_not_a_string_is_refused(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as failure:
        validate_settings({"embedding": {"query_prefix": value}})
    assert "\x1b" not in str(failure.value)  # the prefix itself is not echoed
    instruct = "Instruct: Given a question, retrieve passages that answer it\nQuery: "
    assert validate_settings({"embedding": {"query_prefix": instruct}}).embedding.query_prefix == instruct


def test_restore_embeds_documents_and_the_evals_search_with_queries(
    tmp_path: Path, record: Path, database_url: str
) -> None:
    embedder = _embedder(tmp_path / "bin", **E5)
    analyses, queries = make_records(2)
    report = restore_records(database_url, analyses, queries, embedder)
    assert report.model_id == embedder.model_id
    chunks = {c.content for a in analyses for c in a.chunks}
    assert sorted(recorded(record)) == sorted(("document", f"passage: {text}") for text in chunks)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT DISTINCT embedding_model FROM golden.chunks").fetchall() == [(embedder.model_id,)]
    record.unlink()
    run_retrieval(database_url, embedder, RetrievalParams(), modes=["hybrid"])
    answerable = [q.text for q in queries if q.expected is not None and q.expected.chunks]
    assert answerable and sorted(recorded(record)) == sorted(("query", f"query: {text}") for text in answerable)
    record.unlink()
    settings = validate_settings({"root": tmp_path, "database_url": database_url})
    assert len(database_retriever(settings, embedder)([queries[0].text], 2)[0]) == 2
    assert recorded(record) == [("query", f"query: {queries[0].text}")]


def test_a_mapped_restore_embeds_its_chunks_with_the_document_prefix(
    tmp_path: Path, record: Path, database_url: str, second_database: str
) -> None:
    _, embedder = restored_app(database_url, second_database, tmp_path, DIM, **E5)
    with psycopg.connect(second_database) as conn:
        rows = conn.execute("SELECT body, emb_model FROM app.doc_chunks").fetchall()
    assert rows and {model for _, model in rows} == {embedder.model_id}
    assert sorted(recorded(record)) == sorted(("document", f"passage: {body}") for body in {b for b, _ in rows})


def test_grounded_embeds_prompts_as_queries_once_and_sentences_as_documents(
    tmp_path: Path,
    record: Path,
    index: Any,  # noqa: F811
) -> None:
    embedder = CachingEmbedder(_embedder(tmp_path / "bin", **E5))

    def retriever(texts: Any, k: int) -> list[list[Hit]]:
        return [[Hit(C1, 0.9), Hit(C2, 0.8)][:k] for _ in texts]

    answerer = ExtractiveAnswerer(retriever, index, embedder=embedder, refusal_threshold=0.0, clock=lambda: AS_OF)
    query = answer_query()
    answers = answerer.answer([query])
    report = score_answers(
        [query], answers, index, judge=LexicalJudge(0.8), rubric=Rubric(), params=GroundedParams(as_of=AS_OF),
        embedder=embedder,
    )  # fmt: skip
    assert not answers.responses["q1"].refused and report.cases[0].relevance != 0.0
    sentences = {s for chunk in (C1, C2) for s in split_sentences(index.chunks[chunk].content)}
    lines = recorded(record)
    assert lines.count(("query", f"query: {query.text}")) == 1  # the answerer's and the relevance score's
    assert sorted(line for line in lines if line[0] == "document") == sorted(
        ("document", f"passage: {s}") for s in sentences | {answers.responses["q1"].answer}
    )


@pytest.mark.parametrize("kind", ["database", "file"])
def test_another_prefix_never_gets_the_cached_vectors(tmp_path: Path, database_url: str, kind: str) -> None:
    texts = ["alpha", "beta gamma", "delta"]
    with psycopg.connect(database_url) as conn:
        ensure_schema(conn, DIM)
        embedding_cache.prepare(conn)
        cache: VectorCache = DatabaseCache(conn) if kind == "database" else FileEmbeddingCache(tmp_path / "cache")

        def computed(**params: Any) -> int:
            _, n, _ = embed_texts_cached(conn, _embedder(tmp_path / "bin", **params), texts, cache)
            cache.flush()
            return n

        assert computed(**E5) == 3
        assert computed(**E5) == 0  # the same prefixes: served from the cache
        assert computed(query_prefix="query: ", document_prefix="doc: ") == 3
        assert computed(query_prefix="q: ", document_prefix="passage: ") == 3  # the query side counts too
        assert computed() == 3  # no prefix: the plain identity, its own entries
        assert computed() == 0
