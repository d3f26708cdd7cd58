"""Benchmark: start-up of the `goldkeeper` command (warm: files in the page cache, after a discarded run).

Runs each command ``--runs`` times (default 10) after one warm-up run and reports the median and the
fastest wall time, plus the CPU time (user + system) of the median run's process. Commands:

- ``goldkeeper --help`` (no project needed: the CLI's own imports);
- ``goldkeeper show`` (the manifest summary at HEAD, in the project the script runs from: settings,
  git, the store's manifest);
- ``goldkeeper eval trec`` on trec_eval's small test files (numpy and pyarrow imported, 3 queries);
- ``goldkeeper diff --format json`` of two generated stores that differ in one chunk (default
  1,000,000 chunks, written once with ``bench_diff.generate`` into a temporary directory, about
  450 MB each; ``--diff-chunks 0`` skips it, ``--stores DIR`` keeps them in DIR for later runs):
  start-up plus the diff itself.

With ``--imports``, the slowest imports of ``goldkeeper show`` as ``python -X importtime`` reports
them (cumulative microseconds), to see where the start-up time goes.

    .venv/bin/python benchmarks/bench_startup.py                  # from the project root
    .venv/bin/python benchmarks/bench_startup.py --write-readme
    .venv/bin/python benchmarks/bench_startup.py --diff-chunks 0     # without the 1M-chunk diff
    .venv/bin/python benchmarks/bench_startup.py --before /tmp/old/src   # + --help, show and diff of an older tree
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme import update_results  # benchmarks/readme.py: the scripts run from this folder

ROOT = Path(__file__).resolve().parent.parent
TREC = ROOT / "tests" / "data" / "trec_eval"


def _goldkeeper() -> str:
    sibling = Path(sys.executable).with_name("goldkeeper")
    return str(sibling) if sibling.exists() else shutil.which("goldkeeper") or "goldkeeper"


def _timed(argv: list[str], env: dict[str, str] | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def timed_runs(argv: list[str], runs: int, srcs: list[Path | None]) -> list[tuple[float, float, float]]:
    """For each tree of ``srcs``: (median wall, fastest wall, CPU of the child at the median) over ``runs``
    runs after a warm-up.

    A ``src`` runs the goldkeeper of that source tree (first on PYTHONPATH); None the installed one.
    The trees take turns run by run, so a change of the shared machine's load hits them alike.
    """
    envs = [dict(os.environ, PYTHONPATH=str(src)) if src is not None else None for src in srcs]
    for env in envs:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    samples: list[list[tuple[float, float]]] = [[] for _ in envs]
    for _ in range(runs):
        for env, taken in zip(envs, samples, strict=True):
            taken.append(_timed(argv, env))
    results = []
    for taken in samples:
        taken.sort()
        results.append((statistics.median(wall for wall, _ in taken), taken[0][0], taken[len(taken) // 2][1]))
    return results


def slowest_imports(argv: list[str], top: int = 12) -> list[tuple[str, int]]:
    """The ``top`` imports with the largest cumulative time (microseconds) in ``python -X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=ROOT, capture_output=True, text=True, check=True
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        rows.append((name.strip(), int(cumulative)))
    return sorted(rows, key=lambda row: -row[1])[:top]


def diff_stores(workdir: Path, chunks: int) -> tuple[Path, Path, float | None]:
    """Two stores of ``chunks`` chunks that differ in the content of one chunk; (old, new, seconds to write).

    Stores already complete in ``workdir`` (a ``--stores`` folder kept from an earlier run) are reused:
    the seconds are then None. A marker file written last tells a complete pair from an interrupted one.
    """
    from bench_diff import generate  # the stores of benchmarks/bench_diff.py, same shape

    queries = max(chunks // 50, 100)
    old, new = workdir / "old" / "golden", workdir / "new" / "golden"
    marker = workdir / f"complete-{chunks}"
    if marker.exists():
        return old, new, None
    for store in (old, new):
        shutil.rmtree(store, ignore_errors=True)
    seconds = generate(old, chunks, 100, queries, None) + generate(new, chunks, 100, queries, chunks // 2)
    marker.write_text(f"{seconds:.1f}\n")
    return old, new, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--imports", action="store_true", help="also list the slowest imports of `show`")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/bench_startup.json"))
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    parser.add_argument("--diff-chunks", type=int, default=1_000_000, help="store size of the diff row (0: no row)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the diff's stores are written")
    parser.add_argument(
        "--stores", type=Path, default=None,
        help="keep the diff's stores in this folder and reuse them on later runs (written once)",
    )  # fmt: skip
    parser.add_argument(
        "--before", type=Path, help="also time --help, show and diff with this older src/ (same run, taking turns)"
    )
    parser.add_argument("--before-label", default="before", help="how the table names --before's tree")
    args = parser.parse_args()
    if args.stores is not None:
        args.stores.mkdir(parents=True, exist_ok=True)
        return run(args, args.stores)
    with tempfile.TemporaryDirectory(prefix="gk-bench-startup-", dir=args.workdir) as workdir:
        return run(args, Path(workdir))


def run(args: argparse.Namespace, workdir: Path) -> int:
    exe = _goldkeeper()
    commands = {
        "`goldkeeper --help`": [exe, "--help"],
        "`goldkeeper show`": [exe, "show"],
        "`goldkeeper eval trec` (trec_eval's test files)": [
            exe, "eval", "trec", str(TREC / "qrels.test"), str(TREC / "results.test")
        ],
    }  # fmt: skip
    generated = ""
    if args.diff_chunks:
        old, new, seconds = diff_stores(workdir, args.diff_chunks)
        label = f"`goldkeeper diff --format json` (one-record change, {args.diff_chunks:,} chunks)"
        commands[label] = [exe, "-C", str(old.parent), "diff", str(old), str(new), "--format", "json"]
        if seconds is not None:
            generated = f" The diff's two stores took {seconds:.0f} s to write (not timed)."
    rows = []
    for label, argv in commands.items():
        compared = args.before is not None and "eval trec" not in label
        labels = [label, f"{label}, {args.before_label}"] if compared else [label]
        srcs = [None, args.before] if compared else [None]
        for name, (median, fastest, cpu) in zip(labels, timed_runs(argv, args.runs, srcs), strict=True):
            rows.append({"command": name, "median_s": median, "fastest_s": fastest, "cpu_s": cpu})
            print(f"{name}: median {median:.3f} s, fastest {fastest:.3f} s, CPU {cpu:.3f} s", file=sys.stderr)
    imports = slowest_imports([exe, "show"]) if args.imports else []
    result = {"runs": args.runs, "rows": rows, "slowest_imports_show_us": imports, "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"Warm, {args.runs} runs after a warm-up each (trees compared take turns); wall time of the whole process.{generated}",
        "",
        "| command | median s | fastest s | CPU s (median run) |",
        "|---|---:|---:|---:|",
        *(f"| {r['command']} | {r['median_s']:.3f} | {r['fastest_s']:.3f} | {r['cpu_s']:.3f} |" for r in rows),
    ]
    if imports:
        lines += ["", "Slowest imports of `goldkeeper show` (cumulative ms): " + ", ".join(
            f"{name} {micro / 1000:.0f}" for name, micro in imports[:8]
        )]  # fmt: skip
    print("\n".join(lines))
    if args.write_readme:
        update_results("startup", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
