"""What the remote providers share: their identity, batches in parallel, normalisation, safe display.

A remote model's identity (:func:`provider_model_id`) is ``provider:model:dimensions``
plus ``@version`` when the user declares one: the embedding cache, the chunks'
``embedding_model`` and the baselines use it, so a new ``version`` (new weights
behind the same name) never reuses the old vectors. The endpoint URL and the
API key are not part of it (the same model served elsewhere shares its cache).

:func:`embed_in_batches` cuts texts into batches of ``batch_size`` and runs at
most ``max_concurrency`` of them at once on threads; the first failure stops the
others (their retries see the abort event) and is raised, with the batch's range.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from goldkeeper.errors import ConfigError

#: embeds one batch: (index of its first text, its texts, the abort event) -> (len, dim) float32.
BatchFunction = Callable[[int, Sequence[str], threading.Event], np.ndarray]


def provider_model_id(provider: str, model: str, dimensions: int, version: str = "") -> str:
    """``provider:model:dimensions[@version]``: the identity of a model served by a provider."""
    base = f"{provider}:{model}:{dimensions}"
    return f"{base}@{version}" if version else base


def identity_sha256(model_id: str) -> str:
    """A remote model has no file: its ``model_sha256`` is the sha256 of its identity."""
    return hashlib.sha256(model_id.encode("utf-8")).hexdigest()


def batch_label(start: int, size: int) -> str:
    """``texts 64-127`` (inclusive, 0-based): how errors name a batch."""
    return f"texts {start}-{start + size - 1}"


def display_url(url: str) -> str:
    """The URL without user info, query or fragment (they may hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows left as they are), float32.

    The norms are taken in float64: in float32, squaring a component of 1e30 overflows (the row
    became all zeros) and squaring 1e-30 underflows (the row stayed unnormalised)."""
    wide = vectors.astype(np.float64)
    norms = np.linalg.norm(wide, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (wide / norms).astype(np.float32)


def check_vectors(vectors: list[Any], expected: int, dim: int, where: str, start: int = 0) -> np.ndarray:
    """``vectors`` as a (expected, dim) float32 array; a wrong count, length, type or an all-zero vector
    (no direction: its cosine distance to anything is NaN) is a one-line error. ``start``: the index of
    the batch's first text, for naming a text."""
    if len(vectors) != expected:
        raise ConfigError(f"{where} returned {len(vectors)} vectors for {expected} texts")
    if not all(isinstance(v, list) for v in vectors):
        raise ConfigError(f"{where} returned vectors that are not lists of numbers")
    lengths = sorted({len(v) for v in vectors})
    if lengths and lengths != [dim]:
        got = ", ".join(str(n) for n in lengths)
        raise ConfigError(
            f"{where} returned vectors of {got} dimensions, expected {dim} (embedding.dimensions)",
            key="embedding.dimensions",
        )
    # checked in Python: numpy's float conversion would accept "0.5" and true as numbers
    if not all(type(x) in (int, float) for v in vectors for x in v):
        raise ConfigError(f"{where} returned vectors that are not lists of numbers")
    try:
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused below
            array = np.asarray(vectors, dtype=np.float64).astype(np.float32).reshape(expected, dim)
    except OverflowError:  # an integer beyond any float (10**400)
        array = np.full((expected, dim), np.inf, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ConfigError(f"{where} returned vectors with NaN or infinite values")
    zero = np.flatnonzero(~array.any(axis=1))
    if zero.size:
        raise ConfigError(f"{where} returned an all-zero vector for text {start + int(zero[0])}")
    return array


def embed_in_batches(
    texts: Sequence[str], dim: int, *, batch_size: int, max_concurrency: int, embed_batch: BatchFunction
) -> np.ndarray:
    """(len(texts), dim) float32, L2-normalised: batches of ``batch_size``, ``max_concurrency`` at once."""
    if len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    starts = list(range(0, len(texts), batch_size))
    abort = threading.Event()

    def run(start: int) -> np.ndarray:
        return embed_batch(start, texts[start : start + batch_size], abort)

    if len(starts) == 1 or max_concurrency == 1:
        parts = [run(start) for start in starts]
    else:
        pool = ThreadPoolExecutor(max_workers=min(max_concurrency, len(starts)), thread_name_prefix="goldkeeper-embed")
        try:
            parts = list(pool.map(run, starts))
        except BaseException:
            abort.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return normalise(np.vstack(parts))


__all__ = [
    "BatchFunction",
    "batch_label",
    "check_vectors",
    "display_url",
    "embed_in_batches",
    "identity_sha256",
    "normalise",
    "provider_model_id",
]
