"""Benchmark: goldkeeper dump vs psql ``\\copy`` of the same columns without vectors, peak RSS of each.

A generated store of ``--chunks`` chunks (bench_core's generator, default 100,000 in 2,000 analyses,
10,000 queries) restored into one embedded PostgreSQL with a warm embedding cache (synthetic unit
vectors: the model does not run), then, best of ``--repeat``, in the same run:

- goldkeeper: ``goldkeeper.dataset.dump.dump`` in a child process (COPY streams out -> canonical sharded
  JSON, manifest, atomic swap); its time is the dump call, its memory the child's peak RSS (VmHWM);
- psql ``\\copy`` of the same six tables, columns and ORDER BY, no vectors (db/reader.py's SELECTs; the
  dump itself streams each record as JSON built by PostgreSQL from them, db/documents.py) to text files:
  the fair physical bound for moving those rows out; its time is the psql process, its memory psql's
  peak RSS (VmHWM, polled every 5 ms).

    .venv/bin/python benchmarks/bench_dump.py --write-readme              # 100,000 chunks
    .venv/bin/python benchmarks/bench_dump.py --chunks 10000              # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_core import Server, dir_bytes, generate_store, pg_bin, warm_cache_synthetically
from goldkeeper.config import Settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.embed import VENDORED_MODEL_DIR, VENDORED_MODEL_NAME
from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.store import open_store
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

#: the golden rows' SELECTs (goldkeeper/db/reader.py, the model path of the dump), every status, as psql \copy statements.
COPY_SELECTS = {
    "analyses": "SELECT id, url, title, content_type, status, created_at FROM golden.analyses ORDER BY id",
    "chunks": "SELECT c.analysis_id, c.id, c.content, c.section_title, c.section_path, c.content_type, "
    "c.chunk_index FROM golden.chunks c JOIN golden.analyses a ON a.id = c.analysis_id "
    "ORDER BY c.analysis_id, c.chunk_index",
    "findings": "SELECT f.analysis_id, f.agent, f.category, f.content, f.confidence FROM golden.findings f "
    "JOIN golden.analyses a ON a.id = f.analysis_id ORDER BY f.analysis_id, f.ordinal",
    "artifacts": "SELECT r.analysis_id, r.id, r.summary, r.key_findings, r.metadata FROM golden.artifacts r "
    "JOIN golden.analyses a ON a.id = r.analysis_id ORDER BY r.analysis_id",
    "queries": "SELECT id, text, domain, difficulty, tags, reference_answers, expected_behavior "
    'FROM golden.queries ORDER BY id COLLATE "C"',
    "query_expected": "SELECT query_id, target_kind, target_id, relevance FROM golden.query_expected "
    'ORDER BY query_id COLLATE "C", target_kind, target_id',
}

CHILD = """
import json, sys, time
from pathlib import Path
from goldkeeper.config import Settings
from goldkeeper.dataset.dump import dump
url, root, out, name, shards = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
settings = Settings(root=root, dataset={"name": name}, store={"shards": shards})
start = time.perf_counter()
dump(url, settings, out)
seconds = time.perf_counter() - start
hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")]
print(json.dumps({"seconds": seconds, "rss": int(hwm[0].split()[1]) * 1024}))
"""


def goldkeeper_dump(url: str, store_dir: Path, work: Path, out: Path) -> tuple[float, int]:
    manifest = open_store(store_dir).manifest
    args = [url, str(work), str(out), manifest.dataset, json.dumps(manifest.shard_counts)]
    result = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"goldkeeper dump failed: {result.stderr.strip()[-800:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return float(data["seconds"]), int(data["rss"])


def psql_copy(url: str, out: Path) -> tuple[float, int]:
    out.mkdir(parents=True, exist_ok=True)
    args = [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for table, select in COPY_SELECTS.items():
        args += ["-c", f"\\copy ({select}) TO '{out / table}.tsv'"]
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:  # VmHWM: the high-water mark of psql's own memory (not the forked parent's)
        peak = max(peak, high_water_mark(process.pid))
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"psql failed: {process.stderr.read().decode()[-800:] if process.stderr else ''}")
    return seconds, peak


def high_water_mark(pid: int) -> int:
    """Peak RSS in bytes of a running process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def markdown(chunks: int, queries: int, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Generated store: {chunks:,} chunks, {queries:,} queries; best of {rows[0]['runs']} runs each.",
        "",
        "| tool | seconds | chunks/s | peak RSS | output |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['seconds']:.2f} | {chunks / r['seconds']:,.0f} | {r['rss'] / 1e6:,.0f} MB | "
            f"{r['bytes'] / 1e6:.1f} MB |"
        )
    lines += ["", f"- goldkeeper dump / psql `\\copy`: {rows[0]['seconds'] / rows[1]['seconds']:.2f}x (wall)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--per-analysis", type=int, default=50)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of each tool, best kept (default 5: run to run the 2-core VM varies by half)",
    )
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    embedder = FastEmbedEmbedder(VENDORED_MODEL_NAME, VENDORED_MODEL_DIR)
    with tempfile.TemporaryDirectory(prefix="gk-bench-dump-") as tmp:
        work = Path(tmp)
        store_dir = work / "generated"
        generate_store(store_dir, args.chunks, args.per_analysis, args.queries, Settings(root=work))
        server = Server(work / "pg")
        try:
            url = server.fresh_database()
            warm_cache_synthetically(url, store_dir, embedder)
            start = time.perf_counter()
            restore_store(url, store_dir, embedder)
            print(f"  restored {args.chunks:,} chunks in {time.perf_counter() - start:.1f} s", flush=True)
            best: dict[str, dict[str, Any]] = {}
            for run in range(args.repeat):
                for tool, fn in (
                    ("goldkeeper dump (canonical sharded JSON)", lambda o: goldkeeper_dump(url, store_dir, work, o)),
                    ("psql `\\copy` of the same SELECTs, no vectors (text)", lambda o: psql_copy(url, o)),
                ):
                    out = work / f"out-{run}-{len(best)}-{tool[:4].strip()}"
                    seconds, rss = fn(out)
                    print(f"  {tool:<56} {seconds:7.2f} s  peak RSS {rss / 1e6:6.0f} MB", flush=True)
                    entry = {"tool": tool, "seconds": seconds, "rss": rss, "bytes": dir_bytes(out), "runs": args.repeat}
                    if tool not in best or seconds < best[tool]["seconds"]:
                        best[tool] = {**entry, "rss": max(rss, best.get(tool, {}).get("rss", 0))}
        finally:
            server.stop()
    text = markdown(args.chunks, args.queries, list(best.values()))
    print(text)
    if args.write_readme:
        update_results("dump", text)


if __name__ == "__main__":
    main()
