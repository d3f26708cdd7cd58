"""trec_eval's pair parameters (``-m ndcg.1=1,2=5,3=10``, ``-m rbp.p=0.8``) and the gains they give.

Pair parameters are ``name=value`` items separated by commas. A name that is an integer sets the
gain of that relevance level (every other judged level keeps gain = level; unjudged and
unretrieved documents gain 0 unless a negative level is named); ``p`` sets rbp's persistence;
other names are ignored, as trec_eval ignores them. The measure's label is its name, ``_`` and
the parameter text as given (``ndcg_1=1,2=5,3=10``), as trec_eval prints it.

The ideal ranking of a query holds every judged document with a positive gain, highest gain
first. Discounts are divisions by ``log2(rank + 1)`` and sums run in rank order, as trec_eval's
loops compute them, so values agree to the last bit.
"""

from __future__ import annotations

import re

import numpy as np

from goldkeeper.evals.metrics.base import PAD, Ranked, seq_sum

#: (text as given, ((name, value), ...)); () when the measure has no parameters.
PairParams = tuple
_INT = re.compile(r"[+-]?\d+")


def pair_label(name: str, params: PairParams) -> str:
    return f"{name}_{params[0]}" if params else name


def persistence(params: PairParams, default: float = 0.9) -> float:
    """rbp's ``p`` (the last one given wins, as in trec_eval)."""
    value = default
    for name, number in params[1] if params else ():
        if name == "p":
            value = number
    return value


def level_overrides(params: PairParams) -> dict[int, float]:
    """Relevance level -> gain, for the integer-named parameters."""
    return {int(name): number for name, number in (params[1] if params else ()) if _INT.fullmatch(name)}


def _level_table(r: Ranked, overrides: dict[int, float]) -> tuple[np.ndarray, int]:
    """Gain per value from ``low`` to the highest level (index = value - low), and ``low``."""
    low = min(-2, *overrides) if overrides else -2
    high = max(r.rel_levels.shape[1] - 1, *overrides) if overrides else r.rel_levels.shape[1] - 1
    values = np.arange(low, high + 1)
    table = np.where(values >= 0, values, 0).astype(np.float64)
    for level, gain in overrides.items():
        table[level - low] = gain
    return table, low


def retrieved_gains(r: Ranked, params: PairParams = (), width: int | None = None) -> np.ndarray:
    """Gain of the document at each rank (0 past the end), of the first ``width`` ranks only if given."""
    table, low = _level_table(r, level_overrides(params))
    rel = r.rel if width is None else r.rel[:, :width]
    index = np.clip(rel - low, 0, len(table) - 1)
    return np.where(rel == PAD, 0.0, table[index])


def ideal_gains(r: Ranked, params: PairParams = ()) -> np.ndarray:
    """Per query: the positive gains of all judged documents, highest first, zero padded."""
    overrides = level_overrides(params)
    levels = r.rel_levels.shape[1]
    gain = np.array([overrides.get(v, float(v)) for v in range(levels)], dtype=np.float64)
    order = [v for v in sorted(range(levels), key=lambda v: -gain[v]) if gain[v] > 0]
    counts = r.rel_levels[:, order]
    width = int(counts.sum(axis=1).max(initial=0))
    out = np.zeros((r.n, width), dtype=np.float64)
    ends = np.cumsum(counts, axis=1)
    positions = np.arange(width)[None, :]
    for column, level in enumerate(order):
        start = (ends[:, column] - counts[:, column])[:, None]
        out[(positions >= start) & (positions < ends[:, column][:, None])] = gain[level]
    return out


def log2_ranks(width: int) -> np.ndarray:
    """log2(rank + 1) for ranks 1..width (the DCG discount's divisor)."""
    return np.log2(np.arange(2, width + 2, dtype=np.float64))


def discounted_sum(gains: np.ndarray, k: int | None = None) -> np.ndarray:
    """sum over ranks i <= k of gain_i / log2(i + 1), added in rank order."""
    if k is not None:
        gains = gains[:, :k]
    return seq_sum(gains / log2_ranks(gains.shape[1])[None, :])


def discounted_prefix(gains: np.ndarray) -> np.ndarray:
    """Running discounted sums: column i holds the DCG of ranks 1..i+1 (added in rank order)."""
    return np.cumsum(gains / log2_ranks(gains.shape[1])[None, :], axis=1)


def prefix_at(prefix: np.ndarray, k: int) -> np.ndarray:
    """The running sum at rank k (its last value when the rows are shorter)."""
    if prefix.shape[1] == 0:
        return np.zeros(prefix.shape[0], dtype=np.float64)
    return prefix[:, min(k, prefix.shape[1]) - 1]


def rbp_gains(r: Ranked, params: PairParams = ()) -> np.ndarray:
    """Gains scaled into [0, 1] per query, as trec_eval's rbp does.

    A query's gain list holds its levels 0..max judged level and every named level; when one of
    them lies outside [0, 1], each listed level's gain becomes (gain - min) / (max - min).
    Documents at unlisted values (unjudged, not in the pool) keep gain 0.
    """
    overrides = level_overrides(params)
    table, low = _level_table(r, overrides)
    levels = r.rel_levels.shape[1]
    present = r.rel_levels > 0
    top = np.where(present.any(axis=1), levels - 1 - np.argmax(present[:, ::-1], axis=1), -1)
    base = table[-low : -low + levels] if levels else np.zeros(0)
    extra = list(overrides.values())
    lo_extra, hi_extra = (min(extra), max(extra)) if extra else (np.inf, -np.inf)
    prefix_min = np.concatenate(([np.inf], np.minimum.accumulate(base)))
    prefix_max = np.concatenate(([-np.inf], np.maximum.accumulate(base)))
    lo = np.minimum(prefix_min[top + 1], lo_extra)
    hi = np.maximum(prefix_max[top + 1], hi_extra)
    scale = (lo < 0) | (hi > 1)
    index = np.clip(r.rel - low, 0, len(table) - 1)
    gains = table[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (gains - lo[:, None]) / (hi - lo)[:, None]
    listed = (r.rel >= 0) | np.isin(r.rel, [v for v in overrides if v < 0])
    listed &= r.rel != PAD
    return np.where(listed, np.where(scale[:, None], scaled, gains), 0.0)
