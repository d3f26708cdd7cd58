"""Success at cutoffs (``success_k``) and pass rate.

    success@k = 1 if at least one relevant document is in the top k, else 0

Its mean over queries is the *pass rate* (hit rate): the share of queries with
at least one expected result in the top k. Default cutoffs 1, 5, 10.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels

CUTOFFS = (1, 5, 10)


def success_at(r: Ranked, k: int) -> np.ndarray:
    return (r.cum_rel_at(k) > 0).astype(np.float64)


def _compute(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return {label: success_at(r, k) for label, k in zip(cut_labels("success", params), params, strict=True)}


SUCCESS = Measure("success", _compute, CUTOFFS, param_type=int)
