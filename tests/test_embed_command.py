"""The ``command:PROGRAM`` provider: a real external program over stdin/stdout JSON lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embed_command_support import expected_vector, runs, write_program
from golden_support import fingerprint, make_records
from goldkeeper.config import EmbeddingParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.embed import load_embedder
from goldkeeper.embed.command_backend import CommandEmbedder
from goldkeeper.errors import ConfigError

TEXTS = ["alpha", "beta gamma", "delta", "epsilon zeta eta", "theta"]


def _embedder(folder: Path, **overrides: object) -> CommandEmbedder:
    params = EmbeddingParams.model_validate(
        {"provider": write_program(folder), "model": "team/e5", "dimensions": 8, "batch_size": 2, **overrides}
    )
    embedder = load_embedder(params, root=folder)
    assert isinstance(embedder, CommandEmbedder)
    return embedder


def test_texts_go_in_batches_and_vectors_come_back_in_order(tmp_path: Path) -> None:
    embedder = _embedder(tmp_path, max_concurrency=2)
    vectors = embedder.embed_documents(TEXTS)
    assert sorted(runs(tmp_path)) == [1, 2, 2]
    np.testing.assert_allclose(vectors, np.stack([expected_vector(t) for t in TEXTS]), atol=1e-6)
    np.testing.assert_allclose(embedder.embed_query("alpha"), expected_vector("alpha", query=True), atol=1e-6)
    assert embedder.model_id == "command:team/e5:8"
    assert _embedder(tmp_path, version="v2").model_id == "command:team/e5:8@v2"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FAKE_EMBED_FAIL", "1", r"\(texts 0-1\) exited with status 3: CUDA out of memory$"),
        ("FAKE_EMBED_SLEEP", "5", r"\(texts 0-1\) timed out after 0.5 s$"),
        ("FAKE_EMBED_DIM", "5", r"\(texts 0-1\) returned vectors of 5 dimensions, expected 8 \(embedding.dimensions\)"),
        ("FAKE_EMBED_DROP", "1", r"\(texts 0-1\) returned 1 vectors for 2 texts$"),
        ("FAKE_EMBED_GARBAGE", "1", r"\(texts 0-1\): output line 1 is not JSON$"),
    ],
)
def test_a_failing_program_is_one_line_naming_it_and_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=r"^embedding command '.*embed.py' " + message) as failure:
        _embedder(tmp_path, timeout_seconds=0.5, max_concurrency=1).embed_documents(TEXTS)
    assert "\n" not in str(failure.value)
    assert len(runs(tmp_path)) == 1  # the first failing batch stops the run


def test_a_missing_program_is_a_config_error(tmp_path: Path) -> None:
    params = EmbeddingParams(provider="command:/no/such/embedder --fast", dimensions=8)
    with pytest.raises(ConfigError, match=r"cannot run '/no/such/embedder'"):
        load_embedder(params, root=tmp_path).embed_documents(["x"])


def test_restore_through_the_command_and_a_failure_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    embedder = _embedder(tmp_path, batch_size=4)
    analyses, queries = make_records(3)
    report = restore_records(database_url, analyses, queries, embedder)
    assert (report.chunks_embedded, report.embeddings_computed, report.model_id) == (9, 9, "command:team/e5:8")
    before = fingerprint(database_url)
    monkeypatch.setenv("FAKE_EMBED_FAIL", "1")
    more, more_queries = make_records(4, tag=" v2")
    with pytest.raises(ConfigError, match="exited with status 3"):
        restore_records(database_url, more, more_queries, embedder, replace=True)
    assert fingerprint(database_url) == before


def test_fastembed_checks_a_declared_dimension_and_keeps_its_identity() -> None:
    embedder = load_embedder(EmbeddingParams(dimensions=384))
    assert embedder.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2@sha256:")  # unchanged identity
    with pytest.raises(
        ConfigError, match="embedding.dimensions is 1024 but sentence-transformers/all-MiniLM-L6-v2 has 384"
    ):
        load_embedder(EmbeddingParams(dimensions=1024))
