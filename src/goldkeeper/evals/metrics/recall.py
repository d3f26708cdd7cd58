"""Recall at cutoffs (``recall_k``).

    recall@k = |relevant documents in the top k| / R      (0 when R = 0)

R is the number of judged relevant documents of the query. Default cutoffs as P.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels, safe_div
from goldkeeper.evals.metrics.precision import CUTOFFS


def recall_at(r: Ranked, k: int) -> np.ndarray:
    return safe_div(r.cum_rel_at(k), r.num_rel)


def _compute(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return {label: recall_at(r, k) for label, k in zip(cut_labels("recall", params), params, strict=True)}


RECALL = Measure("recall", _compute, CUTOFFS, param_type=int)
