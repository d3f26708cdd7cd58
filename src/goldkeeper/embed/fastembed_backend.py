"""The fastembed backend: ONNX Runtime on the CPU (or a CUDA GPU), offline with a local model folder.

:class:`FastEmbedEmbedder` wraps ``fastembed.TextEmbedding``. Its ``model_id`` is
``<name>@sha256:<first 16 hex of the ONNX file's sha256>``: the identity used by
the embedding cache, the chunks table and baselines. The sha256 is computed once
per process and file (keyed by path, size and mtime).

Each text is run through the model on its own (an ONNX batch of one). The
vendored model is dynamically quantised: ONNX Runtime computes the int8 scale
of the activations over the whole input tensor, so in a padded batch a text's
vector would depend on the other texts of its batch (cosine ~0.99 between the
two). One text per run makes a vector a pure function of (model file, text),
which is what the embedding cache and reproducible evals rely on; on the CPU it
is no slower, since no padding is computed.

Texts are embedded side by side in worker processes (params ``embedding.workers``,
:mod:`goldkeeper.embed.workers`) on the CPU: one text per run in each, so the
same bytes as in one process.

The device (params ``embedding.device``): ``cpu`` runs ONNX Runtime's CPU
execution provider; ``cuda`` its CUDA provider, and is a :class:`ConfigError`
naming the fix (``pip install 'goldkeeper[gpu]'``) when ONNX Runtime has none or
the session could not start it (no CUDA libraries); ``auto`` is CUDA when
``onnxruntime.get_available_providers()`` offers it and the session starts on it,
else the CPU. Unsupported operators of a CUDA session fall back to the CPU inside
ONNX Runtime, as it does for any provider.

The device and the identity. A GPU computes the same model with other kernels
(other summation orders, fused operators, the int8 steps possibly on the CPU
between them), so its vectors are not bit-identical to the CPU's: they agree
within float tolerance, not to the last bit. The embedding cache, the chunks'
``embedding_model`` and the baselines promise that one identity means one
vector per text, so a CUDA session's identity is the CPU identity plus
``+cuda`` (``<name>@sha256:<16 hex>+cuda``): CPU and GPU vectors are never
mixed in one cache entry or one table, a GPU run re-embeds what the CPU
embedded (and back) instead of reusing it, and a GPU eval is compared with a
baseline measured on a GPU. The file's sha256 stays the identity's root (the
same rules on every device); the CPU identity is unchanged, so existing caches
and baselines stay valid. ``auto`` on a machine without CUDA is the CPU identity.

fastembed and ONNX Runtime write warnings and progress bars; they are kept off
stdout (a command's ``--json`` output must stay parseable) and ONNX Runtime's
log level is raised to errors only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import socket
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import onnxruntime
from loguru import logger

from goldkeeper.embed.workers import WorkerPool, resolve_workers
from goldkeeper.errors import ConfigError

#: params ``embedding.device``.
Device = Literal["auto", "cpu", "cuda"]
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"

#: a call uses the worker processes from this many texts per lane (fewer: not worth a round trip).
_MIN_PER_LANE = 4

#: (resolved path, size, mtime_ns) -> sha256 hex
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process for an unchanged file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _SHA_CACHE.get(key)
    if cached is None:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        cached = _SHA_CACHE[key] = digest.hexdigest()
    return cached


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep fastembed / ONNX Runtime / huggingface_hub chatter off stdout and the log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _silence_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    onnxruntime.set_default_logger_severity(3)
    logger.disable("fastembed")
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


def _text_embedding_class() -> Any:
    """``fastembed.TextEmbedding``, imported once the libraries are silenced.

    Imported here rather than at the top: it is the 1.0 s of an embedder's start-up, and
    huggingface_hub (which fastembed imports) reads the environment defaults set by
    :func:`_silence_libraries` when it is first imported.
    """
    _silence_libraries()
    try:
        from fastembed import TextEmbedding  # noqa: PLC0415 - start-up: 1.0 s, and after _silence_libraries (doc)
    except ImportError as exc:  # pragma: no cover - fastembed is a dependency
        raise ConfigError(f"fastembed is not installed: {exc}") from exc
    return TextEmbedding


def _queries_as_documents(model: Any) -> bool:
    """Whether ``model`` (a loaded ``TextEmbedding``) embeds a query exactly as a document: its model class
    keeps fastembed's base ``query_embed``, which calls ``embed``."""
    from fastembed.text.text_embedding_base import TextEmbeddingBase  # noqa: PLC0415 - loaded with the model

    return type(model.model).query_embed is TextEmbeddingBase.query_embed


