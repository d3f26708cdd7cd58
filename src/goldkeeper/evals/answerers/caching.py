"""An embedder wrapper that remembers vectors by text.

``eval grounded`` embeds each prompt for the extractive answerer's retrieval
and again for the relevance score; with this wrapper the model sees it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class CachingEmbedder:
    """Wraps an embedder and remembers vectors by text, so a run embeds each prompt and sentence once."""

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.model_id = getattr(embedder, "model_id", "")
        self.dim = getattr(embedder, "dim", 0)
        self._cache: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for text, vector in zip(todo, self.inner.embed_documents(todo), strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


__all__ = ["CachingEmbedder"]
