"""The embedder interface every backend implements (fastembed is the default).

Vectors are float32 and L2-normalised, so cosine distance in pgvector is the
right metric. ``model_id`` is the identity used in the embedding cache, in the
chunks table and in baselines: the model name plus the sha256 of its ONNX file
(``name@sha256:<first 16 hex>``), so two different files with the same name
never share cached vectors.

Questions searched for are embedded with ``embed_query`` / ``embed_queries``, every
other text with ``embed_documents``: a model trained with instruction prefixes
(params ``embedding.query_prefix`` / ``document_prefix``, applied by
:class:`goldkeeper.embed.prefix.PrefixedEmbedder`) embeds the two sides differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    model_name: str
    model_id: str
    model_sha256: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 array of passage embeddings."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32 embedding of a query."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 query embeddings (a remote provider sends them in batches)."""
        ...
