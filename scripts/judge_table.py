"""Per-label precision/recall of the offline judges on the labelled pairs (tests/data/judge-pairs/).

Usage:
  python scripts/judge_table.py                 # the report half: markdown table (docs/evaluation.md)
  python scripts/judge_table.py --tune          # the tuning half: aligned judge's macro F1 per threshold
  python scripts/judge_table.py --out FILE      # also write the table to FILE

Thresholds are chosen with --tune on the tuning half only; the table is computed on the report half.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from goldkeeper.evals.judges import LABELS, AlignedJudge, LexicalJudge, make_judge
from judge_pairs import load_pairs

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "judge-pairs"


def load(split: str) -> list[dict]:
    return load_pairs(PAIRS, split)


def scores(judge, pairs: list[dict]) -> dict[str, tuple[float, float, int]]:
    verdicts = judge.judge_many([(p["claim"], p["evidence"]) for p in pairs])
    predicted = Counter(v.label for v in verdicts)
    gold = Counter(p["label"] for p in pairs)
    hits = Counter(p["label"] for p, v in zip(pairs, verdicts, strict=True) if v.label == p["label"])
    return {
        label: (
            hits[label] / predicted[label] if predicted[label] else 0.0,
            hits[label] / gold[label] if gold[label] else 0.0,
            gold[label],
        )
        for label in LABELS
    }


def macro_f1(result: dict[str, tuple[float, float, int]]) -> float:
    f1s = [2 * p * r / (p + r) if p + r else 0.0 for p, r, _ in result.values()]
    return sum(f1s) / len(f1s)


def table(pairs: list[dict]) -> str:
    judges = [LexicalJudge(), AlignedJudge()]
    rows = ["| judge | " + " | ".join(f"{label} P | {label} R" for label in LABELS) + " | macro F1 |"]
    rows.append("|---|" + "---:|" * (2 * len(LABELS) + 1))
    for judge in judges:
        result = scores(judge, pairs)
        cells = " | ".join(f"{p:.3f} | {r:.3f}" for p, r, _ in result.values())
        rows.append(f"| {judge.identity} | {cells} | {macro_f1(result):.3f} |")
    gold = Counter(p["label"] for p in pairs)
    articles = len({p["article"] for p in pairs})
    note = (
        f"\n{len(pairs)} pairs from {articles} articles ("
        + ", ".join(f"{gold[label]} {label}" for label in LABELS)
        + ")"
    )
    return "\n".join(rows) + note + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.tune:
        pairs = load("tune")
        for step in range(10, 21):
            threshold = step / 20
            print(f"aligned@{threshold:g}: macro F1 {macro_f1(scores(make_judge('aligned', threshold), pairs)):.4f}")
        return
    text = table(load("report"))
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
