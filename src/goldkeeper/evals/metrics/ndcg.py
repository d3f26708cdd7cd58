"""Normalised discounted cumulative gain: ``ndcg`` and ``ndcg_cut_k`` (Järvelin & Kekäläinen 2002).

    DCG@k  = sum over ranks i <= k of gain(d_i) / log2(i + 1)
    nDCG@k = DCG@k / IDCG@k

gain = the judged relevance value (graded; 0 for non-relevant and unjudged).
IDCG@k is the DCG of the ideal ranking of all judged documents (gains sorted
descending). ``ndcg`` uses the whole ranking against the ideal over all judged
relevant documents. 0 when IDCG = 0. Default cutoffs as P.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels, safe_div
from goldkeeper.evals.metrics.precision import CUTOFFS


def dcg(r: Ranked, k: int | None = None) -> np.ndarray:
    k = r.depth if k is None else min(k, r.depth)
    return (r.gains[:, :k] * r.discount[None, :k]).sum(axis=1)


def ideal_dcg(r: Ranked, k: int | None = None) -> np.ndarray:
    width = r.ideal_gains.shape[1]
    k = width if k is None else min(k, width)
    return (r.ideal_gains[:, :k] * r.discount[None, :k]).sum(axis=1)


def ndcg_at(r: Ranked, k: int | None = None) -> np.ndarray:
    return safe_div(dcg(r, k), ideal_dcg(r, k))


def _ndcg(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"ndcg": ndcg_at(r)}


def _ndcg_cut(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return {label: ndcg_at(r, k) for label, k in zip(cut_labels("ndcg_cut", params), params, strict=True)}


NDCG = Measure("ndcg", _ndcg)
NDCG_CUT = Measure("ndcg_cut", _ndcg_cut, CUTOFFS, param_type=int)
