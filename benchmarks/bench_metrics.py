"""Benchmark: goldkeeper's metric computation vs pytrec_eval and ranx, same generated run, same process.

A generated run of ``--queries`` queries (default 100,000) with ``--depth`` retrieved documents
each (default 100; random scores, some ties) and qrels of 5 graded relevant (levels 1-3, 4 of them
retrievable) and 10 judged non-relevant documents per query. All three tools evaluate the same
in-memory dicts ({qid: {docno: score}}, {qid: {docno: rel}}) for P@10, recall@10, MRR
(recip_rank), nDCG@10 (ndcg_cut_10) and MAP:

- goldkeeper ``evaluate`` (join + trec_eval ranking rules + vectorised numpy measures), also split
  into its ranking/join step and the measure step;
- pytrec_eval (trec_eval's C code): ``RelevanceEvaluator(qrels, measures)`` + ``evaluate(run)``;
- ranx (numba): ``Qrels(qrels)``, ``Run(run)`` + ``evaluate`` (JIT compiled beforehand on a small
  run, so compilation is not timed).

The per-query values of goldkeeper and pytrec_eval are compared (max absolute difference).

    .venv/bin/python benchmarks/bench_metrics.py                   # 100,000 queries, best of 3 per tool
    .venv/bin/python benchmarks/bench_metrics.py --queries 10000   # quicker
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from goldkeeper.evals.metrics import Ranked, build_ranked, evaluate, evaluate_ranked, resolve_measures
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
    """Best wall time of REPEAT runs (the machine may be shared), and the last result."""
    best = float("inf")
    out = None
    for _ in range(REPEAT):
        out = None
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per tool (default 3)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/bench_metrics.json"))
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args()
    global REPEAT

    gen_s, (qrels, run) = timed(lambda: generate(args.queries, args.depth))
    REPEAT = args.repeat
    print(f"generated {args.queries:,} queries x {args.depth} docs in {gen_s:.1f} s", file=sys.stderr)
    rows = []

    measures = resolve_measures(GK_MEASURES)
    t_join, ranked = timed(lambda: build_ranked(qrels, run))
    # a fresh Ranked per repetition: its derived arrays are cached properties
    t_measures, report = timed(
        lambda: evaluate_ranked(Ranked(ranked.qids, ranked.rel, ranked.num_ret, ranked.rel_levels), measures)
    )
    t_total, _ = timed(lambda: evaluate(qrels, run, GK_MEASURES))
    rows.append({"tool": "goldkeeper evaluate", "seconds": t_total})
    rows.append({"tool": "  of which join + ranking", "seconds": t_join})
    rows.append({"tool": "  of which measures (numpy)", "seconds": t_measures})
    ranked = None

    import pytrec_eval

    t_pt, pt_result = timed(lambda: pytrec_eval.RelevanceEvaluator(qrels, PT_MEASURES).evaluate(run))
    rows.append({"tool": "pytrec_eval " + _version("pytrec-eval-terrier"), "seconds": t_pt})
    max_diff = 0.0
    for label, pt_label in PT_LABELS.items():
        ours = report.per_query[label]
        theirs = np.array([pt_result[q][pt_label] for q in report.qids])
        max_diff = max(max_diff, float(np.max(np.abs(ours - theirs))))
    del pt_result

    import warnings

    import ranx

    warnings.filterwarnings("ignore", module="numba")
    warnings.filterwarnings("ignore", category=Warning, module="ranx")

    small_q, small_r = generate(50, 20, seed=1)
    ranx.evaluate(ranx.Qrels(small_q), ranx.Run(small_r), RANX_MEASURES)  # JIT warm-up (not timed)
    t_rx, rx_values = timed(lambda: ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), RANX_MEASURES))
    rows.append({"tool": "ranx " + _version("ranx") + " (JIT warm)", "seconds": t_rx})

    result = {
        "queries": args.queries,
        "depth": args.depth,
        "repeat": args.repeat,
        "measures": GK_MEASURES,
        "rows": rows,
        "max_abs_diff_goldkeeper_vs_pytrec_eval": max_diff,
        "goldkeeper_means": {k: round(v, 6) for k, v in report.summary.items()},
        "ranx_means": {k: round(float(v), 6) for k, v in rx_values.items()},
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"| tool ({args.queries:,} queries x {args.depth} docs; P@10, recall@10, MRR, nDCG@10, MAP) | seconds (best of {args.repeat}) |",
        "|---|---:|",
        *(f"| {row['tool']} | {row['seconds']:.2f} |" for row in rows),
        "",
        f"max |goldkeeper - pytrec_eval| per query over the 5 measures: {max_diff:.2e}",
    ]
    print("\n".join(lines))
    if args.write_readme:
        update_results("metrics", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
