"""Benchmark: goldkeeper diff of a one-record change vs deepdiff on the two whole datasets.

Generates two golden stores with :class:`goldkeeper.store.StoreWriter` that
differ in the content of ONE chunk (default: 1,000,000 chunks in 10,000
analyses, 20,000 queries, 256 analysis shards), then times

- goldkeeper: ``goldkeeper.dataset.diff.diff(OLD_DIR, NEW_DIR)`` in process (open both
  manifests, parse only the shards whose sha256 differs, scan the queries for
  impact) plus rendering md and json; and the whole ``goldkeeper diff
  --format json`` command as a process (interpreter start included);
- deepdiff: load every shard of both stores (orjson) and ``DeepDiff(old, new)``
  on the two whole datasets, in a child process capped at ``--deepdiff-timeout``
  seconds (reported as "> N s" when it does not finish) and ``--deepdiff-mem-gb``.

Smaller sizes (``--small``) run both to completion to give a measured ratio.

    .venv/bin/python benchmarks/bench_diff.py                      # 1M chunks
    .venv/bin/python benchmarks/bench_diff.py --chunks 100000 --small 10000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from goldkeeper.config import load_settings
from goldkeeper.dataset.diff import diff
from goldkeeper.dataset.diff.render import to_json_bytes, to_markdown
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import StoreWriter, open_store
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

NS = uuid.UUID("5d0b7c1e-8f7a-4c55-9a52-3d1f0b6a2e41")
WORDS = (
    "retrieval augmented generation grounds answers in evidence chunks that carry canonical source urls "
    "so every claim can be cited checked and refreshed when the underlying document changes"
).split()


def _content(seed: int) -> str:
    return " ".join(WORDS[(seed * 7 + k * 3) % len(WORDS)] for k in range(30)) + f" [{seed}]"


def generate(target: Path, chunks: int, per_analysis: int, queries: int, changed: int | None) -> float:
    """Write a store; ``changed`` is the global index of the one chunk whose content differs."""
    n_analyses = chunks // per_analysis
    ids = sorted((uuid.uuid5(NS, f"a{i}"), i) for i in range(n_analyses))
    started = time.perf_counter()
    with StoreWriter(target, "bench", {"analyses": 256, "queries": 64}) as writer:
        for aid, i in ids:
            chunk_list = []
            for j in range(per_analysis):
                g = i * per_analysis + j
                content = _content(g) + (" (edited)" if g == changed else "")
                chunk_list.append(
                    Chunk.model_construct(
                        id=uuid.uuid5(aid, str(j)),
                        content=content,
                        section_title=None,
                        section_path=[],
                        content_type="text",
                        chunk_index=j,
                    )
                )
            writer.add_analysis(
                Analysis.model_construct(
                    id=aid,
                    url=f"https://docs.bench.io/a/{i}",
                    title=f"Analysis {i}",
                    content_type="text",
                    status="completed",
                    created_at=datetime(2024, 1, 1, tzinfo=UTC),
                    findings=[],
                    chunks=chunk_list,
                    artifact=None,
                )
            )
        for q in sorted(range(queries), key=lambda q: f"q{q:07d}"):
            i = q % n_analyses
            aid = uuid.uuid5(NS, f"a{i}")
            writer.add_query(
                Query(
                    id=f"q{q:07d}",
                    text=f"question {q} about analysis {i}",
                    domain="bench",
                    expected=Expected(
                        chunks=[Relevance(id=uuid.uuid5(aid, str(q % per_analysis)))], analyses=[Relevance(id=aid)]
                    ),
                    expected_behavior=ExpectedBehavior(behavior="answer"),
                )
            )
    return time.perf_counter() - started


def _load_all(path: Path) -> dict[str, list]:
    store = open_store(path)
    return {
        e: [r for s in store.shards(e) for r in orjson.loads(store.shard_bytes(s))] for e in ("analyses", "queries")
    }


def _deepdiff_child(old: str, new: str, mem_gb: float, queue: mp.Queue) -> None:
    limit = int(mem_gb * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from deepdiff import DeepDiff

    try:
        t0 = time.perf_counter()
        a, b = _load_all(Path(old)), _load_all(Path(new))
        t1 = time.perf_counter()
        queue.put(("loaded", t1 - t0))
        result = DeepDiff(a, b)
        t2 = time.perf_counter()
        queue.put(("done", t2 - t1, len(result.get("values_changed", {}))))
    except MemoryError:
        queue.put(("memory", mem_gb))


def run_deepdiff(old: Path, new: Path, timeout: float, mem_gb: float) -> dict:
    queue: mp.Queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_deepdiff_child, args=(str(old), str(new), mem_gb, queue))
    started = time.perf_counter()
    proc.start()
    out: dict = {}
    deadline = started + timeout
    while time.perf_counter() < deadline and proc.is_alive():
        proc.join(0.2)
        while not queue.empty():
            msg = queue.get()
            out[msg[0]] = msg[1:]
    while not queue.empty():
        msg = queue.get()
        out[msg[0]] = msg[1:]
    finished = "done" in out
    if proc.is_alive():
        proc.kill()
        proc.join()
    elapsed = time.perf_counter() - started
    return {
        "finished": finished,
        "load_s": out["loaded"][0] if "loaded" in out else None,
        "deepdiff_s": out["done"][0] if finished else None,
        "changed_values": out["done"][1] if finished else None,
        "out_of_memory": "memory" in out,
        "wall_s": elapsed,
    }


def run_goldkeeper(old: Path, new: Path, repeats: int = 3) -> dict:
    settings = load_settings(old.parent)
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = diff(str(old), str(new), settings)
        to_json_bytes(result)
        to_markdown(result)
        times.append(time.perf_counter() - t0)
    assert result is not None
    counts = result.counts()
    assert counts["chunks"]["modified"] == 1 and sum(sum(c.values()) for c in counts.values()) == 1, counts
    exe = Path(sys.executable).with_name("goldkeeper")
    process_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(exe), "-C", str(old.parent), "diff", str(old), str(new), "--format", "json"],
            capture_output=True,
            check=True,
        )
        process_times.append(time.perf_counter() - t0)
    startup_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--version"], capture_output=True, check=True)
        startup_times.append(time.perf_counter() - t0)
    startup_s = min(startup_times)
    process_s = min(process_times)
    assert orjson.loads(done.stdout)["summary"]["chunks"]["modified"] == 1
    return {
        "first_s": times[0],  # the shard-hash cache (store/hash_cache.py) empty: every shard read and hashed
        "best_s": min(times),
        "median_s": sorted(times)[len(times) // 2],
        "process_s": process_s,
        "startup_s": startup_s,
        "shards_parsed": result.shards_parsed,
        "shards_total": result.shards_total,
        "impacted_queries": len(result.impacted_queries),
    }


def bench(size: int, args: argparse.Namespace, workdir: Path, timeout: float) -> dict:
    per = min(args.per_analysis, size)
    queries = max(1, size * args.queries // args.chunks)
    old, new = workdir / f"old-{size}" / "golden", workdir / f"new-{size}" / "golden"
    changed = size // 2 + 7
    gen_s = generate(old, size, per, queries, None) + generate(new, size, per, queries, changed)
    gk = run_goldkeeper(old, new)
    dd = run_deepdiff(old, new, timeout, args.deepdiff_mem_gb)
    row = {
        "chunks": size,
        "analyses": size // per,
        "queries": queries,
        "generate_s": gen_s,
        "store_mb": sum(f.stat().st_size for f in old.rglob("*") if f.is_file()) / 1e6,
        "goldkeeper": gk,
        "deepdiff": dd,
    }
    shutil.rmtree(old.parent), shutil.rmtree(new.parent)
    return row


def _fmt_dd(dd: dict, timeout: float) -> str:
    if dd["finished"]:
        return f"{dd['load_s'] + dd['deepdiff_s']:.2f} s (load {dd['load_s']:.2f} + DeepDiff {dd['deepdiff_s']:.2f})"
    if dd["out_of_memory"]:
        return "out of memory (cap)"
    loaded = f", load alone {dd['load_s']:.1f} s" if dd["load_s"] is not None else ""
    return f"> {timeout:.0f} s (killed{loaded})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--per-analysis", type=int, default=100)
    parser.add_argument("--queries", type=int, default=20_000, help="queries at --chunks size (scaled for --small)")
    parser.add_argument("--small", default="10000,100000", help="comma-separated smaller sizes run to completion")
    parser.add_argument("--deepdiff-timeout", type=float, default=300)
    parser.add_argument("--small-timeout", type=float, default=1800)
    parser.add_argument("--deepdiff-mem-gb", type=float, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-diff-"))
    sizes = [int(s) for s in args.small.split(",") if s] + [args.chunks]
    rows = []
    table = [
        "| chunks (store size) | goldkeeper diff, in process | `goldkeeper diff` process | deepdiff on the whole datasets | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for size in sizes:
        timeout = args.deepdiff_timeout if size == args.chunks else args.small_timeout
        row = bench(size, args, workdir, timeout)
        rows.append(row)
        gk, dd = row["goldkeeper"], row["deepdiff"]
        print(orjson.dumps(row).decode(), file=sys.stderr, flush=True)
        ratio = f"{(dd['load_s'] + dd['deepdiff_s']) / gk['best_s']:.0f}x" if dd["finished"] else "-"
        table.append(
            f"| {size:,} chunks ({row['store_mb']:.0f} MB) | {gk['best_s'] * 1000:.0f} ms "
            f"({gk['shards_parsed']}/{gk['shards_total']} shards parsed; first run, no cached hashes: "
            f"{gk['first_s'] * 1000:.0f} ms) | {gk['process_s']:.2f} s "
            f"(of which start-up {gk['startup_s']:.2f} s) "
            f"| {_fmt_dd(dd, timeout)} | {ratio} |"
        )
        print(table[-1], flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.write_readme:
        update_results("diff", "\n".join(table))
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
