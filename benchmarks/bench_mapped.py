"""Benchmark: restore and dump through a params ``database:`` mapping vs the reference schema, same run.

A generated store of ``--chunks`` chunks (default 100,000; analyses of 10 to 20 chunks, one finding and
one artifact each, ``--queries`` queries) is restored, in the same run on one embedded PostgreSQL
(pgserver), into two fresh databases:

- reference: goldkeeper's own schema (golden.*), ``restore_store`` without a mapping;
- mapped: an application schema unlike goldkeeper's (other table and column names, text ids, a
  ``timestamp`` without time zone, the section path as text with a separator, a ``vector`` column with
  an HNSW index of its own, a ``where``) through the params ``database:`` mapping below, the shape of
  tests/db_mapping_support.py.

Then each database is dumped (``goldkeeper.dataset.dump.dump``) and compared byte for byte with the input.

What is measured: each restore and each dump is one call in its own child process (the interpreter start,
imports and the creation of the application tables are not timed); the time is the call's wall time, the
memory the child's peak RSS (VmHWM, the goldkeeper process only, not the PostgreSQL backend). A restore
is the whole operation: verify the store, COPY into temporary tables, classify, insert, the vectors.
The embedding model does not run: both databases' embedding caches are pre-filled (not timed) with
synthetic unit vectors for every chunk text, and the embedder is a stand-in with the model's identity
and dimension that refuses to embed (the run fails if a vector were not in the cache). So the restore
rows measure goldkeeper's own work plus PostgreSQL's, including writing 100,000 vectors into each
schema's HNSW index. The load average before and after each step is recorded: the VM is shared.

    .venv/bin/python benchmarks/bench_mapped.py --write-readme            # 100,000 chunks (~10 min)
    .venv/bin/python benchmarks/bench_mapped.py --chunks 10000            # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench_core import NS, WORDS, Server, bench_queries, dir_bytes, warm_cache_synthetically
from goldkeeper.config import Settings, validate_settings
from goldkeeper.models import Analysis, Artifact, Chunk, Finding
from goldkeeper.store import StoreWriter, open_store
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

DIM = 384
APP_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA app;
CREATE TABLE app.documents (doc_id text PRIMARY KEY, source_url text NOT NULL, name text NOT NULL,
    state text NOT NULL DEFAULT 'draft', published_at timestamp NOT NULL, owner text DEFAULT 'team');
CREATE TABLE app.doc_chunks (chunk_id text PRIMARY KEY, doc_id text NOT NULL REFERENCES app.documents (doc_id),
    body text NOT NULL, ord bigint NOT NULL, heading text, path text NOT NULL DEFAULT '', emb vector({dim}),
    emb_model text);
CREATE INDEX doc_chunks_doc ON app.doc_chunks (doc_id);
CREATE INDEX doc_chunks_emb ON app.doc_chunks USING hnsw (emb vector_cosine_ops);
CREATE TABLE app.summaries (sid uuid PRIMARY KEY, doc_id text NOT NULL REFERENCES app.documents (doc_id),
    summary text NOT NULL, points text[] NOT NULL DEFAULT '{{}}', meta jsonb NOT NULL DEFAULT '{{}}');
CREATE TABLE app.notes (doc_id text NOT NULL REFERENCES app.documents (doc_id), pos int NOT NULL, who text NOT NULL,
    kind text NOT NULL, note text NOT NULL, conf double precision, PRIMARY KEY (doc_id, pos));
"""

MAPPING: dict[str, Any] = {
    "tables": {
        "analyses": {
            "table": "app.documents",
            "columns": {
                "id": "doc_id",
                "url": "source_url",
                "title": "name",
                "created_at": "published_at",
                "status": "state",
            },
            "where": "state <> 'draft'",
        },
        "chunks": {
            "table": "app.doc_chunks",
            "columns": {
                "id": "chunk_id",
                "analysis_id": "doc_id",
                "content": "body",
                "chunk_index": "ord",
                "section_title": "heading",
                "section_path": "path",
            },
            "separators": {"section_path": " > "},
            "embedding": {"column": "emb", "model_column": "emb_model"},
        },
        "artifacts": {
            "table": "app.summaries",
            "columns": {
                "id": "sid",
                "analysis_id": "doc_id",
                "summary": "summary",
                "key_findings": "points",
                "metadata": "meta",
            },
        },
        "findings": {
            "table": "app.notes",
            "columns": {
                "analysis_id": "doc_id",
                "ordinal": "pos",
                "agent": "who",
                "category": "kind",
                "content": "note",
                "confidence": "conf",
            },
        },
    }
}


