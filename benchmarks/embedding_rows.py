"""bench_core's embedding rows: the sample's chunk texts, "today" vs the vendored model with ``embedding.workers``.

"Today" is goldkeeper before issue #15's cold-embedding work: one process (``workers: 1``, one ONNX session
with ONNX Runtime's default threads) on the model of the old recipe (``quantize_dynamic`` with uint8
weights, ``QuantType.QUInt8``), rebuilt here from the fp32 model (``--fp32-model``; absent: no "today"
rows). Beside it the vendored model (signed int8 weights, scripts/quantize_model.py) with ``workers: 1``
and ``workers: N`` (one single-threaded session per lane). All are measured in the same run, alternated
for ``rounds`` rounds, each round's rate kept: the machine's other work moves the numbers, so all see the
same load. CPU seconds count this process and its workers (/proc). The parallel vectors are checked
bit-identical to the serial ones. Then goldkeeper ``embed_chunks`` in the database (cold, warm) with the
configured embedder, and each int8 model's deviation from the fp32 model on ``deviation_texts`` texts of
the sample (chunks, then queries).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from goldkeeper.db.connection import connection
from goldkeeper.embed import VENDORED_MODEL_DIR, VENDORED_MODEL_NAME
from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.embed.fill import embed_chunks
from goldkeeper.store import open_store

_TICK = os.sysconf("SC_CLK_TCK")
#: the id's hash of the model goldkeeper vendored before (uint8 weights): today_model must rebuild these bytes.
TODAY_SHA16 = "ae933d4c3acaa695"


def _cpu(embedder: FastEmbedEmbedder) -> float:
    """CPU seconds of this process and of the embedder's running workers."""
    total = time.process_time()
    for pid in embedder.pool.pids if embedder.pool is not None else []:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _timed(embedder: FastEmbedEmbedder, texts: list[str]) -> tuple[float, float, np.ndarray]:
    cpu, start = _cpu(embedder), time.perf_counter()
    vectors = embedder.embed_documents(texts)
    return time.perf_counter() - start, _cpu(embedder) - cpu, vectors


