"""The ``openai`` provider: any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

OpenAI, Azure OpenAI, vLLM, text-embeddings-inference, Ollama, LiteLLM all speak
it: the request is ``{"model": ..., "input": [texts]}`` (plus ``dimensions`` when
``request_dimensions``), the answer ``{"data": [{"index": i, "embedding": [...]}]}``.

- The API key is read from the environment variable named by ``api_key_env``
  at the first request (building the embedder, e.g. for ``verify --db``, needs
  none); it lives only in the HTTP client's headers (``Authorization: Bearer``,
  or the bare key in ``api_key_header``, e.g. Azure's ``api-key``). It is
  never part of an error, a repr, the identity or a file, and any echo of it in
  a response body quoted by an error is masked.
- Texts go in batches of ``batch_size``, at most ``max_concurrency`` requests at once.
- A 429, a 5xx, a timeout or a lost connection is retried ``max_retries`` times
  with exponential backoff (``retry_backoff_seconds``, doubled each time, capped
  at 60 s); a ``Retry-After`` header (seconds or an HTTP date) wins. Each retry is
  one warning on the ``goldkeeper`` logger (the CLI prints it), so a long wait is
  never silent. After the last retry the error names the endpoint (without
  credentials), the batch's text range and the last reason. Other 4xx answers and
  redirects (not followed: the key would go with them) fail at once.
- ``timeout_seconds`` bounds the whole exchange, not each read: a server trickling
  its status line, headers or body times out too (:mod:`goldkeeper.embed.deadline_http`). A body over :data:`MAX_BODY_BYTES` fails the batch.
- A vector of another length than ``dimensions`` is an error naming both; ``index``
  fields must be 0..n-1, each once.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np

from goldkeeper.config import EmbeddingParams
from goldkeeper.embed.batching import (
    batch_label,
    check_vectors,
    display_url,
    embed_in_batches,
    identity_sha256,
    provider_model_id,
)
from goldkeeper.embed.deadline_http import BodyTooLarge, DeadlineClient
from goldkeeper.errors import ConfigError

#: the longest wait between two attempts, whatever Retry-After says.
MAX_BACKOFF_SECONDS = 60.0
#: the largest answer read (256 MiB, as a ``command:`` program's stdout): a 2048-dim batch of 64 is ~3 MB.
MAX_BODY_BYTES = 256 * 2**20

log = logging.getLogger("goldkeeper")


class _Retryable(Exception):
    """One failed attempt that may be retried: its reason, and the server's Retry-After (seconds) if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def read_api_key(params: EmbeddingParams, env: Mapping[str, str]) -> str | None:
    """The key from the variable named by ``api_key_env`` (None without one); unset, empty or holding a
    character outside printable ASCII is an error (which never quotes the key)."""
    if not params.api_key_env:
        return None
    key = env.get(params.api_key_env, "")
    if not key.strip():
        raise ConfigError(
            f"embedding.api_key_env: the environment variable {params.api_key_env} is not set",
            key="embedding.api_key_env",
        )
    key = key.strip()
    bad = next((i for i, char in enumerate(key) if not " " <= char <= "~"), None)
    if bad is not None:  # httpx would crash (non-ASCII) or fail every attempt as a lost connection (a control)
        raise ConfigError(
            f"embedding.api_key_env: the value of {params.api_key_env} holds a character an HTTP header cannot "
            f"carry (position {bad + 1}: a control or non-ASCII character, quotes pasted with the key?)",
            key="embedding.api_key_env",
        )
    return key


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header in seconds (a number, or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def embeddings_url(base_url: str) -> str:
    """``{base_url}/embeddings``, a query string kept (Azure's ``?api-version=``)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/embeddings", parts.query, ""))


#: the environment variables httpx takes a proxy from (trust_env), in either case
PROXY_VARIABLES = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY")


def _async_client(params: EmbeddingParams, headers: dict[str, str]) -> httpx.AsyncClient:
    """The endpoint's HTTP client (proxies, certificates from the environment); a proxy httpx cannot use (an
    ``ftp://`` or ``socks4://`` one, SOCKS without ``httpx[socks]``) is a ConfigError naming the variable, never
    its value (it may hold a password)."""
    try:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(params.timeout_seconds),
            headers=headers,
            limits=httpx.Limits(max_connections=params.max_concurrency),
            trust_env=True,
        )
    except (ValueError, ImportError) as exc:
        names = [name for var in PROXY_VARIABLES for name in (var, var.lower()) if os.environ.get(name)]
        if not names:
            raise
        why = "SOCKS support is not installed" if isinstance(exc, ImportError) else "its scheme is not supported"
        raise ConfigError(
            f"embedding: the proxy in {' / '.join(names)} cannot be used ({why}): use an http://, https:// or "
            "socks5:// proxy (socks5 needs `pip install 'httpx[socks]'`), or unset the variable"
        ) from None


class OpenAIEmbedder:
    """An :class:`~goldkeeper.embed.base.Embedder` calling an OpenAI-compatible embeddings endpoint."""

    def __init__(self, params: EmbeddingParams, *, env: Mapping[str, str] | None = None) -> None:
        if not params.base_url or params.dimensions is None:
            raise ConfigError("provider openai needs embedding.base_url and embedding.dimensions", key="embedding")
        self.url = embeddings_url(params.base_url)
        self.endpoint = display_url(self.url)
        self.model_name = params.model
        self.dim = params.dimensions
        self.model_id = provider_model_id("openai", params.model, params.dimensions, params.version)
        self.model_sha256 = identity_sha256(self.model_id)
        self.batch_size = params.batch_size
        self.max_concurrency = params.max_concurrency
        self.timeout_seconds = params.timeout_seconds
        self.max_retries = params.max_retries
        self.backoff_seconds = params.retry_backoff_seconds
        self._request_dimensions = params.request_dimensions
        self._params = params
        self._env = os.environ if env is None else env
        self._mask: str | None = None
        self._client: DeadlineClient | None = None
        #: HTTP requests sent (retries included): what tests and benchmarks count.
        self.requests = 0
        self._lock = threading.Lock()

    def _http(self) -> DeadlineClient:
        """The HTTP client, built on the first request: the key is read then (``verify --db`` needs none)."""
        with self._lock:
            if self._client is None:
                key = read_api_key(self._params, self._env)
                self._mask = key
                headers = {}
                if key:
                    header = self._params.api_key_header
                    headers[header] = f"Bearer {key}" if header.lower() == "authorization" else key
                self._client = DeadlineClient(lambda: _async_client(self._params, headers))
            return self._client

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        return embed_in_batches(
            list(texts),
            self.dim,
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            embed_batch=self._embed_batch,
        )

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32: the endpoint has one kind of input, so a query is embedded as a document."""
        return self.embed_documents([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32: as documents, in batches (the endpoint has one kind of input)."""
        return self.embed_documents(texts)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __repr__(self) -> str:
        return f"OpenAIEmbedder({self.model_id!r}, endpoint={self.endpoint!r})"

    # ------------------------------------------------------------------ one batch

    def _embed_batch(self, start: int, texts: Sequence[str], abort: threading.Event) -> np.ndarray:
        label = batch_label(start, len(texts))
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            if abort.is_set():
                raise ConfigError(f"embedding endpoint {self.endpoint}: {label} abandoned (another batch failed)")
            try:
                return self._attempt(texts, label, start)
            except _Retryable as failure:
                if attempt == attempts - 1:
                    raise ConfigError(
                        f"embedding endpoint {self.endpoint} failed on {label} after {attempts} attempt"
                        f"{'s' if attempts > 1 else ''}: {failure.reason}"
                    ) from None
                delay = failure.retry_after
                if delay is None:
                    delay = self.backoff_seconds * (2**attempt)
                delay = min(delay, MAX_BACKOFF_SECONDS)
                # one line per retry: minutes of backoff must not look like a hang
                log.warning(
                    f"embedding endpoint {self.endpoint}: {label}: {failure.reason}, "
                    f"retry {attempt + 1} of {self.max_retries} in {delay:g} s"
                )
                abort.wait(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, texts: Sequence[str], label: str, start: int) -> np.ndarray:
        payload: dict[str, Any] = {"model": self.model_name, "input": list(texts)}
        if self._request_dimensions:
            payload["dimensions"] = self.dim
        client = self._http()
        with self._lock:
            self.requests += 1
        try:
            answer = client.post_json(self.url, payload, timeout=self.timeout_seconds, max_body=MAX_BODY_BYTES)
        except httpx.TimeoutException:
            raise _Retryable(f"timed out after {self.timeout_seconds:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        except BodyTooLarge:
            raise ConfigError(
                f"embedding endpoint {self.endpoint} answered {label} with more than {MAX_BODY_BYTES // 2**20} MiB"
            ) from None
        status, body = answer.status, answer.body
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", retry_after_seconds(answer.headers.get("retry-after")))
        if 300 <= status < 400:
            raise ConfigError(
                f"embedding endpoint {self.endpoint} refused {label}: HTTP {status} redirect "
                "(not followed, the key would go with it: set embedding.base_url to where it points)"
            )
        if status >= 400:
            raise ConfigError(f"embedding endpoint {self.endpoint} refused {label}: HTTP {status}{self._excerpt(body)}")
        return self._vectors(body, len(texts), label, start)

    def _vectors(self, body: bytes, expected: int, label: str, start: int) -> np.ndarray:
        where = f"embedding endpoint {self.endpoint} ({label})"
        try:
            data = json.loads(body)["data"]
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise TypeError(data)
            vectors = [item["embedding"] for item in _in_index_order(data, where)]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{where} did not answer with OpenAI's embeddings JSON{self._excerpt(body)}") from None
        return check_vectors(vectors, expected, self.dim, where, start)

    def _excerpt(self, body: bytes) -> str:
        """``: <first 200 characters of the body on one line>``, the API key masked.

        A JSON body is read and written again first, so an echo escaped by the server (``\\/``,
        ``\\u002d``) is masked too; the match ignores case (a server may lower-case what it quotes)."""
        text = body.decode("utf-8", "replace")
        try:
            text = json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
        text = " ".join(text.split())
        if self._mask:
            key = re.compile(re.escape(self._mask), re.IGNORECASE)
            while key.search(text):  # each pass shortens the text: it ends
                text = key.sub("***" if len(self._mask) > 3 else "", text)
        text = text[:200]
        return f": {text}" if text else ""


def _in_index_order(data: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """``data`` sorted by ``index``, which must be 0..n-1 once each (no ``index`` at all: as sent)."""
    indexes = [item.get("index") for item in data]
    if all(index is None for index in indexes):
        return data
    numbers = [index for index in indexes if type(index) is int]  # bool is not an index
    if len(numbers) == len(indexes) and sorted(numbers) == list(range(len(data))):
        return sorted(data, key=lambda item: item["index"])
    shown = ", ".join(repr(index) for index in indexes[:8]) + (", ..." if len(indexes) > 8 else "")
    raise ConfigError(f"{where} returned data indexes {shown} (expected 0-{len(data) - 1}, each once)")


__all__ = [
    "OpenAIEmbedder",
    "embeddings_url",
    "read_api_key",
    "retry_after_seconds",
    "MAX_BACKOFF_SECONDS",
    "MAX_BODY_BYTES",
]
