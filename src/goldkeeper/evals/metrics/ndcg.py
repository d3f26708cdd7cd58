"""Discounted cumulative gain: ``dcg``, ``ideal_dcg``, ``ndcg``, ``ndcg_cut_k`` (Järvelin & Kekäläinen 2002).

    DCG@k  = sum over ranks i <= k of gain(d_i) / log2(i + 1)
    nDCG@k = DCG@k / IDCG@k

gain = the judged relevance value (graded; 0 for non-relevant and unjudged), or as set by gain
parameters (``-m ndcg.1=1,2=5,3=10``, trec_eval's syntax, see :mod:`.gains`; ``dcg``,
``ideal_dcg`` and ``ndcg`` take them). IDCG@k is the DCG of the ideal ranking of all judged
documents (positive gains sorted descending). ``ndcg`` uses the whole ranking against the ideal
over all judged documents; 0 when IDCG = 0. ``ndcg_cut`` takes cutoffs (default as P).
``dcg`` and ``ideal_dcg`` are not part of ``all_trec`` (as in trec_eval).
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels, safe_div
from goldkeeper.evals.metrics.gains import (
    discounted_prefix,
    discounted_sum,
    ideal_gains,
    pair_label,
    prefix_at,
    retrieved_gains,
)
from goldkeeper.evals.metrics.precision import CUTOFFS


def dcg(r: Ranked, k: int | None = None, params: tuple = ()) -> np.ndarray:
    return discounted_sum(retrieved_gains(r, params), k)


def ideal_dcg(r: Ranked, k: int | None = None, params: tuple = ()) -> np.ndarray:
    return discounted_sum(ideal_gains(r, params), k)


def ndcg_at(r: Ranked, k: int | None = None, params: tuple = ()) -> np.ndarray:
    return safe_div(dcg(r, k, params), ideal_dcg(r, k, params))


def _ndcg_cut(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    width = max(params)  # running sums past the largest cutoff are never read
    gains = discounted_prefix(retrieved_gains(r, width=width))
    ideal = discounted_prefix(ideal_gains(r)[:, :width])
    return {
        label: safe_div(prefix_at(gains, k), prefix_at(ideal, k))
        for label, k in zip(cut_labels("ndcg_cut", params), params, strict=True)
    }


DCG = Measure("dcg", lambda r, ps: {pair_label("dcg", ps): dcg(r, None, ps)}, param_type="pairs")
IDEAL_DCG = Measure(
    "ideal_dcg", lambda r, ps: {pair_label("ideal_dcg", ps): ideal_dcg(r, None, ps)}, param_type="pairs"
)
NDCG = Measure("ndcg", lambda r, ps: {pair_label("ndcg", ps): ndcg_at(r, None, ps)}, param_type="pairs")
NDCG_CUT = Measure("ndcg_cut", _ndcg_cut, CUTOFFS, param_type=int)
