"""Embedding worker processes for the fastembed backend (params ``embedding.workers``).

Every text is still one ONNX run, so parallelism over texts changes no vector:
:class:`WorkerPool` runs ``n - 1`` worker processes beside the parent (which
embeds its share meanwhile), each with its own single-threaded ONNX Runtime
session on the same model file. The texts of a call are cut into pieces of a
few texts, taken in order by whichever lane is free, and each piece's vectors
are put back at its place. A vector depends only on (model file, text): a worker's session gives
the same bytes as the parent's whatever its thread count (checked by the tests
with sha256 of the vectors of real texts).

Lifetime. The workers start at the first call that uses them and live as long
as the pool (the embedder is memoised per process): :meth:`WorkerPool.close`
stops them, and runs when the process exits, and whenever a call fails or is
interrupted (the next call starts fresh ones). A worker reads its requests on
its stdin; when the parent dies, even killed, the pipe closes and the worker
exits. Workers run in their own session (a Ctrl-C reaches the parent only,
which then stops them), their stdout is not the parent's (a ``| jq`` reader sees
the end of the output when the parent ends) and their stderr is discarded; a
worker's failure comes back as a one-line :class:`~goldkeeper.errors.ConfigError`.

The protocol: a message is a 4-byte big-endian length and a pickle. A request is
a list of texts; a reply ``("ok", model_id, float32 bytes)`` or ``("error", text)``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from goldkeeper.errors import ConfigError

_HEADER = struct.Struct(">I")
#: seconds a worker may take to exit after its stdin closed, before it is killed.
_EXIT_GRACE = 5.0


#: ``auto`` uses at most this many lanes (a worker holds about 185 MB with the vendored model).
AUTO_MAX = 8


def resolve_workers(workers: int | str) -> int:
    """``auto``: the cores this process may run on, at most :data:`AUTO_MAX`; a number as is (at least 1)."""
    if workers == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        return max(1, min(cores, AUTO_MAX))
    return max(1, int(workers))


def write_message(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # noqa: S301 - our own child process, over its private pipe


class WorkerPool:
    """``lanes - 1`` worker processes embedding with ``model_name`` from ``model_path`` (lane 0: the parent)."""

    def __init__(self, model_name: str, model_path: Path, lanes: int, model_id: str) -> None:
        self.model_name = model_name
        self.model_path = model_path
        self.lanes = lanes
        self.model_id = model_id
        self._procs: list[subprocess.Popen[bytes]] = []
        self.last_lane_texts: tuple[int, ...] = ()
        self._lock = threading.Lock()  # one call at a time: the replies are read in the order of the requests
        weakref.finalize(self, _stop_all, self._procs)  # at exit too (finalize's own atexit hook)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def embed(self, texts: Sequence[str], embed_here: Callable[[list[str]], np.ndarray], dim: int) -> np.ndarray:
        """(len(texts), dim) vectors: pieces of a few texts, taken in order by whichever lane is free.

        Lane 0 runs ``embed_here`` in this process; each worker has a thread here that sends it a piece
        and waits for the vectors (ONNX Runtime and pipe reads release the GIL). A lane that is slower
        (a worker still loading its model, longer texts) simply takes fewer pieces.
        """
        size = max(1, min(8, len(texts) // (self.lanes * 8)))
        pieces = queue.SimpleQueue[int]()
        for start in range(0, len(texts), size):
            pieces.put(start)
        out = np.empty((len(texts), dim), dtype=np.float32)
        failures: list[BaseException] = []
        done = [0] * self.lanes

        def lane(index: int, run: Callable[[list[str]], np.ndarray]) -> None:
            while not failures:
                try:
                    start = pieces.get_nowait()
                except queue.Empty:
                    return
                out[start : start + size] = run(list(texts[start : start + size]))
                done[index] += len(out[start : start + size])

        def worker_lane(index: int, proc: subprocess.Popen[bytes]) -> None:
            try:
                lane(index, lambda piece: self._ask(proc, piece, dim))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
                failures.append(exc)

        with self._lock:
            self._start()
            threads = [
                threading.Thread(target=worker_lane, args=(i, proc), daemon=True)
                for i, proc in enumerate(self._procs, start=1)
            ]
            try:
                for thread in threads:
                    thread.start()
                lane(0, embed_here)
                for thread in threads:
                    thread.join()
                if failures:
                    raise failures[0]
            except BaseException:
                failures.append(RuntimeError("stopped"))  # the other lanes take no further piece
                _stop_all(self._procs, kill=True)  # no worker left behind, nor a half-read reply
                for thread in threads:
                    thread.join()
                raise
        #: texts each lane embedded in the last call (this process first).
        self.last_lane_texts = tuple(done)
        return out

    def _ask(self, proc: subprocess.Popen[bytes], texts: list[str], dim: int) -> np.ndarray:
        try:
            write_message(proc.stdin, texts)  # type: ignore[arg-type]
        except (BrokenPipeError, ValueError):  # the worker ended (or was stopped): its error, or its exit code
            self._reply(proc, len(texts), dim)
            raise
        return self._reply(proc, len(texts), dim)

    def close(self) -> None:
        """Stop the workers (closing their stdin, then killing what has not exited)."""
        with self._lock:
            _stop_all(self._procs)

    def _start(self) -> None:
        if self._procs:
            return
        src = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
        for _ in range(self.lanes - 1):
            self._procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "goldkeeper.embed.worker_main", self.model_name, str(self.model_path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            )

    def _reply(self, proc: subprocess.Popen[bytes], count: int, dim: int) -> np.ndarray:
        reply = read_message(proc.stdout)  # type: ignore[arg-type]
        if reply is None:
            code = proc.wait(timeout=_EXIT_GRACE)
            raise ConfigError(f"embedding worker {proc.pid} exited with code {code} (embedding.workers: 1 avoids them)")
        if reply[0] != "ok":
            raise ConfigError(f"embedding worker {proc.pid}: {reply[1]}")
        if reply[1] != self.model_id:
            raise ConfigError(f"embedding worker {proc.pid} loaded {reply[1]}, expected {self.model_id}")
        return np.frombuffer(reply[2], dtype=np.float32).reshape(count, dim)


def _stop_all(procs: list[subprocess.Popen[bytes]], kill: bool = False) -> None:
    for proc in procs:
        if kill:
            with contextlib.suppress(OSError):
                proc.kill()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
    for proc in procs:
        try:
            proc.wait(timeout=_EXIT_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    procs.clear()


__all__ = ["WorkerPool", "read_message", "resolve_workers", "write_message"]