class CachedOnlyEmbedder:
    """The model's identity and dimension without the model: every vector must come from the cache."""

    model_name = "bench-synthetic"
    model_sha256 = "0" * 64
    model_id = "bench-synthetic@sha256:0000000000000000"
    dim = DIM
    batch_size = 64  # params embedding.batch_size default: chunks per database round trip

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError(f"bench_mapped: {len(texts)} chunk texts were not in the pre-filled embedding cache")

    def embed_query(self, text: str) -> np.ndarray:
        raise RuntimeError("bench_mapped: no query is embedded")


# ------------------------------------------------------------------------------------ data


def _analysis(a: int) -> Analysis:
    aid = uuid.uuid5(NS, f"mapped-analysis-{a}")
    n = 10 + (a * 7) % 11  # 10..20 chunks, 15 on average
    return Analysis(
        id=aid,
        url=f"https://docs.acme.org/reports/{a}",
        title=f"Report {a}",
        created_at=datetime(2024, 1, 1 + a % 28, 9, a % 60, tzinfo=UTC),
        chunks=[
            Chunk(
                id=uuid.uuid5(aid, str(i)),
                content=" ".join(WORDS[(a * 31 + i * 7 + k * 5) % len(WORDS)] for k in range(80)) + f" ({a}.{i})",
                section_title=f"Section {i}" if i % 4 else None,
                section_path=["Report", f"Section {i}"] if i % 4 else [],
                chunk_index=i,
            )
            for i in range(n)
        ],
        findings=[Finding(agent="curator", category="summary", content=f"finding {a}", confidence=0.9)],
        artifact=Artifact(
            id=uuid.uuid5(aid, "artifact"), summary=f"summary {a}", key_findings=["a", "b"], metadata={"k": a}
        ),
    )


def generate_store(target: Path, chunks: int, queries: int) -> tuple[int, int]:
    """A valid store of about ``chunks`` chunks in analyses of 10 to 20; (analyses, chunks) written."""
    analyses: list[Analysis] = []
    total = 0
    while total < chunks:
        analyses.append(_analysis(len(analyses)))
        total += len(analyses[-1].chunks)
    with StoreWriter(target, "bench-mapped", dict(Settings(root=target.parent).store.shards)) as writer:
        for analysis in sorted(analyses, key=lambda x: str(x.id)):
            writer.add_analysis(analysis)
        for query in bench_queries(analyses, queries):
            writer.add_query(query)
    return len(analyses), total


# ------------------------------------------------------------------------------------ the timed calls


