"""Embeddings: the interface, the fastembed backend, the vendored default model."""

from .base import Embedder

__all__ = ["Embedder"]
