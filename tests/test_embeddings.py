"""The vendored fastembed model, load_embedder, and embed_chunks with the embedding cache (real model, real PostgreSQL)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from goldkeeper.config import EmbeddingParams
from goldkeeper.db.schema import ensure_schema
from goldkeeper.embed import VENDORED_MODEL_DIR, VENDORED_MODEL_NAME, load_embedder
from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.embed.fill import embed_chunks, embed_queries, text_sha256
from goldkeeper.errors import ConfigError
from goldkeeper.store import open_store

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    "Computational complexity theory classifies problems by their inherent difficulty.",
    "Ünïcödé text with emoji 🚀 and CJK 漢字 is embedded like any other text.",
    "",
]


def _vendored_sha() -> str:
    sums = dict(
        reversed(line.split("  ", 1)) for line in (VENDORED_MODEL_DIR / "SHA256SUMS").read_text().splitlines() if line
    )
    return sums["model.onnx"]


def test_vendored_model_is_intact_and_identified_by_its_sha256() -> None:
    data = (VENDORED_MODEL_DIR / "model.onnx").read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    assert actual == _vendored_sha()
    embedder = load_embedder(EmbeddingParams())
    assert embedder.model_sha256 == actual
    assert embedder.model_id == f"sentence-transformers/all-MiniLM-L6-v2@sha256:{actual[:16]}"
    assert embedder.dim == 384
    assert (VENDORED_MODEL_DIR / "PROVENANCE.md").read_text().count("Apache-2.0") >= 1


def test_vectors_are_normalised_float32_and_meaningful() -> None:
    embedder = load_embedder(EmbeddingParams())
    vectors = embedder.embed_documents(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query("Who gave their name to Normandy?")
    assert query.shape == (384,)
    scores = vectors[:3] @ query
    assert int(np.argmax(scores)) == 0, scores
    assert embedder.embed_documents([]).shape == (0, 384)


def test_model_path_loads_the_same_model_as_the_vendored_default() -> None:
    default = load_embedder(EmbeddingParams())
    by_path = load_embedder(EmbeddingParams(model_path=str(VENDORED_MODEL_DIR)))
    assert by_path.model_id == default.model_id
    np.testing.assert_allclose(by_path.embed_documents(TEXTS[:2]), default.embed_documents(TEXTS[:2]), atol=1e-6)


def _equal_length_texts(count: int) -> list[str]:
    """``count`` sample chunk texts of one token length: a batch of them would need no padding."""
    from collections import defaultdict

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(VENDORED_MODEL_DIR / "tokenizer.json"))
    texts = [c.content for a in open_store(REPO / "golden").analyses() for c in a.chunks]
    by_length: dict[int, list[str]] = defaultdict(list)
    for text in texts:
        by_length[len(tokenizer.encode(text).ids)].append(text)
    group = max(by_length.values(), key=len)
    assert len(group) >= count
    return group[:count]


def test_a_texts_vector_does_not_depend_on_the_texts_embedded_with_it() -> None:
    """The cache's promise: one (model file, text), one vector, however the cache was filled.

    Texts of one token length (no padding) and of other lengths, alone and in one call, in both orders.
    """
    from fastembed import TextEmbedding

    same_length = _equal_length_texts(4)
    texts = [*same_length, *TEXTS]
    embedder = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=1)
    alone = [embedder.embed_documents([text])[0].tobytes() for text in texts]
    assert [v.tobytes() for v in embedder.embed_documents(texts)] == alone
    assert [v.tobytes() for v in embedder.embed_documents(texts[::-1])] == alone[::-1]
    assert len(set(alone)) == len(texts)
    # Why one text per ONNX run: the int8 model quantises activations per input tensor, so even a batch
    # of equal-length texts gives other vectors (if a model ever makes this equal, batches may be allowed).
    model = TextEmbedding(VENDORED_MODEL_NAME, specific_model_path=str(VENDORED_MODEL_DIR), threads=1)
    one_by_one = list(model.embed(same_length, batch_size=1))
    together = list(model.embed(same_length, batch_size=len(same_length)))
    assert not any(np.array_equal(a, b) for a, b in zip(one_by_one, together, strict=True))


def test_a_relative_model_path_is_resolved_against_the_project_root(tmp_path) -> None:
    import shutil

    shutil.copytree(VENDORED_MODEL_DIR, tmp_path / "models" / "minilm")
    embedder = load_embedder(EmbeddingParams(model_path="models/minilm"), root=tmp_path)
    assert embedder.model_id == load_embedder(EmbeddingParams()).model_id
    assert embedder.model_path == tmp_path / "models" / "minilm"


def test_a_model_that_is_not_available_offline_fails_with_a_one_line_config_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path / "empty-cache"))
    with pytest.raises(ConfigError) as info:
        load_embedder(EmbeddingParams(model="BAAI/bge-small-en-v1.5"))
    message = str(info.value)
    assert message == (
        "model BAAI/bge-small-en-v1.5 is not available offline: set embedding.model_path to a local ONNX directory"
    )
    assert info.value.exit_code == 3


def test_unknown_model_name_and_bad_model_path_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not a fastembed text embedding model"):
        load_embedder(EmbeddingParams(model="nobody/no-such-model"))
    with pytest.raises(ConfigError, match="is not a directory"):
        load_embedder(EmbeddingParams(model_path=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no model.onnx"):
        load_embedder(EmbeddingParams(model_path=str(tmp_path / "empty")))


def _seed(conn: psycopg.Connection, texts: list[str]) -> list[uuid.UUID]:
    analysis = uuid.uuid4()
    conn.execute(
        "INSERT INTO golden.analyses (id, url, title, created_at) VALUES (%s, %s, %s, %s)",
        (analysis, "https://en.wikipedia.org/wiki/Normans", "Normans", datetime(2018, 6, 11, tzinfo=UTC)),
    )
    ids = []
    for index, text in enumerate(texts):
        chunk = uuid.uuid4()
        ids.append(chunk)
        conn.execute(
            "INSERT INTO golden.chunks (id, analysis_id, content, chunk_index) VALUES (%s, %s, %s, %s)",
            (chunk, analysis, text, index),
        )
    return ids


def test_embed_chunks_fills_every_chunk_and_reuses_the_cache(database_url: str) -> None:
    embedder = load_embedder(EmbeddingParams())
    texts = TEXTS + [TEXTS[0]] * 3 + [f"paragraph number {i}" for i in range(9)]
    with psycopg.connect(database_url) as conn:
        ensure_schema(conn, embedder.dim)
        ids = _seed(conn, texts)
        first = embed_chunks(conn, embedder, batch_size=100)  # one batch: in-batch duplicates embedded once
        assert (first.total, first.cached, first.computed) == (len(texts), 0, len(texts))
        assert first.texts_embedded == len(set(texts))
        rows = conn.execute(
            "SELECT id, embedding::text, embedding_model, vector_dims(embedding) FROM golden.chunks ORDER BY id"
        ).fetchall()
        assert len(rows) == len(ids)
        assert {r[2] for r in rows} == {embedder.model_id}
        assert {r[3] for r in rows} == {384}
        cache_rows = conn.execute("SELECT count(*), count(DISTINCT model_id) FROM golden.embedding_cache").fetchone()
        assert cache_rows == (len(set(texts)), 1)
        key = conn.execute(
            "SELECT count(*) FROM golden.embedding_cache WHERE model_id = %s AND text_sha256 = %s",
            (embedder.model_id, text_sha256(TEXTS[0])),
        ).fetchone()
        assert key == (1,)

        # Nothing stale: a second run does nothing.
        again = embed_chunks(conn, embedder)
        assert (again.total, again.cached, again.computed) == (0, 0, 0)

        # Vectors lost (or made by another model): all come back from the cache, none computed.
        conn.execute("UPDATE golden.chunks SET embedding = NULL WHERE chunk_index % 2 = 0")
        conn.execute("UPDATE golden.chunks SET embedding_model = 'other@sha256:0000' WHERE chunk_index % 2 = 1")
        cached = embed_chunks(conn, embedder, batch_size=5)
        assert (cached.total, cached.cached, cached.computed, cached.texts_embedded) == (len(texts), len(texts), 0, 0)
        after = conn.execute(
            "SELECT id, embedding::text, embedding_model, vector_dims(embedding) FROM golden.chunks ORDER BY id"
        ).fetchall()
        assert after == rows

        # The stored vector is the model's vector for the text.
        stored = conn.execute("SELECT embedding::text FROM golden.chunks WHERE id = %s", (ids[1],)).fetchone()[0]
        vector = np.array([float(x) for x in stored.strip("[]").split(",")], dtype=np.float32)
        np.testing.assert_allclose(vector, embedder.embed_documents([TEXTS[1]])[0], atol=1e-6)


def test_embed_chunks_runs_in_the_callers_transaction(database_url: str) -> None:
    embedder = load_embedder(EmbeddingParams())
    with psycopg.connect(database_url) as conn:
        ensure_schema(conn, embedder.dim)
        _seed(conn, TEXTS[:2])
        conn.commit()
        stats = embed_chunks(conn, embedder)
        assert stats.computed == 2
        conn.rollback()
        left = conn.execute(
            "SELECT count(*) FILTER (WHERE embedding IS NULL), (SELECT count(*) FROM golden.embedding_cache) FROM golden.chunks"
        ).fetchone()
        assert left == (2, 0)


class RecordingProgress:
    """A real Progress implementation that remembers what it was told."""

    def __init__(self) -> None:
        self.tasks: list[list] = []

    def task(self, description: str, total: int | None):
        record = [description, total, 0]
        self.tasks.append(record)

        class _Task:
            def advance(self, amount: int = 1) -> None:
                record[2] += amount

            def __enter__(self):
                return self

            def __exit__(self, *exc: object) -> None:
                return None

        return _Task()


def test_progress_is_reported_per_batch(database_url: str) -> None:
    embedder = load_embedder(EmbeddingParams())
    progress = RecordingProgress()
    with psycopg.connect(database_url) as conn:
        ensure_schema(conn, embedder.dim)
        _seed(conn, [f"text {i}" for i in range(7)])
        embed_chunks(conn, embedder, batch_size=3, progress=progress)
    assert progress.tasks == [[f"embedding chunks ({embedder.model_name})", 7, 7]]


def test_query_embeddings_are_cached_separately_from_documents(database_url: str) -> None:
    embedder = load_embedder(EmbeddingParams())
    queries = ["Who gave their name to Normandy?", "What is complexity theory?", "Who gave their name to Normandy?"]
    with psycopg.connect(database_url) as conn:
        ensure_schema(conn, embedder.dim)
        first = embed_queries(conn, embedder, queries)
        assert first.shape == (3, 384)
        np.testing.assert_allclose(first[0], embedder.embed_query(queries[0]), atol=1e-6)
        np.testing.assert_array_equal(first[0], first[2])
        keys = conn.execute("SELECT model_id, count(*) FROM golden.embedding_cache GROUP BY model_id").fetchall()
        assert keys == [(f"{embedder.model_id}#query", 2)]
        # the second call reads the cache: a planted vector comes back instead of the model's
        planted = "[" + ",".join(["1"] + ["0"] * 383) + "]"
        conn.execute(
            "UPDATE golden.embedding_cache SET embedding = %s::vector WHERE text_sha256 = %s",
            (planted, text_sha256(queries[1])),
        )
        again = embed_queries(conn, embedder, queries)
        np.testing.assert_array_equal(again[[0, 2]], first[[0, 2]])
        assert again[1][0] == 1.0 and not again[1][1:].any()
        assert embed_queries(conn, embedder, []).shape == (0, 384)


def _local_copy(folder: Path, onnx_name: str) -> Path:
    """The vendored model's folder copied to ``folder``, its ONNX file under ``onnx_name``."""
    import shutil

    shutil.copytree(VENDORED_MODEL_DIR, folder)
    (folder / "model.onnx").rename(folder / onnx_name)
    return folder


