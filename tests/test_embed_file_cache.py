"""``embedding.cache: file``: vectors kept in files between runs (a CI cache), never in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

import goldkeeper.embed.file_cache as file_cache_module
from embed_command_support import runs, write_program
from embed_support import FakeEndpoint
from golden_support import fingerprint, make_records
from goldkeeper.config import EmbeddingParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.embed import load_embedder
from goldkeeper.embed.file_cache import FileEmbeddingCache, model_folder_name
from goldkeeper.errors import ConfigError
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")
KEY = "sk-file-cache-test-KEY-7f3a9c"


def _vectors(url: str) -> dict[str, bytes]:
    with psycopg.connect(url) as conn:
        register_vector(conn)
        rows = conn.execute("SELECT id::text, embedding FROM golden.chunks ORDER BY id").fetchall()
        assert conn.execute("SELECT count(*) FROM golden.embedding_cache").fetchone() == (0,)  # not in the database
    return {cid: np.asarray(vec.to_numpy(), dtype=np.float32).tobytes() for cid, vec in rows}


def test_a_second_restore_into_a_fresh_database_embeds_nothing(
    tmp_path: Path, database_url: str, second_database: str
) -> None:
    program = write_program(tmp_path / "bin")
    params = EmbeddingParams(provider=program, dimensions=8, batch_size=4, cache="file")
    analyses, queries = make_records(6)  # 18 chunks

    first = restore_records(database_url, analyses, queries, load_embedder(params, root=tmp_path / "bin"))
    assert (first.chunks_embedded, first.embeddings_computed) == (18, 18)
    calls = len(runs(tmp_path / "bin"))
    assert calls == 5  # ceil(18 / 4)
    assert (tmp_path / "bin" / ".goldkeeper" / "embedding-cache").is_dir()

    # a fresh process would build a fresh embedder: only the files carry over
    second = restore_records(second_database, analyses, queries, load_embedder(params, root=tmp_path / "bin"))
    assert (second.chunks_embedded, second.embeddings_cached, second.embeddings_computed) == (18, 18, 0)
    assert len(runs(tmp_path / "bin")) == calls  # the program never ran again
    first_vectors, second_vectors = _vectors(database_url), _vectors(second_database)
    assert len(first_vectors) == 18 and first_vectors == second_vectors  # bit-identical


def test_the_same_with_the_openai_provider(tmp_path: Path, database_url: str, second_database: str) -> None:
    endpoint = FakeEndpoint()
    try:
        params = EmbeddingParams(
            provider="openai", base_url=endpoint.base_url, dimensions=384, batch_size=5, cache="file"
        )
        analyses, queries = make_records(4)  # 12 chunks
        first = restore_records(database_url, analyses, queries, load_embedder(params, root=tmp_path))
        sent = (endpoint.requests, endpoint.texts)
        second = restore_records(second_database, analyses, queries, load_embedder(params, root=tmp_path))
    finally:
        endpoint.stop()
    assert (first.embeddings_computed, sent) == (12, (3, 12))
    assert (second.embeddings_cached, second.embeddings_computed) == (12, 0)
    assert (endpoint.requests, endpoint.texts) == sent  # no request at all
    assert _vectors(database_url) == _vectors(second_database)


def test_a_failed_restore_keeps_the_vectors_it_computed_so_a_retry_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    folder = tmp_path / "bin"
    params = EmbeddingParams(
        provider=write_program(folder), dimensions=8, batch_size=2, max_concurrency=1, cache="file"
    )
    analyses, queries = make_records(2)  # 6 chunks: three runs of the program
    assert set(fingerprint(database_url).values()) == {None}
    monkeypatch.setenv("FAKE_EMBED_FAIL_AT_RUN", "3")
    with pytest.raises(ConfigError, match="exited with status 3"):
        restore_records(database_url, analyses, queries, load_embedder(params, root=folder))
    assert set(fingerprint(database_url).values()) == {None}  # rolled back: not even the schema is left
    monkeypatch.delenv("FAKE_EMBED_FAIL_AT_RUN")
    again = restore_records(database_url, analyses, queries, load_embedder(params, root=folder))
    assert (again.chunks_embedded, again.embeddings_cached, again.embeddings_computed) == (6, 4, 2)
    assert runs(folder) == [2, 2, 2, 2]


def test_segments_round_trip_bit_for_bit_and_skip_half_written_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((5, 16)).astype(np.float32)
    cache = FileEmbeddingCache(tmp_path)
    cache.store("m@1", [(f"{i:064x}", vectors[i]) for i in range(3)])
    assert cache.lookup("m@1", [f"{0:064x}"])[f"{0:064x}"].tobytes() == vectors[0].tobytes()  # buffered
    cache.flush()
    cache.store("m@1", [(f"{i:064x}", vectors[i]) for i in range(3, 5)])
    cache.flush()
    folder = tmp_path / model_folder_name("m@1")
    assert len(list(folder.glob("*.index.npy"))) == 2
    (folder / "99999999999999999999-1-dead.vectors.npy").write_bytes(b"half")  # a crash before the index
    (folder / "99999999999999999999-2-beef.index.npy").write_bytes(b"garbage")  # an unreadable segment

    again = FileEmbeddingCache(tmp_path)
    found = again.lookup("m@1", [f"{i:064x}" for i in range(6)])
    assert sorted(found) == [f"{i:064x}" for i in range(5)]
    assert all(found[f"{i:064x}"].tobytes() == vectors[i].tobytes() for i in range(5))
    assert again.lookup("other@1", [f"{0:064x}"]) == {}  # another identity, another folder


def test_many_segments_are_merged_into_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_cache_module, "MAX_SEGMENTS", 3)
    cache = FileEmbeddingCache(tmp_path)
    for i in range(4):
        cache.store("m", [(f"{i:064x}", np.full(4, i, dtype=np.float32))])
        cache.flush()
    assert len(list((tmp_path / model_folder_name("m")).glob("*.npy"))) == 2  # one segment: index + vectors
    found = FileEmbeddingCache(tmp_path).lookup("m", [f"{i:064x}" for i in range(4)])
    assert [found[f"{i:064x}"][0] for i in range(4)] == [0.0, 1.0, 2.0, 3.0]


def _files_containing(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_the_api_key_never_appears_in_output_errors_files_or_the_database(tmp_path: Path, database_url: str) -> None:
    endpoint = FakeEndpoint(key=KEY)
    try:
        analyses, queries = make_records(3)
        write_store(tmp_path / "golden", "t", analyses, queries, {"analyses": 2, "queries": 2})
        (tmp_path / "params.yaml").write_text(
            "embedding:\n  provider: openai\n"
            f"  base_url: {endpoint.base_url}\n  dimensions: 384\n  api_key_env: GK_SECRET_EMBED_KEY\n"
            "  max_retries: 1\n  retry_backoff_seconds: 0.01\n  cache: file\n"
        )
        env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url, "GK_SECRET_EMBED_KEY": KEY}
        ok = subprocess.run(
            [GOLDKEEPER, "restore", "--json", "--marker", "restore.json"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        assert endpoint.texts == 9
        endpoint.always_fail = True
        more, more_queries = make_records(4, tag=" v2")
        write_store(tmp_path / "golden", "t", more, more_queries, {"analyses": 2, "queries": 2})
        failed = subprocess.run(
            [GOLDKEEPER, "restore", "--replace"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )  # fmt: skip
    finally:
        endpoint.stop()
    assert failed.returncode == 3
    assert (
        f"embedding endpoint {endpoint.base_url}/embeddings failed on texts 0-11 after 2 attempts: HTTP 500"
        in failed.stderr
    )
    for text in (ok.stdout, ok.stderr, failed.stdout, failed.stderr):
        assert KEY not in text
    assert _files_containing(tmp_path, KEY.encode()) == []
    assert len(list((tmp_path / ".goldkeeper" / "embedding-cache").rglob("*.index.npy"))) == 1
    with psycopg.connect(database_url) as conn:
        dumped = conn.execute("SELECT string_agg(DISTINCT embedding_model, ',') FROM golden.chunks").fetchone()[0]
    assert dumped == "openai:sentence-transformers/all-MiniLM-L6-v2:384" and KEY not in dumped
