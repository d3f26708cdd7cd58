"""Benchmark: goldkeeper's metric computation vs pytrec_eval and ranx, same generated run, same process.

A generated run of ``--queries`` queries (default 100,000) with ``--depth`` retrieved documents
each (default 100; random scores rounded to 3 decimals, so ties occur) and qrels of 5 graded
relevant (levels 1-3) and 10 judged non-relevant documents per query. Every tool computes P@10,
recall@10, MRR (recip_rank), nDCG@10 (ndcg_cut_10) and MAP:

- goldkeeper ``evaluate`` on the in-memory dicts ({qid: {docno: score}}, {qid: {docno: rel}}), also
  split into its join + ranking step (``build_ranked``) and the measure step;
- goldkeeper ``evaluate_files`` on the same run and qrels as TREC files (parsing included);
- ``goldkeeper eval trec -q`` on those files, as a process (start-up and printing included);
- pytrec_eval (trec_eval's C code): ``RelevanceEvaluator(qrels, measures).evaluate(run)`` on the
  dicts, and again on the files with its own ``parse_qrel`` / ``parse_run`` into dicts included;
- ranx (numba): ``evaluate(Qrels(qrels), Run(run), ...)`` (JIT compiled beforehand on a small run).

Each row: best wall time and best CPU time (this process, or the child process) of ``--repeat``
runs. goldkeeper's per-query values are compared with pytrec_eval's (max absolute difference) and
between its dict and file paths (must be 0).

    .venv/bin/python benchmarks/bench_metrics.py                   # 100,000 queries, best of 3 per tool
    .venv/bin/python benchmarks/bench_metrics.py --queries 10000   # quicker
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from goldkeeper.evals.metrics import Ranked, build_ranked, evaluate, evaluate_ranked, resolve_measures
from goldkeeper.evals.trec import evaluate_files, write_qrels, write_run
from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

GK_MEASURES = ["P.10", "recall.10", "recip_rank", "ndcg_cut.10", "map"]
PT_MEASURES = {"P.10", "recall.10", "recip_rank", "ndcg_cut.10", "map"}
PT_LABELS = {
    "P_10": "P_10",
    "recall_10": "recall_10",
    "recip_rank": "recip_rank",
    "ndcg_cut_10": "ndcg_cut_10",
    "map": "map",
}
RANX_MEASURES = ["precision@10", "recall@10", "mrr", "ndcg@10", "map"]


def generate(queries: int, depth: int, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    pool = depth * 2
    docnames = [f"doc{i:05d}" for i in range(pool)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(queries):
        qid = f"q{q:06d}"
        docs = rng.choice(pool, size=depth, replace=False)
        scores = np.round(rng.random(depth), 3)  # rounding makes ties
        run[qid] = {docnames[d]: float(s) for d, s in zip(docs, scores, strict=True)}
        judged = rng.choice(pool, size=15, replace=False)
        rels = rng.integers(1, 4, size=5)
        qrels[qid] = {docnames[d]: int(r) for d, r in zip(judged[:5], rels, strict=True)} | {
            docnames[d]: 0 for d in judged[5:]
        }
    return qrels, run


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


REPEAT = 1


def timed(fn):
    """Best wall and best CPU time of REPEAT runs (the machine may be shared), and the last result."""
    best_wall = best_cpu = float("inf")
    out = None
    for _ in range(REPEAT):
        out = None
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, out


def timed_process(argv: list[str]) -> tuple[float, float]:
    """Best wall and CPU time (user + system of the child) of running ``argv``, output discarded."""
    best_wall = best_cpu = float("inf")
    for _ in range(REPEAT):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        best_wall = min(best_wall, time.perf_counter() - wall)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best_wall, best_cpu


def _max_diff(report, other: dict, labels: dict[str, str]) -> float:
    worst = 0.0
    for label, other_label in labels.items():
        ours = report.per_query[label]
        theirs = np.array([other[q][other_label] for q in report.qids])
        worst = max(worst, float(np.max(np.abs(ours - theirs))))
    return worst


def _goldkeeper_rows(qrels: dict, run: dict, files: tuple[Path, Path], rows: list) -> tuple:
    measures = resolve_measures(GK_MEASURES)
    wall, cpu, report = timed(lambda: evaluate(qrels, run, GK_MEASURES))
    rows.append(("goldkeeper `evaluate` (dicts)", wall, cpu))
    wall, cpu, ranked = timed(lambda: build_ranked(qrels, run))
    rows.append(("&nbsp;&nbsp;of which join + ranking", wall, cpu))
    # a fresh Ranked per repetition: its derived arrays are cached properties
    wall, cpu, _ = timed(
        lambda: evaluate_ranked(Ranked(ranked.qids, ranked.rel, ranked.num_ret, ranked.rel_levels), measures)
    )
    rows.append(("&nbsp;&nbsp;of which the measures (numpy)", wall, cpu))
    wall, cpu, file_report = timed(lambda: evaluate_files(files[0], files[1], GK_MEASURES))
    rows.append(("goldkeeper `evaluate_files` (TREC files, parsing included)", wall, cpu))
    exe = Path(sys.executable).with_name("goldkeeper")
    argv = [str(exe), "eval", "trec", "-q", *(f"-m{m}" for m in GK_MEASURES), str(files[0]), str(files[1])]
    wall, cpu = timed_process(argv)
    rows.append(("`goldkeeper eval trec -q` (a process: start-up, parsing, printing)", wall, cpu))
    same = file_report.qids == report.qids and all(
        np.array_equal(file_report.per_query[k], v) for k, v in report.per_query.items()
    )
    return report, same


def _pytrec_rows(qrels: dict, run: dict, files: tuple[Path, Path], rows: list) -> dict:
    import pytrec_eval

    version = _version("pytrec-eval-terrier")
    wall, cpu, result = timed(lambda: pytrec_eval.RelevanceEvaluator(qrels, PT_MEASURES).evaluate(run))
    rows.append((f"pytrec_eval {version} (dicts)", wall, cpu))

    def from_files() -> dict:
        with open(files[0]) as q, open(files[1]) as r:
            return pytrec_eval.RelevanceEvaluator(pytrec_eval.parse_qrel(q), PT_MEASURES).evaluate(
                pytrec_eval.parse_run(r)
            )

    wall, cpu, _ = timed(from_files)
    rows.append((f"pytrec_eval {version} (TREC files, `parse_qrel` / `parse_run` included)", wall, cpu))
    return result


def _ranx_row(qrels: dict, run: dict, rows: list) -> dict:
    import warnings

    import ranx

    warnings.filterwarnings("ignore", module="numba")
    warnings.filterwarnings("ignore", category=Warning, module="ranx")
    small_q, small_r = generate(50, 20, seed=1)
    ranx.evaluate(ranx.Qrels(small_q), ranx.Run(small_r), RANX_MEASURES)  # JIT warm-up (not timed)
    wall, cpu, values = timed(lambda: ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), RANX_MEASURES))
    rows.append((f"ranx {_version('ranx')} (dicts, JIT warm)", wall, cpu))
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per tool (default 3)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/bench_metrics.json"))
    parser.add_argument("--no-ranx", action="store_true", help="leave ranx out (it is the slowest)")
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args()
    global REPEAT

    gen_s, _, (qrels, run) = timed(lambda: generate(args.queries, args.depth))
    REPEAT = args.repeat
    print(f"generated {args.queries:,} queries x {args.depth} docs in {gen_s:.1f} s", file=sys.stderr)
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        files = (Path(tmp) / "qrels", Path(tmp) / "run")
        write_qrels(files[0], qrels)
        write_run(files[1], run, "bench")
        report, same = _goldkeeper_rows(qrels, run, files, rows)
        pt_result = _pytrec_rows(qrels, run, files, rows)
    max_diff = _max_diff(report, pt_result, PT_LABELS)
    del pt_result
    rx_values = {} if args.no_ranx else _ranx_row(qrels, run, rows)
    seconds = {label: wall for label, wall, _ in rows}
    pt_dicts = next(v for k, v in seconds.items() if k.startswith("pytrec_eval") and "(dicts)" in k)
    pt_files = next(v for k, v in seconds.items() if k.startswith("pytrec_eval") and "files" in k)
    ratios = {
        "evaluate / pytrec_eval (dicts)": seconds["goldkeeper `evaluate` (dicts)"] / pt_dicts,
        "evaluate_files / pytrec_eval (files)": seconds[rows[3][0]] / pt_files,
        "eval trec process / pytrec_eval (files)": seconds[rows[4][0]] / pt_files,
    }
    result = {
        "queries": args.queries,
        "depth": args.depth,
        "repeat": args.repeat,
        "measures": GK_MEASURES,
        "rows": [{"tool": label, "wall_s": wall, "cpu_s": cpu} for label, wall, cpu in rows],
        "ratios_wall": ratios,
        "max_abs_diff_goldkeeper_vs_pytrec_eval": max_diff,
        "goldkeeper_files_equal_dicts": same,
        "goldkeeper_means": {k: round(v, 6) for k, v in report.summary.items()},
        "ranx_means": {k: round(float(v), 6) for k, v in rx_values.items()},
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"{args.queries:,} queries x {args.depth} docs; P@10, recall@10, MRR, nDCG@10, MAP; best of {args.repeat}.",
        "",
        "| tool | wall s | CPU s |",
        "|---|---:|---:|",
        *(f"| {label} | {wall:.2f} | {cpu:.2f} |" for label, wall, cpu in rows),
        "",
        *(f"- {name}: {value:.2f}x (wall)" for name, value in ratios.items()),
        f"- max per-query |goldkeeper - pytrec_eval| over the 5 measures: {max_diff:.1e}; "
        f"goldkeeper's file path equal to its dict path: {'yes' if same else 'NO'}",
        f"- peak RSS of the benchmark process: {result['peak_rss_mb'] / 1024:.1f} GB",
    ]
    print("\n".join(lines))
    if args.write_readme:
        update_results("metrics", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
