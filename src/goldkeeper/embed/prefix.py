"""Instruction prefixes (params ``embedding.query_prefix`` / ``document_prefix``), for every provider.

Models such as E5 (``"query: "`` / ``"passage: "``), BGE (an instruction before queries only) or
nomic-embed (``"search_query: "`` / ``"search_document: "``) were trained with a prefix before
each text, and the production system embeds that way; goldkeeper must embed the same strings,
or its restored vectors differ from production and its retrieval metrics measure another system.

:class:`PrefixedEmbedder` wraps any backend: ``embed_documents`` prepends the document prefix,
``embed_query`` / ``embed_queries`` the query prefix, so the fastembed model, the OpenAI-compatible
endpoint and the ``command:`` program all receive the prefixed text (none of them knows the
convention). :func:`goldkeeper.embed.load_embedder` wraps only when a prefix is set.

The identity (:func:`prefixed_model_id`): ``<backend model_id>+prefix:<16 hex>``, the hex the
sha256 of both prefixes, so the embedding caches (database and file, keyed by the identity), the
chunks' ``embedding_model`` and the baselines never mix vectors made with other prefixes. Both
prefixes are in the one identity: a new query prefix changes the metrics, so it must not be gated
against the old baseline (the chunks are embedded again at the next restore). The prefixes are
hashed, not spelled out: they may be long or hold a newline, and the identity is printed on one
line. Without prefixes nothing is wrapped and the identity is the backend's, byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson


def prefixed_model_id(model_id: str, query_prefix: str, document_prefix: str) -> str:
    """``model_id`` unchanged without prefixes, else ``model_id+prefix:<16 hex of their sha256>``."""
    if not query_prefix and not document_prefix:
        return model_id
    both = orjson.dumps({"document": document_prefix, "query": query_prefix})
    return f"{model_id}+prefix:{hashlib.sha256(both).hexdigest()[:16]}"


class PrefixedEmbedder:
    """An :class:`~goldkeeper.embed.base.Embedder` prepending the instruction prefixes to another's input."""

    def __init__(self, inner: Any, *, query_prefix: str = "", document_prefix: str = "") -> None:
        self.inner = inner
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.model_name: str = inner.model_name
        self.model_sha256: str = inner.model_sha256
        self.dim: int = inner.dim
        self.model_id = prefixed_model_id(inner.model_id, query_prefix, document_prefix)
        self.file_cache: Any = None

    def __getattr__(self, name: str) -> Any:
        # the backend's other attributes (batch_size, max_concurrency, runs, close) are read through the wrapper
        return getattr(self.inner, name)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_documents([self.document_prefix + t for t in texts])

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """The tokens of each chunk as the model reads it: the document prefix counts toward its 512 (fill's
        warning about cut chunks); only asked of a backend with ``max_tokens`` (fastembed)."""
        return self.inner.token_counts([self.document_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(self.query_prefix + text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries([self.query_prefix + t for t in texts])

    def __repr__(self) -> str:
        return f"PrefixedEmbedder({self.model_id!r}, {self.inner!r})"


__all__ = ["PrefixedEmbedder", "prefixed_model_id"]
