"""An embedder wrapper that remembers vectors by text.

``eval grounded`` embeds each prompt for the extractive answerer's retrieval
and again for the relevance score; with this wrapper the model sees it once.
Prompts are embedded as queries and sentences / answers as documents (with an
instruction-prefixed model the two differ), so each kind has its own memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class CachingEmbedder:
    """Wraps an embedder and remembers vectors by text, so a run embeds each prompt and sentence once."""

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.model_id = getattr(embedder, "model_id", "")
        self.dim = getattr(embedder, "dim", 0)
        self._cache: dict[str, np.ndarray] = {}
        self._queries: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._remembered(texts, self._cache, self.inner.embed_documents)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._remembered(texts, self._queries, self.inner.embed_queries)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def _remembered(
        self, texts: Sequence[str], cache: dict[str, np.ndarray], embed: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in cache))
        if todo:
            for text, vector in zip(todo, embed(todo), strict=True):
                cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cache[t] for t in texts])


__all__ = ["CachingEmbedder"]
