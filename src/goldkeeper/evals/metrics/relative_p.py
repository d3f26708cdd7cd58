"""Relative precision at cutoffs (``relative_P_k``).

relative_P@k = |relevant in the top k| / min(k, R)      (0 when R = 0)
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels, safe_div
from goldkeeper.evals.metrics.precision import CUTOFFS


def _compute(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return {
        label: safe_div(r.cum_rel_at(k), np.minimum(k, r.num_rel))
        for label, k in zip(cut_labels("relative_P", params), params, strict=True)
    }


RELATIVE_P = Measure("relative_P", _compute, CUTOFFS, param_type=int)