def today_model(fp32_dir: Path, folder: Path) -> Path:
    """The vendored model as built before (uint8 weights), from the fp32 export, with the vendored tokenizer files."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    for item in VENDORED_MODEL_DIR.iterdir():
        if item.name not in {"model.onnx", "SHA256SUMS", "PROVENANCE.md"}:
            shutil.copyfile(item, folder / item.name)
    quantize_dynamic(
        str(fp32_dir / "model.onnx"), str(folder / "model.onnx"), per_channel=True, weight_type=QuantType.QUInt8
    )
    return folder


def compare_serial_parallel(
    texts: list[str], workers: int, rounds: int, row: Callable[..., None], today_dir: Path | None = None
) -> None:
    """Alternated rounds: today (uint8 model, one process), the vendored model with workers 1 and N."""
    today = FastEmbedEmbedder(VENDORED_MODEL_NAME, today_dir, device="cpu", workers=1) if today_dir else None
    serial = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=1)
    parallel = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR, device="cpu", workers=workers)
    try:
        for each in (today, serial):
            if each is not None:
                each.embed_documents(texts[:8])  # session and tokenizer warm-up, excluded
        seconds, cpu, first = _timed(parallel, texts)  # starts the workers
        row(f"goldkeeper embedder, workers: {workers}, first call", seconds, cpu, "includes starting the workers")
        reference = None
        for r in range(1, rounds + 1):
            base = None
            if today is not None:
                base, cpu, _ = _timed(today, texts)
                same_model = "the model vendored before" if today.model_sha256[:16] == TODAY_SHA16 else "OTHER BYTES"
                row("today: uint8-weight model, workers: 1", base, cpu, f"round {r}, {same_model}")
            seconds, cpu, vectors = _timed(serial, texts)
            reference = vectors if reference is None else reference
            row("goldkeeper embedder, workers: 1", seconds, cpu, f"round {r}, one process{_speedup(base, seconds)}")
            seconds, cpu, vectors = _timed(parallel, texts)
            same = vectors.tobytes() == reference.tobytes() == first.tobytes()
            note = f"round {r}, {'bit-identical to workers: 1' if same else 'DIFFERS from workers: 1'}"
            row(f"goldkeeper embedder, workers: {workers}", seconds, cpu, note + _speedup(base, seconds))
    finally:
        if parallel.pool is not None:
            parallel.pool.close()


def _speedup(today_seconds: float | None, seconds: float) -> str:
    return "" if today_seconds is None else f", {today_seconds / seconds:.2f}x today's rate"


def in_database(server: Any, store_dir: Path, embedder: Any, restore: Any, sql: Any, row: Callable[..., None]) -> int:
    """embed_chunks with a cold, then a warm cache, with the configured embedder; returns the chunk count."""
    url = server.fresh_database()
    restore(url, store_dir, embedder)
    n = 0
    for label, reset in (("cold", "DELETE FROM golden.embedding_cache"), ("warm", "SELECT 1")):
        sql(url, "UPDATE golden.chunks SET embedding = NULL, embedding_model = NULL", reset)
        cpu = _cpu(embedder)  # the workers run already: the restore above embedded with them
        with connection(url) as conn:
            with conn.transaction():
                stats = embed_chunks(conn, embedder, batch_size=embedder.batch_size)
        n = stats.total
        workers = embedder.pool.lanes if getattr(embedder, "pool", None) is not None else 1
        row(
            f"goldkeeper embed_chunks, {label} cache (in the database), workers: {workers}",
            stats.seconds,
            _cpu(embedder) - cpu,
            f"{stats.computed} computed, {stats.cached} from the cache",
            stats.total,
        )
    return n


def deviation(store_dir: Path, fp32_dir: Path, count: int, workers: int, today_dir: Path | None) -> dict[str, Any]:
    """Cosine of the int8 models' vectors (as goldkeeper computes them) vs the fp32 model's: vendored, today's."""
    from fastembed import TextEmbedding

    store = open_store(store_dir)
    texts = [c.content for a in store.analyses() for c in a.chunks] + [q.text for q in store.queries()]
    texts = texts[:count]
    fp32 = TextEmbedding(VENDORED_MODEL_NAME, specific_model_path=str(fp32_dir), threads=1)
    reference = np.asarray(list(fp32.embed(texts, batch_size=1)), dtype=np.float64)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    digest = hashlib.sha256((fp32_dir / "model.onnx").read_bytes()).hexdigest()[:16]
    result: dict[str, Any] = {"texts": len(texts), "fp32_model": f"{fp32_dir.name}@sha256:{digest}"}
    for label, folder in (("vendored", VENDORED_MODEL_DIR), ("today", today_dir)):
        if folder is None:
            continue
        int8 = FastEmbedEmbedder(VENDORED_MODEL_NAME, folder, device="cpu", workers=workers)
        try:
            cosines = np.sum(reference * int8.embed_documents(texts).astype(np.float64), axis=1)
        finally:
            if int8.pool is not None:
                int8.pool.close()
        result[label] = {
            "model": int8.model_id,
            "min_cosine": float(cosines.min()),
            "mean_cosine": float(cosines.mean()),
            "max_deviation": float(1.0 - cosines.min()),
        }
    return result


def markdown(rows: list[dict[str, Any]], dev: dict[str, Any] | None, load: str) -> str:
    n = rows[0]["texts"] if rows else 0
    lines = [
        f"Load average at the start: {load}.",
        "",
        f"| embedding the sample's {n} chunk texts (int8 all-MiniLM-L6-v2) | texts | seconds | texts/s "
        "| CPU s | load (1 min) | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cpu = f"{r['cpu_seconds']:.1f}" if r["cpu_seconds"] is not None else ""
        lines.append(
            f"| {r['tool']} | {r['texts']} | {r['seconds']:.2f} | {r['texts_per_s']:,} | {cpu} | {r['load_1min']:.1f} "
            f"| {r['note']} |"
        )
    if dev is not None:
        lines.append("")
        for label, name in (("vendored", "vendored int8"), ("today", "today's uint8-weight int8")):
            if label in dev:
                d = dev[label]
                lines.append(
                    f"- {name} ({d['model'].split('@')[-1]}) vs fp32 ({dev['fp32_model']}) on {dev['texts']:,} sample "
                    f"texts: max cosine deviation {d['max_deviation']:.4f} (min cosine {d['min_cosine']:.4f}, "
                    f"mean {d['mean_cosine']:.4f})."
                )
    return "\n".join(lines)
