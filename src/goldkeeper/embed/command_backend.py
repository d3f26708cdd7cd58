"""The ``command:PROGRAM`` provider: an external program embeds batches over stdin/stdout JSON lines.

Like the ``command:`` answerer and judge (the run itself is :func:`goldkeeper.programs.run_program`,
which the three share): the program is run once
per batch of ``batch_size`` texts, in the project root, with one JSON object per
line on stdin::

    {"text": "...", "kind": "document"}      (``kind`` is "query" for a query)

and must write one line per text, in order, on stdout: the vector as a JSON
array, or an object with an ``embedding`` array. A timeout
(``timeout_seconds``), a non-zero exit, a wrong number of lines or a vector of
another length than ``dimensions`` fails the batch with one line naming the
program and the batch's text range; nothing is retried (the program owns its retries).
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson

from goldkeeper.config import EmbeddingParams
from goldkeeper.embed.batching import batch_label, check_vectors, embed_in_batches, identity_sha256, provider_model_id
from goldkeeper.errors import ConfigError
from goldkeeper.programs import run_program


class CommandEmbedder:
    """An :class:`~goldkeeper.embed.base.Embedder` backed by an external program."""

    def __init__(self, params: EmbeddingParams, *, cwd: Path | None = None) -> None:
        program = params.provider.removeprefix("command:").strip()
        try:
            self.argv = shlex.split(program)
        except ValueError as exc:
            raise ConfigError(f"embedding.provider command:{program}: cannot parse the command line: {exc}") from exc
        if not self.argv or params.dimensions is None:
            raise ConfigError("provider command:PROGRAM needs a program and embedding.dimensions", key="embedding")
        self.program = program
        self.cwd = cwd
        self.model_name = params.model
        self.dim = params.dimensions
        self.model_id = provider_model_id("command", params.model, params.dimensions, params.version)
        self.model_sha256 = identity_sha256(self.model_id)
        self.batch_size = params.batch_size
        self.max_concurrency = params.max_concurrency
        self.timeout_seconds = params.timeout_seconds
        #: program runs (one per batch): what tests and benchmarks count.
        self.runs = 0
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        return self._embed(texts, "document")

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised (the program is told ``"kind": "query"``)."""
        return self._embed([text], "query")[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised, in batches (the program is told ``"kind": "query"``)."""
        return self._embed(texts, "query")

    def __repr__(self) -> str:
        return f"CommandEmbedder({self.model_id!r}, program={self.program!r})"

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        def run(start: int, batch: Sequence[str], abort: threading.Event) -> np.ndarray:
            if abort.is_set():
                raise ConfigError(f"embedding command {self.program!r}: {batch_label(start, len(batch))} abandoned")
            return self._run_batch(start, batch, kind)

        return embed_in_batches(
            list(texts), self.dim, batch_size=self.batch_size, max_concurrency=self.max_concurrency, embed_batch=run
        )

    def _run_batch(self, start: int, texts: Sequence[str], kind: str) -> np.ndarray:
        where = f"embedding command {self.program!r} ({batch_label(start, len(texts))})"
        stdin = b"".join(orjson.dumps({"text": t, "kind": kind}) + b"\n" for t in texts)
        with self._lock:
            self.runs += 1
        try:
            done = run_program(self.argv, stdin, cwd=self.cwd, timeout=self.timeout_seconds)
        except OSError as exc:
            raise ConfigError(f"{where}: cannot run {self.argv[0]!r}: {exc.strerror or exc}") from None
        if done.failure is not None:
            raise ConfigError(f"{where} {done.failure}{done.detail}")
        return check_vectors(_parse_lines(done.stdout, where), len(texts), self.dim, where, start)


def _parse_lines(stdout: bytes, where: str) -> list[list[float]]:
    vectors: list[list[float]] = []
    for number, line in enumerate(stdout.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ConfigError(f"{where}: output line {number} is not JSON") from None
        if isinstance(value, dict):
            value = value.get("embedding")
        if not isinstance(value, list):
            raise ConfigError(f"{where}: output line {number} is neither a JSON array nor an object with 'embedding'")
        vectors.append(value)
    return vectors


__all__ = ["CommandEmbedder"]