def settings_for(work: Path, store_dir: Path, mapped: bool) -> Settings:
    manifest = open_store(store_dir).manifest
    values: dict[str, Any] = {
        "root": work,
        "dataset": {"name": manifest.dataset},
        "store": {"shards": dict(manifest.shard_counts)},
    }
    if mapped:
        values["database"] = MAPPING
    return validate_settings(values)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed call (in a child process): a restore or a dump, reference or mapped."""
    from goldkeeper.dataset.dump import dump
    from goldkeeper.dataset.restore import restore_store

    work, store_dir = Path(spec["work"]), Path(spec["store"])
    settings = settings_for(work, store_dir, spec["mapped"])
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if spec["op"] == "restore":
        report = restore_store(spec["url"], store_dir, CachedOnlyEmbedder(), settings=settings)
        extra = {
            "embedded": report.chunks_embedded,
            "cached": report.embeddings_cached,
            "computed": report.embeddings_computed,
        }
    else:
        dump(spec["url"], settings, Path(spec["out"]))
    seconds = time.perf_counter() - start
    hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")]
    return {"seconds": seconds, "rss": int(hwm[0].split()[1]) * 1024, **extra}


def timed(spec: dict[str, Any]) -> dict[str, Any]:
    before = os.getloadavg()[0]
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(
            f"{spec['op']} ({'mapped' if spec['mapped'] else 'reference'}) failed: {result.stderr.strip()[-1500:]}"
        )
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    data["load"] = (before, os.getloadavg()[0])
    return data


def identical(store_dir: Path, out: Path) -> bool:
    manifest = open_store(store_dir).manifest
    return (out / "manifest.json").read_bytes() == (store_dir / "manifest.json").read_bytes() and all(
        (out / e.path).read_bytes() == (store_dir / e.path).read_bytes() for e in manifest.shards
    )


def create_app_tables(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(APP_SCHEMA.format(dim=DIM))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ report


def markdown(n_analyses: int, chunks: int, queries: int, rows: list[dict[str, Any]], load0: float) -> str:
    lines = [
        f"Generated store: {chunks:,} chunks in {n_analyses:,} analyses (10 to 20 chunks each, one finding and one "
        f"artifact each), {queries:,} queries; one run each, every vector from a pre-filled embedding cache. "
        f"Load average (1 min) at the start of the run: {load0:.1f}.",
        "",
        "| schema | operation | seconds | chunks/s | peak RSS | load before / after | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['schema']} | {r['op']} | {r['seconds']:.2f} | {chunks / r['seconds']:,.0f} | "
            f"{r['rss'] / 1e6:,.0f} MB | {r['load'][0]:.1f} / {r['load'][1]:.1f} | {r['note']} |"
        )
    by = {(r["schema"].split()[0], r["op"]): r["seconds"] for r in rows}
    lines += [
        "",
        f"- mapped / reference restore: {by[('mapped', 'restore')] / by[('reference', 'restore')]:.2f}x (wall)",
        f"- mapped / reference dump: {by[('mapped', 'dump')] / by[('reference', 'dump')]:.2f}x (wall)",
    ]
    return "\n".join(lines) + "\n"


def run_bench(args: argparse.Namespace, work: Path) -> str:
    store_dir = work / "generated"
    start = time.perf_counter()
    n_analyses, chunks = generate_store(store_dir, args.chunks, args.queries)
    print(
        f"  generated {chunks:,} chunks in {n_analyses:,} analyses in {time.perf_counter() - start:.1f} s", flush=True
    )
    load0 = os.getloadavg()[0]
    server = Server(work / "pg")
    rows: list[dict[str, Any]] = []
    try:
        for schema, mapped in (("reference (golden.*)", False), ("mapped (app.*, text ids, own HNSW index)", True)):
            url = server.fresh_database()
            warm_cache_synthetically(url, store_dir, CachedOnlyEmbedder())
            if mapped:
                create_app_tables(url)
            spec = {"work": str(work), "store": str(store_dir), "mapped": mapped, "url": url}
            restored = timed({**spec, "op": "restore"})
            assert restored["cached"] == chunks and restored["computed"] == 0, restored
            out = work / f"dump-{'mapped' if mapped else 'reference'}"
            dumped = timed({**spec, "op": "dump", "out": str(out)})
            same = identical(store_dir, out)
            for op, data, note in (
                ("restore", restored, f"{restored['cached']:,} vectors from the cache"),
                (
                    "dump",
                    dumped,
                    f"{dir_bytes(out) / 1e6:.1f} MB, "
                    + ("byte-identical to the input" if same else "DIFFERS from the input"),
                ),
            ):
                rows.append({"schema": schema, "op": op, **data, "note": note})
                print(
                    f"  {schema:<42} {op:<8} {data['seconds']:8.2f} s  peak RSS {data['rss'] / 1e6:6.0f} MB  "
                    f"load {data['load'][0]:.1f} -> {data['load'][1]:.1f}",
                    flush=True,
                )
    finally:
        server.stop()
    return markdown(n_analyses, chunks, args.queries, rows, load0)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    with tempfile.TemporaryDirectory(prefix="gk-bench-mapped-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # as root, pgserver's postgres runs as another user and must enter the home
        text = run_bench(args, work)
    print(text)
    if args.write_readme:
        update_results("mapped", text)


if __name__ == "__main__":
    main()
