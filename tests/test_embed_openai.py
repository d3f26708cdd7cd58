"""The ``openai`` provider against a real OpenAI-compatible endpoint on 127.0.0.1 (serving the vendored model)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from embed_support import FakeEndpoint
from golden_support import fingerprint, make_records
from goldkeeper.config import EmbeddingParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.embed import load_embedder
from goldkeeper.embed.batching import display_url
from goldkeeper.embed.openai_backend import OpenAIEmbedder, embeddings_url, retry_after_seconds
from goldkeeper.errors import ConfigError

KEY = "sk-test-0123456789abcdefSECRET"
TEXTS = [f"the river delta number {i} carries sediment" for i in range(7)]


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    server = FakeEndpoint(key=KEY)
    try:
        yield server
    finally:
        server.stop()


def _params(endpoint: FakeEndpoint, **overrides: object) -> EmbeddingParams:
    values: dict[str, object] = {
        "provider": "openai",
        "base_url": endpoint.base_url,
        "dimensions": 384,
        "api_key_env": "GK_TEST_EMBED_KEY",
        "batch_size": 2,
        "max_concurrency": 3,
        "retry_backoff_seconds": 0.01,
        **overrides,
    }
    return EmbeddingParams.model_validate(values)


@pytest.fixture
def embedder_for(endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GK_TEST_EMBED_KEY", KEY)

    def make(**overrides: object) -> OpenAIEmbedder:
        embedder = load_embedder(_params(endpoint, **overrides))
        assert isinstance(embedder, OpenAIEmbedder)
        return embedder

    return make


def test_vectors_are_the_served_models_in_batches_and_in_order(endpoint: FakeEndpoint, embedder_for) -> None:  # type: ignore[no-untyped-def]
    embedder = embedder_for()
    vectors = embedder.embed_documents(TEXTS)
    expected = load_embedder(EmbeddingParams()).embed_documents(TEXTS)
    assert vectors.shape == (7, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=1e-6)  # sorted by index, not by arrival
    assert (endpoint.requests, endpoint.texts) == (4, 7)  # ceil(7 / batch_size 2)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[3]), expected[3], atol=1e-6)
    assert embedder.model_id == "openai:sentence-transformers/all-MiniLM-L6-v2:384"
    assert embedder_for(version="2025-01").model_id == "openai:sentence-transformers/all-MiniLM-L6-v2:384@2025-01"
    assert KEY not in repr(embedder) and KEY not in embedder.model_id


def test_the_endpoint_receives_the_prefixed_texts(endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GK_TEST_EMBED_KEY", KEY)
    embedder = load_embedder(_params(endpoint, query_prefix="query: ", document_prefix="passage: "))
    embedder.embed_documents(TEXTS[:1])
    embedder.embed_queries(TEXTS[1:2])
    assert endpoint.inputs == [f"passage: {TEXTS[0]}", f"query: {TEXTS[1]}"]  # the endpoint knows no convention
    assert embedder.model_id == "openai:sentence-transformers/all-MiniLM-L6-v2:384+prefix:4b24d1aaebab2949"


def test_429_with_retry_after_and_500_are_retried(endpoint: FakeEndpoint, embedder_for) -> None:  # type: ignore[no-untyped-def]
    embedder = embedder_for(max_retries=3)
    endpoint.script = [("429", "1"), "500"]
    start = time.monotonic()
    vectors = embedder.embed_documents(TEXTS[:2])
    assert time.monotonic() - start >= 1.0  # Retry-After: 1 honoured (the backoff alone is 0.01 s)
    assert endpoint.requests == 3 and vectors.shape == (2, 384)


def test_the_last_retry_fails_with_one_line_naming_endpoint_and_batch(endpoint: FakeEndpoint, embedder_for) -> None:  # type: ignore[no-untyped-def]
    embedder = embedder_for(max_retries=2, max_concurrency=1)
    endpoint.script = [None, "500", "500", "500"]  # batch 0-1 passes, batch 2-3 fails three times
    with pytest.raises(ConfigError) as failure:
        embedder.embed_documents(TEXTS[:4])
    message = str(failure.value)
    assert message == (
        f"embedding endpoint {endpoint.base_url}/embeddings failed on texts 2-3 after 3 attempts: HTTP 500"
    )
    assert endpoint.requests == 4


def test_timeouts_are_retried_then_fail(endpoint: FakeEndpoint, embedder_for) -> None:  # type: ignore[no-untyped-def]
    embedder = embedder_for(max_retries=1, timeout_seconds=0.3)
    endpoint.script = ["slow", "slow"]
    with pytest.raises(ConfigError, match=r"failed on texts 0-1 after 2 attempts: timed out after 0.3 s"):
        embedder.embed_documents(TEXTS[:2])
    endpoint.script = ["slow"]
    assert embedder.embed_documents(TEXTS[:2]).shape == (2, 384)  # one timeout, then an answer


def test_wrong_dimensions_name_both(endpoint: FakeEndpoint, embedder_for) -> None:  # type: ignore[no-untyped-def]
    endpoint.script = ["dims"]
    with pytest.raises(ConfigError, match=r"\(texts 0-1\) returned vectors of 383 dimensions, expected 384"):
        embedder_for().embed_documents(TEXTS[:2])
    assert endpoint.requests == 1  # not retried


def test_a_refused_key_fails_at_once_and_is_masked(endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GK_TEST_EMBED_KEY", KEY + "-wrong")
    with pytest.raises(ConfigError) as failure:
        load_embedder(_params(endpoint, max_retries=4)).embed_documents(TEXTS[:1])
    assert endpoint.requests == 1  # a 401 is not retried
    assert "HTTP 401" in str(failure.value) and "Incorrect API key provided: Bearer ***" in str(failure.value)
    assert KEY not in str(failure.value)


def test_parameters_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="needs base_url"):
        EmbeddingParams(provider="openai", dimensions=8)
    with pytest.raises(ValidationError, match="needs dimensions"):
        EmbeddingParams(provider="openai", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValidationError, match="unknown provider"):
        EmbeddingParams(provider="cohere")
    with pytest.raises(ValidationError, match="only read by provider openai"):
        EmbeddingParams(base_url="http://127.0.0.1:9/v1")
    monkeypatch.delenv("GK_NO_SUCH_KEY", raising=False)
    params = EmbeddingParams(
        provider="openai", base_url="http://127.0.0.1:9/v1", dimensions=8, api_key_env="GK_NO_SUCH_KEY"
    )
    embedder = load_embedder(params)  # verify --db and db init need the identity and dimension, not the key
    assert embedder.model_id == "openai:sentence-transformers/all-MiniLM-L6-v2:8"
    with pytest.raises(ConfigError, match="environment variable GK_NO_SUCH_KEY is not set"):
        embedder.embed_documents(["x"])
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_failed_embedding_fails_the_restore_with_nothing_changed(
    endpoint: FakeEndpoint,
    embedder_for,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    embedder = embedder_for(max_retries=1)
    analyses, queries = make_records(3)
    first = restore_records(database_url, analyses, queries, embedder)
    assert first.chunks_embedded == 9 and first.model_id == embedder.model_id
    before = fingerprint(database_url)
    more, more_queries = make_records(5, tag=" v2")
    endpoint.always_fail = True
    with pytest.raises(ConfigError, match=r"failed on texts 0-1 after 2 attempts: HTTP 500"):
        restore_records(database_url, more, more_queries, embedder, replace=True)
    assert fingerprint(database_url) == before


def test_azure_style_key_header_and_query_string(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeEndpoint(key=KEY, key_header="api-key")
    try:
        monkeypatch.setenv("GK_TEST_EMBED_KEY", KEY)
        params = _params(server, base_url=f"{server.base_url}/?api-version=2024-10-21", api_key_header="api-key")
        embedder = load_embedder(params)
        assert embedder.embed_documents(TEXTS[:1]).shape == (1, 384)
        assert server.paths == ["/v1/embeddings?api-version=2024-10-21"]
        assert embedder.endpoint == f"{server.base_url}/embeddings"  # no query string in messages
    finally:
        server.stop()


def test_urls_in_messages_carry_no_credentials() -> None:
    assert embeddings_url("https://h.example/v1/") == "https://h.example/v1/embeddings"
    assert (
        display_url("https://user:pw@h.example:8443/v1/embeddings?key=abc#x") == "https://h.example:8443/v1/embeddings"
    )


@settings(max_examples=60, deadline=None)
@given(key=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40))
def test_an_echoed_key_is_always_masked(key: str) -> None:
    embedder = OpenAIEmbedder(
        EmbeddingParams(provider="openai", base_url="http://127.0.0.1:9/v1", dimensions=4, api_key_env="K"),
        env={"K": key},
    )
    embedder._mask = key  # what the first request sets
    body = f"{{'error': 'Incorrect API key provided: {key}', 'padding': '{'x' * 190}', 'again': '{key}'}}"
    excerpt = embedder._excerpt(body.encode())
    assert key not in excerpt and key not in repr(embedder) and key not in embedder.model_id
