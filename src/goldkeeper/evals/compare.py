"""Compare two per-query result files: per-metric deltas, wins/ties/losses, paired randomization test.

Records are paired by (mode, query); with ``mode_a`` / ``mode_b`` one mode of
each file is taken and records are paired by query (to compare, say, hybrid
with vector from the same file). Only queries present on both sides count;
the rest are reported as unpaired.

For each metric, with d_i = B_i - A_i over the n paired queries:

    delta = mean(d)
    wins / ties / losses = #{d_i > 0} / #{d_i = 0} / #{d_i < 0}    (B's point of view)
    p = (1 + #{permutations with |mean(s * d)| >= |mean(d)|}) / (1 + N)

where each permutation draws independent random signs s_i = +-1 (swapping A
and B within a query: Fisher's paired randomization test, two-sided).
N = 10,000 permutations, numpy generator seed 0, so p is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from goldkeeper.errors import EvalError

PERMUTATIONS = 10_000
SEED = 0
#: fields of a per-query record that are not metrics.
NON_METRIC = {"mode", "query", "retrieved", "first_relevant_rank"}


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    mean_a: float
    mean_b: float
    delta: float
    wins: int
    ties: int
    losses: int
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "mean_a": round(self.mean_a, 6),
            "mean_b": round(self.mean_b, 6),
            "delta": round(self.delta, 6),
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "p_value": round(self.p_value, 6),
        }


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    paired: int
    only_a: int
    only_b: int
    permutations: int
    seed: int
    metrics: tuple[MetricComparison, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "paired_queries": self.paired,
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
            "test": {
                "kind": "paired randomization (sign flip), two-sided",
                "permutations": self.permutations,
                "seed": self.seed,
            },
            "metrics": [m.to_json() for m in self.metrics],
        }

    def to_markdown(self) -> str:
        lines = [
            "| metric | A | B | delta | wins | ties | losses | p |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in self.metrics:
            lines.append(
                f"| {_cell(m.metric)} | {m.mean_a:.4f} | {m.mean_b:.4f} | {m.delta:+.4f} | {m.wins} | {m.ties} | {m.losses} | {m.p_value:.4f} |"
            )
        return "\n".join(lines)


def _cell(name: str) -> str:
    """A metric label (the files' own text) as one Markdown table cell: a ``|`` in it would start another."""
    return name.replace("\\", "\\\\").replace("|", "\\|")


def load_per_query(path: Path) -> list[dict[str, Any]]:
    """Read a per-query file written by ``goldkeeper eval retrieval`` (a JSON list of records)."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise EvalError(f"{path}: cannot read: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise EvalError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) and "query" in r for r in data):
        raise EvalError(f"{path}: expected a list of per-query records with a 'query' field")
    return data


def randomization_p(diffs: np.ndarray, permutations: int = PERMUTATIONS, seed: int = SEED) -> float:
    """Two-sided paired randomization test p-value for mean(diffs) != 0 (see the module doc)."""
    diffs = np.asarray(diffs, dtype=np.float64)
    n = len(diffs)
    if n == 0:
        return 1.0
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed)
    at_least = 0
    chunk = max(1, min(permutations, 2_000_000 // max(n, 1)))
    done = 0
    while done < permutations:
        size = min(chunk, permutations - done)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ diffs) / n
        at_least += int(np.count_nonzero(means >= observed - 1e-12))
        done += size
    return (1 + at_least) / (1 + permutations)


def _index(records: Sequence[dict[str, Any]], mode: str | None, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for r in records:
        if mode is not None and r.get("mode") != mode:
            continue
        if not isinstance(r["query"], str) or not isinstance(r.get("mode", ""), str):
            field = "query" if not isinstance(r["query"], str) else "mode"
            raise EvalError(f"{name}: a record's {field!r} is {r[field]!r:.40}, not a string")
        key = ("" if mode is not None else r.get("mode", ""), r["query"])
        if key in out:  # the later record would silently replace the earlier one
            raise EvalError(f"{name}: {_where(key)} occurs twice")
        out[key] = r
    return out


def _where(key: tuple[str, str]) -> str:
    return f"query {key[1]!r}" + (f" (mode {key[0]!r})" if key[0] else "")


def _value(index: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str], metric: str, name: str) -> float:
    """A paired record's metric; a missing or non-number value is an error, never a silent 0."""
    value = index[key].get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        found = f"{value!r:.40}" if metric in index[key] else "missing"
        raise EvalError(f"{name}: {_where(key)}: {metric!r} is {found}, not a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond a double (a caller's record; a file's JSON is a double already)
        number = math.inf
    if not math.isfinite(number):
        raise EvalError(f"{name}: {_where(key)}: {metric!r} is {value!r:.40}, not a finite number")
    return number


def _check_sums(values: np.ndarray, keys: list[tuple[str, str]], metric: str, what: str, noun: str) -> None:
    """Refuse values whose running sum of magnitudes overflows a double (scores near +-1e308).

    The mean and every sign-flipped sum of the randomization test are bounded by that sum, so when
    it is finite no step overflows; otherwise the delta is inf and the p-value nan, with numpy's
    RuntimeWarnings on stderr. The error names the first query where the sum leaves the doubles.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        running = np.cumsum(np.abs(values))
    bad = np.flatnonzero(~np.isfinite(running))
    if bad.size:
        raise EvalError(
            f"{what}: {_where(keys[int(bad[0])])}: {metric!r} {noun} overflow a double (sum up to this query)"
        )


def _numeric_metrics(index: dict[tuple[str, str], dict[str, Any]], keys: list[tuple[str, str]]) -> set[str]:
    """The metric names with a number in the records of ``keys``."""
    return {
        m
        for k in keys
        for m, v in index[k].items()
        if m not in NON_METRIC and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _chosen_metrics(wanted: Sequence[str] | None, common: set[str]) -> list[str]:
    available = sorted(common)
    chosen = list(wanted) if wanted else available
    missing = [m for m in chosen if m not in available]
    if missing:
        raise EvalError(f"metric {missing[0]!r} is not in both files (available: {', '.join(available)})")
    return chosen


def _label(mode: str, metric: str, mode_a: str | None, mode_b: str | None) -> str:
    if mode:
        return f"{mode}.{metric}"
    return f"{mode_a}->{mode_b}.{metric}" if mode_a else metric


def _compare_metric(
    ia: dict[tuple[str, str], dict[str, Any]],
    ib: dict[tuple[str, str], dict[str, Any]],
    keys: list[tuple[str, str]],
    metric: str,
    label: str,
    permutations: int,
    seed: int,
    names: tuple[str, str],
) -> MetricComparison:
    """Both means, the delta, wins/ties/losses and the paired randomization p-value of one metric."""
    va = np.array([_value(ia, k, metric, names[0]) for k in keys])
    vb = np.array([_value(ib, k, metric, names[1]) for k in keys])
    with np.errstate(over="ignore", invalid="ignore"):
        d = vb - va
    _check_sums(va, keys, metric, names[0], "values")
    _check_sums(vb, keys, metric, names[1], "values")
    _check_sums(d, keys, metric, f"{names[0]} vs {names[1]}", "differences")
    return MetricComparison(
        metric=label,
        mean_a=float(va.mean()),
        mean_b=float(vb.mean()),
        delta=float(d.mean()),
        wins=int((d > 0).sum()),
        ties=int((d == 0).sum()),
        losses=int((d < 0).sum()),
        p_value=randomization_p(d, permutations, seed),
    )


def compare_records(
    a: Sequence[dict[str, Any]],
    b: Sequence[dict[str, Any]],
    *,
    mode_a: str | None = None,
    mode_b: str | None = None,
    metrics: Sequence[str] | None = None,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    if (mode_a is None) != (mode_b is None):
        raise EvalError("give both --mode-a and --mode-b, or neither")
    ia, ib = _index(a, mode_a, names[0]), _index(b, mode_b, names[1])
    keys = sorted(set(ia) & set(ib))
    if not keys:
        raise EvalError("the two files have no (mode, query) in common")
    chosen = _chosen_metrics(metrics, _numeric_metrics(ia, keys) & _numeric_metrics(ib, keys))
    results = [
        _compare_metric(
            ia,
            ib,
            [k for k in keys if k[0] == mode],
            metric,
            _label(mode, metric, mode_a, mode_b),
            permutations,
            seed,
            names,
        )
        for mode in sorted({k[0] for k in keys})
        for metric in chosen
    ]
    return Comparison(
        a=names[0],
        b=names[1],
        paired=len(keys),
        only_a=len(set(ia) - set(ib)),
        only_b=len(set(ib) - set(ia)),
        permutations=permutations,
        seed=seed,
        metrics=tuple(results),
    )


def compare_files(a: Path, b: Path, **kwargs: Any) -> Comparison:
    return compare_records(load_per_query(a), load_per_query(b), names=(str(a), str(b)), **kwargs)


__all__ = [
    "Comparison",
    "MetricComparison",
    "PERMUTATIONS",
    "SEED",
    "compare_files",
    "compare_records",
    "randomization_p",
]