def test_the_identity_hashes_the_onnx_file_fastembed_loads(tmp_path) -> None:
    # BAAI/bge-small-en-v1.5 is loaded from model_optimized.onnx; a stray model.onnx beside it (another export)
    # must not name the vectors, or a changed model_optimized.onnx would reuse the old vectors.
    folder = _local_copy(tmp_path / "bge", "model_optimized.onnx")
    (folder / "model.onnx").write_bytes((folder / "model_optimized.onnx").read_bytes()[:1000])
    embedder = FastEmbedEmbedder("BAAI/bge-small-en-v1.5", folder, workers=1)
    assert embedder.onnx_file == folder / "model_optimized.onnx"
    assert embedder.model_id == f"BAAI/bge-small-en-v1.5@sha256:{_vendored_sha()[:16]}"


def test_a_missing_onnx_file_is_one_line_naming_the_file_the_model_needs(tmp_path) -> None:
    folder = _local_copy(tmp_path / "bge", "model.onnx")
    with pytest.raises(ConfigError) as info:
        FastEmbedEmbedder("BAAI/bge-small-en-v1.5", folder, workers=1)
    assert str(info.value) == (
        f"embedding.model_path: no model_optimized.onnx in {folder} (the ONNX file fastembed loads for "
        "BAAI/bge-small-en-v1.5; it holds model.onnx: rename it)"
    )
    folder = _local_copy(tmp_path / "mine", "all-MiniLM-L6-v2.onnx")
    with pytest.raises(ConfigError) as info:
        FastEmbedEmbedder(VENDORED_MODEL_NAME, folder, workers=1)
    assert str(info.value) == (
        f"embedding.model_path: no model.onnx in {folder} (the ONNX file fastembed loads for "
        f"{VENDORED_MODEL_NAME}; it holds all-MiniLM-L6-v2.onnx: rename it)"
    )
