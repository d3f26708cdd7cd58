"""Fill ``golden.chunks.embedding`` with the configured model, reusing the embedding cache.

:func:`embed_chunks` is what restore (and ``goldkeeper demo``) run after loading
rows. In the caller's transaction it streams the chunks that have no embedding
by this model (``embedding IS NULL`` or another ``embedding_model``), in
batches of ``batch_size``; for each batch it looks the texts up in
``golden.embedding_cache`` by ``(model_id, sha256(text))``, embeds only the
misses (each distinct text once), adds them to the cache, and writes all the
batch's vectors with one COPY + ``UPDATE ... FROM``. Memory is bounded by a batch.

The cache is ``golden.embedding_cache`` unless the embedder carries a
``file_cache`` (:class:`~goldkeeper.embed.file_cache.FileEmbeddingCache`, set
by :func:`goldkeeper.embed.load_embedder` for ``embedding.cache: file``): then
the vectors are looked up in and added to files, flushed when the run ends
(even a failed one). A chunk batch holds ``batch_size x max_concurrency``
chunks, so that a remote provider has ``max_concurrency`` requests to send at once.

``EmbedStats``: ``total`` chunks given a vector, of which ``cached`` came from
the cache and ``computed`` from the model (``total == cached + computed``);
``texts_embedded`` counts the distinct texts the model actually ran on; ``cut``: the chunks whose vector the
model computed (not the cache) longer than it reads (only their first ``max_tokens`` tokens are embedded),
counted when the embedder can count tokens cheaply (``token_counts``: the fastembed backend's loaded
tokenizer), with ``longest`` (chunk id, tokens) of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from goldkeeper.db import embedding_cache as sql
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import ConfigError, GoldkeeperError
from goldkeeper.progress import SILENT, Progress


@dataclass(frozen=True)
class EmbedStats:
    total: int
    cached: int
    computed: int
    seconds: float
    texts_embedded: int = 0
    model_id: str = ""
    #: chunks longer than the model reads (module doc), and the longest of them: (chunk id, tokens)
    cut: int = 0
    longest: tuple[str, int] | None = None
    max_tokens: int | None = None

    def cut_warning(self) -> str | None:
        """One line when chunks were cut to the model's tokens, naming the longest; None when none was."""
        if not self.cut or self.longest is None:
            return None
        return (
            f"{self.cut} chunk(s) are longer than the model's {self.max_tokens} tokens: only their first "
            f"{self.max_tokens} are embedded, the rest does not move the vector (split them); the longest: chunk "
            f"{self.longest[0]} ({self.longest[1]} tokens)"
        )

    @property
    def texts_per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_sha256(text: str) -> str:
    """The embedding cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache(Protocol):
    def lookup(self, model_id: str, shas: list[str]) -> dict[str, np.ndarray]: ...

    def store(self, model_id: str, items: list[tuple[str, np.ndarray]]) -> Any: ...

    def flush(self) -> None: ...


class DatabaseCache:
    """``golden.embedding_cache``, in the caller's transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def lookup(self, model_id: str, shas: list[str]) -> dict[str, np.ndarray]:
        return sql.lookup_cache(self.conn, model_id, shas)

    def store(self, model_id: str, items: list[tuple[str, np.ndarray]]) -> int:
        return sql.store_cache(self.conn, model_id, items)

    def flush(self) -> None:
        """Nothing to do: rows are written as they come and commit with the caller's transaction."""


@contextlib.contextmanager
def flushing(cache: VectorCache) -> Iterator[None]:
    """Flush ``cache`` when the block ends; after a failure a failing flush does not hide the first error."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(GoldkeeperError):
            cache.flush()
        raise
    cache.flush()


def cache_for(conn: Any, embedder: Any) -> VectorCache:
    """The embedder's file cache when it has one (``embedding.cache: file``), else the database's."""
    file_cache = getattr(embedder, "file_cache", None)
    return file_cache if file_cache is not None else DatabaseCache(conn)


def embed_texts_cached(
    conn: Any,
    embedder: Embedder,
    texts: list[str],
    cache: VectorCache | None = None,
    computed_texts: set[str] | None = None,
) -> tuple[np.ndarray, int, int]:
    """Vectors for ``texts`` through the cache; misses are embedded once each and stored.

    Returns ``(vectors, texts served by the model, distinct texts the model embedded)``; the texts the model
    embedded are also added to the set ``computed_texts`` when given.
    """
    cache = cache if cache is not None else cache_for(conn, embedder)
    shas = [text_sha256(t) for t in texts]
    found = cache.lookup(embedder.model_id, sorted(set(shas)))
    missing: dict[str, str] = {}
    for sha, text in zip(shas, texts, strict=True):
        if sha not in found and sha not in missing:
            missing[sha] = text
    if missing:
        vectors = embedder.embed_documents(list(missing.values()))
        if vectors.shape != (len(missing), embedder.dim):
            raise ConfigError(
                f"embedding model {embedder.model_id} returned vectors of shape {vectors.shape}, "
                f"expected ({len(missing)}, {embedder.dim})"
            )
        fresh = dict(zip(missing.keys(), vectors, strict=True))
        if computed_texts is not None:
            computed_texts.update(missing.values())
        cache.store(embedder.model_id, list(fresh.items()))
        found.update(fresh)
    computed = sum(1 for sha in shas if sha in missing)
    out = np.stack([found[sha] for sha in shas]) if shas else np.zeros((0, embedder.dim), dtype=np.float32)
    return out.astype(np.float32, copy=False), computed, len(missing)


class _QueryEmbedder:
    """An embedder view whose "documents" are queries (``embed_queries``), under its own cache key."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.model_sha256 = inner.model_sha256
        self.dim = inner.dim
        self.model_id = f"{inner.model_id}#query"
        self.file_cache = getattr(inner, "file_cache", None)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.inner.embed_queries(texts), dtype=np.float32)


