"""Benchmark: the fastembed embedder on the CPU and on a CUDA GPU (params ``embedding.device``).

N texts from the project's golden/ store (chunk texts first, then query texts, repeated when N is
larger) are embedded by goldkeeper's embedder, ``load_embedder(EmbeddingParams(device=...))``, once
with ``device: cpu`` and once with ``device: cuda``, the way goldkeeper embeds: one text per ONNX
run (the int8 model's vectors depend on their batch-mates otherwise, see
``goldkeeper.embed.fastembed_backend``). Each device is warmed up on a few texts first (CUDA's first
runs compile kernels). Reported per device: seconds, texts/s, and the model identity (a CUDA session's
ends in ``+cuda``); between the devices: the largest cosine deviation (1 - cosine) and the largest
absolute difference of one component, and how many vectors are bit-identical. ``--batched`` adds a
row per device for fastembed's own batching (``batch_size`` 64): faster on a GPU, but not what
goldkeeper does, since its vectors are not deterministic per text.

On a machine where ONNX Runtime offers no CUDA provider the script says so and prints the CPU row
alone (exit 0). A GPU machine needs ``pip install 'goldkeeper[gpu]'`` (onnxruntime-gpu, with the CUDA
12 and cuDNN 9 libraries) in place of the CPU ``onnxruntime``.

    .venv/bin/python benchmarks/bench_gpu_embed.py                       # 2,000 texts
    .venv/bin/python benchmarks/bench_gpu_embed.py --texts 500 --batched --json out.json --write-readme
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from goldkeeper.config import EmbeddingParams
from goldkeeper.embed import load_embedder
from goldkeeper.errors import ConfigError
from goldkeeper.store import open_store
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

REPO = Path(__file__).resolve().parent.parent
WARM_UP = 16


def sample_texts(store_dir: Path, count: int) -> list[str]:
    """``count`` texts: the store's chunk texts, then its query texts, repeated as needed."""
    store = open_store(store_dir)
    pool = [chunk.content for analysis in store.analyses() for chunk in analysis.chunks]
    pool += [query.text for query in store.queries()]
    if not pool:
        raise SystemExit(f"{store_dir}: no texts in the store")
    return [pool[i % len(pool)] for i in range(count)]


def _timed(embed: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    embed(texts[:WARM_UP])
    start = time.perf_counter()
    vectors = embed(texts)
    return np.asarray(vectors, dtype=np.float32), time.perf_counter() - start


def _batched(embedder: Any) -> Any:
    """fastembed's own batching on the embedder's session (not goldkeeper's path: see the module doc)."""

    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.asarray(list(embedder._model.embed(texts, batch_size=64)), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return embed


def measure(device: str, texts: list[str], batched: bool) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """The rows of one device and its one-text-per-run vectors; no rows when the device cannot be used."""
    try:
        embedder = load_embedder(EmbeddingParams(device=device))  # type: ignore[arg-type]
    except ConfigError as exc:
        print(f"{device}: not available: {exc}")
        return [], None
    session = embedder._model.model.model  # type: ignore[attr-defined]
    base = {"device": device, "providers": ",".join(session.get_providers()), "model_id": embedder.model_id}
    vectors, seconds = _timed(embedder.embed_documents, texts)
    rows = [{**base, "mode": "one text per run (goldkeeper)", "texts": len(texts), "seconds": seconds}]
    if batched:
        _, batch_seconds = _timed(_batched(embedder), texts)
        rows.append(
            {
                **base,
                "mode": "fastembed batch_size 64 (not goldkeeper's)",
                "texts": len(texts),
                "seconds": batch_seconds,
            }
        )
    return rows, vectors


def deviation(cpu: np.ndarray, cuda: np.ndarray) -> dict[str, Any]:
    """How far the CUDA vectors are from the CPU ones (both L2-normalised)."""
    cosines = np.sum(cpu.astype(np.float64) * cuda.astype(np.float64), axis=1)
    identical = int(np.sum(np.all(cpu == cuda, axis=1)))
    return {
        "max_cosine_deviation": float(np.max(1.0 - cosines)),
        "mean_cosine_deviation": float(np.mean(1.0 - cosines)),
        "max_abs_component_difference": float(np.max(np.abs(cpu - cuda))),
        "bit_identical_vectors": identical,
        "vectors": len(cpu),
    }


def render(rows: list[dict[str, Any]], compared: dict[str, Any] | None, cuda_note: str | None) -> str:
    lines = [
        "| device | mode | ONNX Runtime providers | texts | seconds | texts/s |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        rate = row["texts"] / row["seconds"] if row["seconds"] > 0 else float("inf")
        lines.append(
            f"| {row['device']} | {row['mode']} | {row['providers']} | {row['texts']:,} | {row['seconds']:.2f} | {rate:,.1f} |"
        )
    lines.append("")
    lines.append(f"Model identity: {', '.join(sorted({row['model_id'] for row in rows}))}.")
    if compared is not None:
        lines.append(
            f"CPU vs CUDA, one text per run: max 1 - cosine {compared['max_cosine_deviation']:.2e} "
            f"(mean {compared['mean_cosine_deviation']:.2e}), max |component difference| "
            f"{compared['max_abs_component_difference']:.2e}, bit-identical vectors "
            f"{compared['bit_identical_vectors']:,} of {compared['vectors']:,}."
        )
    if cuda_note:
        lines.append(cuda_note)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="how many texts to embed on each device")
    parser.add_argument("--store", type=Path, default=REPO / "golden", help="the golden store the texts come from")
    parser.add_argument("--batched", action="store_true", help="add fastembed's own batching (not goldkeeper's path)")
    parser.add_argument("--json", type=Path, help="also write the rows and the deviation as JSON")
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args(argv)

    texts = sample_texts(args.store, args.texts)
    available = onnxruntime.get_available_providers()
    print(f"onnxruntime {onnxruntime.__version__}, providers: {', '.join(available)}")
    rows, cpu_vectors = measure("cpu", texts, args.batched)
    cuda_rows, cuda_vectors = measure("cuda", texts, args.batched)
    rows += cuda_rows
    compared = deviation(cpu_vectors, cuda_vectors) if cpu_vectors is not None and cuda_vectors is not None else None
    note = None if cuda_rows else "CUDA: not available on this machine (CPU row only): pip install 'goldkeeper[gpu]'."
    markdown = render(rows, compared, note)
    print(markdown)
    if args.json:
        args.json.write_text(json.dumps({"providers": available, "rows": rows, "deviation": compared}, indent=2) + "\n")
    if args.write_readme:
        update_results("gpu-embed", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