class FastEmbedEmbedder:
    """An :class:`~goldkeeper.embed.base.Embedder` backed by ``fastembed.TextEmbedding``.

    ``model_path``: a local folder holding the ONNX file and the tokenizer
    (nothing is downloaded); None: fastembed's own download / cache.
    """

    def __init__(
        self,
        model_name: str,
        model_path: str | Path | None = None,
        *,
        threads: int | None = None,
        cache_dir: str | Path | None = None,
        device: Device = "auto",
        workers: int | str = 1,
    ) -> None:
        text_embedding = _text_embedding_class()
        lanes = resolve_workers(workers)
        if (
            lanes > 1
            and threads is None
            and execution_providers(device, onnxruntime.get_available_providers()) == [CPU_PROVIDER]
        ):
            threads = 1  # each lane one thread: a thread pool per session would only compete with the workers
        if model_path is not None and not Path(model_path).is_dir():
            raise ConfigError(
                f"embedding.model_path: {Path(model_path)} is not a directory", key="embedding.model_path"
            )
        description = _model_description(text_embedding, model_name)
        local_onnx = _local_onnx_file(model_path, description) if model_path is not None else None
        kwargs = _model_options(model_path, threads=threads, cache_dir=cache_dir)
        self._model = _load_on_device(text_embedding, model_name, model_path, kwargs, device)
        #: the device the session runs on: "cuda" or "cpu" (``auto`` resolved).
        self.device = _session_device(self._model, device)
        onnx_file = local_onnx or Path(self._model.model._model_dir) / description["model_file"]
        self.model_name = model_name
        self.model_path = Path(model_path) if model_path is not None else onnx_file.parent
        self.onnx_file = onnx_file
        # The identity: a change of the model file changes every vector, so it names the file's bytes;
        # a GPU's vectors differ from the CPU's in the last bits, so they are another identity (module doc).
        self.model_sha256 = file_sha256(onnx_file)
        self.model_id = f"{model_name}@sha256:{self.model_sha256[:16]}" + ("+cuda" if self.device == "cuda" else "")
        self.dim = int(description["dim"])
        #: chunks per database round trip in :func:`goldkeeper.embed.fill.embed_chunks` (params embedding.batch_size).
        self.batch_size = 64
        model_dir = Path(model_path) if model_path is not None else Path(self._model.model._model_dir)
        #: the worker processes (params embedding.workers), on the CPU only; None: every text in this process.
        self.pool = (
            WorkerPool(model_name, model_dir, lanes, self.model_id) if lanes > 1 and self.device == "cpu" else None
        )
        #: a database round trip of :func:`~goldkeeper.embed.fill.embed_chunks` holds batch_size x this many chunks.
        self.max_concurrency = self.pool.lanes if self.pool is not None else 1
        #: the session's tokenizer without truncation, made on first use (:meth:`token_counts`)
        self._counter: Any = None
        #: the model embeds a query as a document (fastembed's own query_embed, not Jina v3's query task), so
        #: questions go through :meth:`embed_documents` and its worker lanes: same bytes, not one text at a time
        self._queries_as_documents = _queries_as_documents(self._model)

    @property
    def max_tokens(self) -> int | None:
        """The tokens the model reads of a text (the tokenizer truncates the rest: 512); None: no limit."""
        truncation = self._model.model.tokenizer.truncation
        return int(truncation["max_length"]) if truncation else None

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """The tokens of each text, special ones included, before truncation (those past :attr:`max_tokens` are
        cut without a word). The session's tokenizer, already loaded, copied once without truncation: about
        0.7 ms for a 300-token chunk on one core, 1% of the model's 70 ms, so restore can say what it cut (only
        the chunks the model embeds are counted: embed/fill.py skips those whose vector the cache holds)."""
        if self._counter is None:
            from tokenizers import Tokenizer  # noqa: PLC0415 - fastembed's own dependency, loaded with the model

            self._counter = Tokenizer.from_str(self._model.model.tokenizer.to_str())
            self._counter.no_truncation()
            self._counter.no_padding()
        return [len(encoding.ids) for encoding in self._counter.encode_batch(list(texts))]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.pool is not None and len(texts) >= _MIN_PER_LANE * self.pool.lanes:
            return self.pool.embed(texts, self._embed_here, self.dim)
        return self._embed_here(texts)

    def _embed_here(self, texts: Sequence[str]) -> np.ndarray:
        with _quiet():
            # One text per ONNX run: see the module docstring (determinism of int8 models).
            vectors = list(self._model.embed(list(texts), batch_size=1))
        return _normalise(np.asarray(vectors, dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised."""
        with _quiet():
            vectors = list(self._model.query_embed(text))
        return _normalise(np.asarray(vectors, dtype=np.float32))[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised: as documents where the model embeds both alike (so eval
        retrieval's hundreds of questions share the worker lanes), else one ``embed_query`` per text here."""
        if self._queries_as_documents:
            return self.embed_documents(texts)
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed_query(t) for t in texts])

    def __repr__(self) -> str:
        return f"FastEmbedEmbedder({self.model_id!r}, dim={self.dim})"


def execution_providers(device: Device, available: Sequence[str]) -> list[str]:
    """The ONNX Runtime providers for ``embedding.device``, given the ones ONNX Runtime offers."""
    if device == "cpu" or (device == "auto" and CUDA_PROVIDER not in available):
        return [CPU_PROVIDER]
    if CUDA_PROVIDER not in available:
        raise _cuda_error(f"ONNX Runtime offers no CUDA provider (it has {', '.join(available) or 'none'})")
    return [CUDA_PROVIDER, CPU_PROVIDER]


