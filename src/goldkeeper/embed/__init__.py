"""Embeddings: the interface, the providers (fastembed, openai, command), the vendored default model.

:func:`load_embedder` turns ``params.yaml``'s ``embedding`` section into an
:class:`Embedder`. ``provider: openai`` is an OpenAI-compatible endpoint
(:mod:`goldkeeper.embed.openai_backend`), ``provider: command:PROGRAM`` an
external program (:mod:`goldkeeper.embed.command_backend`); the default,
``fastembed``, runs in process:

- the default model name and no ``model_path``: the int8 all-MiniLM-L6-v2 carried
  inside the package (``embed/models/all-MiniLM-L6-v2-int8``, see its PROVENANCE.md);
  works offline;
- ``model_path``: that local folder (ONNX file + tokenizer), relative paths resolved
  by the caller (``Settings.resolve``);
- any other fastembed catalog name: fastembed's download / cache; without network
  and without a cached copy this is a :class:`~goldkeeper.errors.ConfigError`.

``query_prefix`` / ``document_prefix`` (instruction prefixes, E5's ``"query: "``) wrap the
embedder in a :class:`~goldkeeper.embed.prefix.PrefixedEmbedder`, whose identity names them.
``device`` (``auto | cpu | cuda``) picks ONNX Runtime's execution provider; a CUDA
session's model id ends in ``+cuda`` (see :mod:`goldkeeper.embed.fastembed_backend`).
Loaded fastembed embedders are memoised per process (loading the ONNX session takes a
second). With ``cache: file`` the embedder carries a ``file_cache``
(:class:`~goldkeeper.embed.file_cache.FileEmbeddingCache` on ``cache_dir``, relative to
``root``) that :mod:`goldkeeper.embed.fill` uses instead of the database's cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldkeeper.embed.base import Embedder
from goldkeeper.embed.command_backend import CommandEmbedder
from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.embed.file_cache import FileEmbeddingCache
from goldkeeper.embed.openai_backend import OpenAIEmbedder
from goldkeeper.embed.prefix import PrefixedEmbedder
from goldkeeper.errors import ConfigError

if TYPE_CHECKING:
    from goldkeeper.config import EmbeddingParams

#: the folder of the vendored default model (package data).
VENDORED_MODEL_DIR = Path(__file__).resolve().parent / "models" / "all-MiniLM-L6-v2-int8"
#: the model name the vendored folder holds.
VENDORED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

_LOADED: dict[tuple[str, str | None, int | None, str, int | str], Embedder] = {}


def vendored_model_path(model_name: str) -> Path | None:
    """The vendored folder for ``model_name`` (None when goldkeeper does not carry it)."""
    if model_name.lower() == VENDORED_MODEL_NAME.lower():
        return VENDORED_MODEL_DIR
    return None


def load_embedder(params: EmbeddingParams, *, root: Path | None = None) -> Embedder:
    """The embedder for an ``embedding`` params section (fastembed's memoised per process).

    A relative ``model_path`` or ``cache_dir`` is resolved against ``root`` (the project
    root, ``Settings.root``) when given, else against the current directory; a
    ``command:`` program runs in ``root``.
    """
    embedder: Any
    if params.provider == "openai":
        embedder = OpenAIEmbedder(params)
    elif params.provider.startswith("command:"):
        embedder = CommandEmbedder(params, cwd=root)
    else:
        embedder = _fastembed(params, root)
    if params.query_prefix or params.document_prefix:  # without them the backend itself: its identity unchanged
        embedder = PrefixedEmbedder(embedder, query_prefix=params.query_prefix, document_prefix=params.document_prefix)
    embedder.file_cache = FileEmbeddingCache(_under(root, params.cache_dir)) if params.cache == "file" else None
    return embedder


def _under(root: Path | None, path: str) -> Path:
    resolved = Path(path)
    return Path(root) / resolved if root is not None and not resolved.is_absolute() else resolved


def _fastembed(params: EmbeddingParams, root: Path | None) -> Embedder:
    path: Path | None = Path(params.model_path) if params.model_path else vendored_model_path(params.model)
    if params.model_path and root is not None and path is not None and not path.is_absolute():
        path = Path(root) / path
    key = (params.model, str(path) if path else None, params.threads, params.device, params.workers)
    embedder = _LOADED.get(key)
    if embedder is None:
        embedder = FastEmbedEmbedder(
            params.model, path, threads=params.threads, device=params.device, workers=params.workers
        )
        _LOADED[key] = embedder
    embedder.batch_size = params.batch_size  # type: ignore[attr-defined]
    if params.dimensions is not None and params.dimensions != embedder.dim:
        raise ConfigError(
            f"embedding.dimensions is {params.dimensions} but {params.model} has {embedder.dim} dimensions",
            key="embedding.dimensions",
        )
    return embedder


__all__ = ["Embedder", "load_embedder", "vendored_model_path", "VENDORED_MODEL_DIR", "VENDORED_MODEL_NAME"]
