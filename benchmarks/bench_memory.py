"""Benchmark: peak memory of dump and restore does not grow with the dataset.

For each size, a generated dataset (50 chunks of ~30 words per analysis, one
query per analysis) is loaded into a fresh ``golden`` schema of a temporary
embedded PostgreSQL, then measured in separate processes (each a fresh Python,
so its peak RSS is its own, not inherited from the process that built the data):

- ``dump``: COPY streams -> canonical sharded store;
- ``restore --dry-run``: validate the whole store, COPY it into temp tables in
  batches, classify every record against the database, roll back (the
  embedding step is left out: its memory is one batch of texts plus the model).

    .venv/bin/python benchmarks/bench_memory.py                      # 2,000 and 100,000 chunks
    .venv/bin/python benchmarks/bench_memory.py --chunks 2000 20000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_LOAD = """
import sys, uuid
from datetime import UTC, datetime
from goldkeeper.db.loader import GoldenLoader, golden_transaction
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
import psycopg
url, n = sys.argv[1], int(sys.argv[2])
words = "the golden dataset keeps documents chunks and test queries with expected results".split()
with psycopg.connect(url, autocommit=True) as c:
    c.execute("DROP SCHEMA IF EXISTS golden CASCADE")
with golden_transaction(url) as conn:
    loader = GoldenLoader(conn)
    loader.prepare(384)
    ns = uuid.UUID("5d0c6a2e-6a8e-4f6b-9a55-3f3c8f0a1b2c")
    for i in range(n // 50):
        aid = uuid.uuid5(ns, str(i))
        chunks = [Chunk(id=uuid.uuid5(aid, str(j)), chunk_index=j,
                        content=" ".join(words[(i + j + k) % len(words)] for k in range(30)) + f" {i}.{j}")
                  for j in range(50)]
        loader.add_analysis(Analysis(id=aid, url=f"https://en.wikipedia.org/wiki/A{i}", title=f"A{i}",
                                     created_at=datetime(2024, 1, 1, tzinfo=UTC), chunks=chunks))
    for i in range(n // 50):
        aid = uuid.uuid5(ns, str(i))
        loader.add_query(Query(id=f"q{i:07d}", text=f"question {i}", domain="bench",
                               expected=Expected(chunks=[Relevance(id=uuid.uuid5(aid, "0"))]),
                               expected_behavior=ExpectedBehavior(behavior="answer", must_not=["fabricate_citation"])))
    loader.apply(loader.classify(), replace=False)
"""

_DUMP = """
import json, resource, sys, time
from pathlib import Path
from goldkeeper.config import load_settings
from goldkeeper.dataset.dump import dump
url, out = sys.argv[1], Path(sys.argv[2])
start = time.perf_counter()
report = dump(url, load_settings(root=out.parent, env={}), out)
print(json.dumps({"seconds": time.perf_counter() - start, "chunks": report.counts["chunks"],
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_RESTORE = """
import json, resource, sys, time
from goldkeeper.config import EmbeddingParams
from goldkeeper.embed import load_embedder
from goldkeeper.dataset.restore import restore_store
url, store = sys.argv[1], sys.argv[2]
embedder = load_embedder(EmbeddingParams())
start = time.perf_counter()
report = restore_store(url, store, embedder, dry_run=True, replace=True)
print(json.dumps({"seconds": time.perf_counter() - start, "records": report.staged,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[2_000, 100_000])
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from goldkeeper.db.embedded import EmbeddedServer

    home = Path(tempfile.mkdtemp(prefix="gk-bench-mem-", dir="/tmp"))
    home.chmod(0o755)
    server = EmbeddedServer(home)
    url = server.start()
    rows = []
    try:
        for n in args.chunks:
            _run(_LOAD, url, str(n))
            out = home / f"store-{n}"
            d = _run(_DUMP, url, str(out))
            r = _run(_RESTORE, url, str(out))
            rows.append((n, d, r))
            shutil.rmtree(out, ignore_errors=True)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(
        "| chunks | dump s | dump peak RSS MiB | restore --dry-run s | restore --dry-run peak RSS MiB (incl. model) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n, d, r in rows:
        print(
            f"| {n:,} | {d['seconds']:.1f} | {d['peak_rss_mib']:.0f} | {r['seconds']:.1f} | {r['peak_rss_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