def _load_on_device(
    text_embedding: Any, model_name: str, model_path: str | Path | None, kwargs: dict[str, Any], device: Device
) -> Any:
    """The session on ``device``'s providers; ``auto`` retries on the CPU when a CUDA session cannot be made."""
    providers = execution_providers(device, onnxruntime.get_available_providers())
    try:
        return _load_model(text_embedding, model_name, model_path, {**kwargs, "providers": providers})
    except ConfigError as exc:
        if CUDA_PROVIDER not in providers:
            raise
        if device == "cuda":
            raise _cuda_error(f"the CUDA session failed ({exc})") from exc
    return _load_model(text_embedding, model_name, model_path, {**kwargs, "providers": [CPU_PROVIDER]})


def _session_device(model: Any, device: Device) -> str:
    """``cuda`` when the loaded session runs on the CUDA provider, else ``cpu`` (an error for ``device: cuda``).

    A CUDA provider ONNX Runtime lists can still fail to start (CUDA or cuDNN libraries missing): the
    session then runs on the CPU alone.
    """
    session = getattr(getattr(model, "model", None), "model", None)
    running = list(session.get_providers()) if session is not None else [CPU_PROVIDER]
    if CUDA_PROVIDER in running:
        return "cuda"
    if device == "cuda":
        raise _cuda_error("the CUDA provider did not start (are the CUDA 12 and cuDNN 9 libraries installed?)")
    return "cpu"


def _cuda_error(why: str) -> ConfigError:
    return ConfigError(
        f"embedding.device is cuda but {why}: pip install 'goldkeeper[gpu]', or set embedding.device: auto",
        key="embedding.device",
    )


def _model_description(text_embedding: Any, model_name: str) -> dict[str, Any]:
    """fastembed's catalog entry of ``model_name`` (its dimension and ONNX file name), case-insensitively."""
    supported = {m["model"].lower(): m for m in text_embedding.list_supported_models()}
    description = supported.get(model_name.lower())
    if description is None:
        raise ConfigError(
            f"embedding.model: {model_name!r} is not a fastembed text embedding model",
            key="embedding.model",
        )
    return description


def _local_onnx_file(model_path: str | Path, description: dict[str, Any]) -> Path:
    """The ONNX file fastembed loads from a local model folder: the catalog's file name for the model.

    It is the file the identity hashes, so it must be the one the session runs: another ``.onnx`` beside it
    (``model.onnx`` next to BGE's ``model_optimized.onnx``) is not read, and naming the vectors after it would
    let a changed model reuse the old vectors. Missing, the error names the file the folder needs.
    """
    folder = Path(model_path)
    onnx_file = folder / description["model_file"]
    if not onnx_file.is_file():
        found = sorted(p.name for p in folder.glob("*.onnx"))
        hint = f"; it holds {', '.join(found)}: rename it" if found else ""
        raise ConfigError(
            f"embedding.model_path: no {description['model_file']} in {folder} (the ONNX file fastembed loads "
            f"for {description['model']}{hint})",
            key="embedding.model_path",
        )
    return onnx_file


def _model_options(
    model_path: str | Path | None, *, threads: int | None, cache_dir: str | Path | None
) -> dict[str, Any]:
    """``TextEmbedding`` keyword arguments: threads, and the local folder or cache directory when given."""
    kwargs: dict[str, Any] = {"threads": threads}
    if model_path is not None:
        kwargs["specific_model_path"] = str(model_path)
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    return kwargs


def _load_model(text_embedding: Any, model_name: str, model_path: str | Path | None, kwargs: dict[str, Any]) -> Any:
    """The ONNX session, from the local folder or fastembed's cache; a failure is a :class:`ConfigError`."""
    try:
        with _quiet():
            if model_path is not None:
                return text_embedding(model_name, **kwargs)
            return _load_cached_or_download(text_embedding, model_name, kwargs)
    except ConfigError:
        raise
    except Exception as exc:
        if model_path is not None:
            raise ConfigError(
                f"embedding.model_path: cannot load {model_name!r} from {model_path}: {' '.join(str(exc).split())}",
                key="embedding.model_path",
            ) from exc
        raise _offline_error(model_name) from exc


def _offline_error(model_name: str) -> ConfigError:
    return ConfigError(
        f"model {model_name} is not available offline: set embedding.model_path to a local ONNX directory",
        key="embedding.model",
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (fastembed's download source) answers a TCP connect."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "TRUE", "YES", "ON"}:
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parts = urlsplit(endpoint)
    host = parts.hostname or "huggingface.co"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_cached_or_download(text_embedding: Any, model_name: str, kwargs: dict[str, Any]) -> Any:
    """fastembed's cache first (offline); a download only when the hub is reachable.

    Without this, fastembed retries an unreachable hub with back-off for most of
    a minute before giving up.
    """
    try:
        return text_embedding(model_name, local_files_only=True, **kwargs)
    except Exception:
        pass
    if not _hub_reachable():
        raise _offline_error(model_name)
    return text_embedding(model_name, **kwargs)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


__all__ = ["FastEmbedEmbedder", "execution_providers", "file_sha256", "Device", "CPU_PROVIDER", "CUDA_PROVIDER"]
