"""Precision at cutoffs (``P_k``).

    P@k = |relevant documents in the top k| / k

Documents past the end of a short ranking count as non-relevant (the divisor
stays k). Default cutoffs 5, 10, 15, 20, 30, 100, 200, 500, 1000.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels

CUTOFFS = (5, 10, 15, 20, 30, 100, 200, 500, 1000)


def precision_at(r: Ranked, k: int) -> np.ndarray:
    return r.cum_rel_at(k) / float(k)


def _compute(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return {label: precision_at(r, k) for label, k in zip(cut_labels("P", params), params, strict=True)}


P = Measure("P", _compute, CUTOFFS, param_type=int)