def embed_queries(conn: Any, embedder: Embedder, texts: list[str]) -> np.ndarray:
    """(len(texts), dim) query embeddings through the embedding cache (in the caller's transaction).

    Queries are embedded with ``embed_queries`` (models with query prefixes differ from
    documents) and cached under ``<model_id>#query``, so a repeated eval computes nothing.
    """
    sql.prepare(conn)
    query_embedder = _QueryEmbedder(embedder)
    cache = cache_for(conn, query_embedder)
    with flushing(cache):
        vectors, _, _ = embed_texts_cached(conn, query_embedder, list(texts), cache)  # type: ignore[arg-type]
    return vectors


def embed_chunks(
    conn: Any,
    embedder: Embedder,
    *,
    batch_size: int = 64,
    progress: Progress = SILENT,
    vectors: Any = None,
) -> EmbedStats:
    """Embed every chunk that lacks a vector by ``embedder.model_id`` (in the caller's transaction).

    ``vectors``: where the chunk vectors live (``count_stale``, ``iter_stale``, ``write``: the application's
    own table, :class:`goldkeeper.db.mapped_loader.MappedChunkVectors`); None: ``golden.chunks``."""
    count, iterate, write = (
        (sql.count_stale_chunks, sql.iter_stale_chunks, sql.write_chunk_embeddings)
        if vectors is None
        else (vectors.count_stale, vectors.iter_stale, vectors.write)
    )
    start = time.perf_counter()
    sql.prepare(conn)
    model_id = embedder.model_id
    cache = cache_for(conn, embedder)
    todo = count(conn, model_id)
    chunk_batch = batch_size * int(getattr(embedder, "max_concurrency", 1) or 1)
    total = cached = computed = texts_embedded = 0
    lengths = _CutCounter(embedder)
    with progress.task(f"embedding chunks ({embedder.model_name})", todo) as task:
        with flushing(cache):  # the file cache keeps what was computed, even when the run fails
            for batch in iterate(conn, model_id, chunk_batch):
                texts = [content for _, content in batch]
                fresh: set[str] = set()
                vectors, n_computed, n_texts = embed_texts_cached(conn, embedder, texts, cache, fresh)
                # a vector from the cache was cut (and warned about) when it was computed: warned once, not on
                # every restore of the same chunks (the sample's 8 long paragraphs in each CI run)
                lengths.add([(cid, content) for cid, content in batch if content in fresh])
                texts_embedded += n_texts
                write(conn, model_id, [(cid, vec) for (cid, _), vec in zip(batch, vectors, strict=True)])
                total += len(batch)
                computed += n_computed
                cached += len(batch) - n_computed
                task.advance(len(batch))
    return EmbedStats(
        total=total,
        cached=cached,
        computed=computed,
        seconds=time.perf_counter() - start,
        texts_embedded=texts_embedded,
        model_id=model_id,
        cut=lengths.cut,
        longest=lengths.longest,
        max_tokens=lengths.limit,
    )


class _CutCounter:
    """The chunks longer than the embedder's ``max_tokens`` (its tokenizer cuts the rest), when it can count
    tokens (``token_counts``); a backend that cannot (a command, an endpoint) counts none."""

    def __init__(self, embedder: Any) -> None:
        self.limit: int | None = getattr(embedder, "max_tokens", None)
        self._count = getattr(embedder, "token_counts", None) if self.limit else None
        self.cut = 0
        self.longest: tuple[str, int] | None = None

    def add(self, batch: list[tuple[Any, str]]) -> None:
        if self._count is None or self.limit is None:
            return
        for (chunk_id, _), tokens in zip(batch, self._count([text for _, text in batch]), strict=True):
            if tokens > self.limit:
                self.cut += 1
                if self.longest is None or tokens > self.longest[1]:
                    self.longest = (str(chunk_id), tokens)


__all__ = [
    "DatabaseCache",
    "EmbedStats",
    "VectorCache",
    "cache_for",
    "embed_chunks",
    "embed_queries",
    "embed_texts_cached",
    "text_sha256",
]
