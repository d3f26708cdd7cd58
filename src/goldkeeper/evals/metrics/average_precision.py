"""Average precision: ``map``, ``map_cut_k``, ``gm_map``, ``set_map``.

    AP = (1/R) * sum over relevant retrieved documents d of P@rank(d)
    AP@k (map_cut_k) = (1/R) * sum over relevant d with rank(d) <= k of P@rank(d)
    gm_map = exp(mean over queries of log(max(AP, 0.00001)))   (summary only)

All are 0 when R = 0. ``map`` is the mean of AP over queries.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import BLOCK, Measure, Ranked, cut_labels, safe_div, seq_sum
from goldkeeper.evals.metrics.precision import CUTOFFS


def average_precision(r: Ranked, k: int | None = None) -> np.ndarray:
    """Sums of P@rank over the relevant retrieved ranks (of the top ``k`` if given), / R.

    Summed in blocks of rows: a full ``n x depth`` matrix of precisions would be fresh memory,
    which costs more than the arithmetic at 10M entries.
    """
    width = r.depth if k is None else min(k, r.depth)
    sums = np.zeros(r.n, dtype=np.float64)
    step = max(1, BLOCK // max(width, 1))
    for first in range(0, r.n if width else 0, step):
        rows = slice(first, first + step)
        prec = r.cum_rel[rows, :width] / r.ranks[None, :width]
        np.multiply(prec, r.is_rel[rows, :width], out=prec)  # x * False = +0.0 (x >= 0)
        sums[rows] = seq_sum(prec, overwrite=True)
    return safe_div(sums, r.num_rel)


def _map(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"map": average_precision(r)}


def _gm_map(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"gm_map": average_precision(r)}


def _map_cut(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return {label: average_precision(r, k) for label, k in zip(cut_labels("map_cut", params), params, strict=True)}


MAP = Measure("map", _map)
GM_MAP = Measure("gm_map", _gm_map, aggregate="gm", per_query=False)
MAP_CUT = Measure("map_cut", _map_cut, CUTOFFS, param_type=int)
