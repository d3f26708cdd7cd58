"""``embedding.workers``: fastembed in worker processes (real model, real processes, the sample's texts).

Parallel vectors must be the serial ones bit for bit; workers must never outlive their pool, a failed
or interrupted call, or a killed parent, and must not hold the parent's stdout.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from goldkeeper.config import EmbeddingParams
from goldkeeper.embed import VENDORED_MODEL_DIR, VENDORED_MODEL_NAME
from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.embed.workers import AUTO_MAX, WorkerPool, resolve_workers
from goldkeeper.errors import ConfigError
from goldkeeper.store import open_store

REPO = Path(__file__).resolve().parent.parent
GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")


def _sample_texts(n: int) -> list[str]:
    texts = [c.content for a in open_store(REPO / "golden").analyses() for c in a.chunks]
    assert len(texts) >= n
    return texts[:n]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) goldkeeper embedding worker."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and b"goldkeeper.embed.worker_main" in cmdline


def _wait_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture(scope="module")
def parallel() -> FastEmbedEmbedder:
    embedder = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=3)
    yield embedder
    assert embedder.pool is not None
    embedder.pool.close()


def test_parallel_vectors_are_the_serial_ones_bit_for_bit(parallel: FastEmbedEmbedder) -> None:
    texts = _sample_texts(64)
    serial = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=1)
    assert serial.pool is None and parallel.model_id == serial.model_id
    expected = serial.embed_documents(texts)
    parallel.embed_documents(texts[:12])  # starts the workers (a worker still loading would take no piece)
    got = parallel.embed_documents(texts)
    assert parallel.pool is not None and len(parallel.pool.pids) == 2  # three lanes: this process and two workers
    lanes = parallel.pool.last_lane_texts
    assert sum(lanes) == len(texts) and all(n > 0 for n in lanes), lanes  # every lane embedded some texts
    assert all(_alive(pid) for pid in parallel.pool.pids)
    assert [hashlib.sha256(v.tobytes()).hexdigest() for v in got] == [
        hashlib.sha256(v.tobytes()).hexdigest() for v in expected
    ]
    assert len({hashlib.sha256(v.tobytes()).hexdigest() for v in got}) == len(set(texts))  # really different texts
    # a call below the threshold runs here, a second large call reuses the running workers
    pids = parallel.pool.pids
    assert parallel.embed_documents(texts[:3]).tobytes() == expected[:3].tobytes()
    assert parallel.embed_documents(texts[::-1]).tobytes() == expected[::-1].tobytes()
    assert parallel.pool.pids == pids


def test_questions_are_embedded_in_the_worker_lanes_as_the_same_bytes(parallel: FastEmbedEmbedder) -> None:
    # eval retrieval embedded its questions as documents, in the lanes; as queries they went one at a time in
    # this process, though the model embeds a query as a document
    texts = _sample_texts(12)  # the fewest the three lanes share
    assert parallel.pool is not None  # a worker still loading takes no piece: the lanes still embed them all
    parallel.pool.last_lane_texts = ()
    got = parallel.embed_queries(texts)
    assert sum(parallel.pool.last_lane_texts) == len(texts), parallel.pool.last_lane_texts
    assert got.tobytes() == np.stack([parallel.embed_query(t) for t in texts]).tobytes()


def test_a_worker_failure_is_one_line_and_stops_every_worker(parallel: FastEmbedEmbedder) -> None:
    assert parallel.pool is not None
    parallel.embed_documents(_sample_texts(12))
    pids = parallel.pool.pids

    def slow_here(texts: list[str]) -> np.ndarray:  # this process's lane: slow, so the workers get pieces
        time.sleep(0.5)
        return np.zeros((len(texts), parallel.dim), np.float32)

    numbers = [12345] * 64  # a worker's tokenizer refuses a number
    with pytest.raises(ConfigError) as err:
        parallel.pool.embed(numbers, slow_here, parallel.dim)  # type: ignore[arg-type]
    message = str(err.value)
    assert message.startswith("embedding worker ") and int(message.split()[2].rstrip(":")) in pids, message
    assert "\n" not in message
    assert parallel.pool.pids == [] and _wait_gone(pids) == []
    # the next call starts fresh workers and is right again
    texts = _sample_texts(12)
    serial = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=1)
    assert parallel.embed_documents(texts).tobytes() == serial.embed_documents(texts).tobytes()
    assert parallel.pool.pids and not set(parallel.pool.pids) & set(pids)


def test_an_interrupt_in_this_process_stops_the_workers(parallel: FastEmbedEmbedder) -> None:
    assert parallel.pool is not None
    parallel.embed_documents(_sample_texts(12))
    pids = parallel.pool.pids

    def interrupted(_texts: list[str]) -> np.ndarray:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        parallel.pool.embed(_sample_texts(12), interrupted, parallel.dim)
    assert parallel.pool.pids == [] and _wait_gone(pids) == []


def test_a_worker_that_cannot_load_the_model_says_why_in_one_line() -> None:
    pool = WorkerPool("no/such-model", VENDORED_MODEL_DIR, 2, "no/such-model@sha256:0")
    with pytest.raises(ConfigError) as err:
        pool.embed(["a", "b", "c", "d"], lambda texts: np.zeros((len(texts), 4), np.float32), 4)
    assert str(err.value).endswith("embedding.model: 'no/such-model' is not a fastembed text embedding model")
    assert str(err.value).startswith("embedding worker ") and pool.pids == []


CHILD = """
import os, signal, sys
from goldkeeper.embed import VENDORED_MODEL_DIR, VENDORED_MODEL_NAME
from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.embed.workers import AUTO_MAX, WorkerPool, resolve_workers
embedder = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=3)
embedder.embed_documents(["one text", "another text"] * 8)
print(" ".join(map(str, embedder.pool.pids)), flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("end", ["kill", "exit"])
def test_workers_end_with_their_parent_and_never_hold_its_stdout(end: str) -> None:
    # the parent's stdout is a pipe: if a worker held it, reading to its end would hang (timeout)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), end],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == (-9 if end == "kill" else 0), result.stderr
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2
    assert _wait_gone(pids) == []


def test_auto_is_the_cores_at_most_eight_and_a_round_trip_feeds_every_lane(parallel: FastEmbedEmbedder) -> None:
    assert resolve_workers("auto") == min(len(os.sched_getaffinity(0)), AUTO_MAX) and AUTO_MAX == 8
    assert resolve_workers(5) == 5
    assert parallel.max_concurrency == 3  # embed_chunks: batch_size x 3 chunks per database round trip


def test_workers_setting_is_validated() -> None:
    assert EmbeddingParams().workers == "auto"
    assert EmbeddingParams(workers=1).workers == 1
    for bad in (0, -2, "many", True, 2.5):
        with pytest.raises(ValueError, match="should be auto or a number of processes"):
            EmbeddingParams(workers=bad)
    with pytest.raises(ValueError, match="workers is only read by provider fastembed"):
        EmbeddingParams(provider="openai", base_url="http://127.0.0.1:9/v1", dimensions=8, workers=2)


def test_a_bad_workers_value_is_exit_3_at_settings_load(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("embedding:\n  workers: 0\n")
    result = subprocess.run(
        [GOLDKEEPER, "verify"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        "error: params: embedding.workers: should be auto or a number of processes (1 or more), not 0\n"
    )
