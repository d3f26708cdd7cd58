"""Unjudged at cutoffs (``unj_k``).

    unj@k = |documents in the top k without a judgment| / k

Past the end of the ranking the rest is assumed judged. Default cutoffs 5, 10, 20.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import PAD, Measure, Ranked, cut_labels

CUTOFFS = (5, 10, 20)


def _compute(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    unj = np.cumsum((r.rel < 0) & (r.rel != PAD), axis=1)
    out = {}
    for label, k in zip(cut_labels("unj", params), params, strict=True):
        out[label] = (unj[:, min(k, r.depth) - 1] / float(k)) if r.depth else np.zeros(r.n)
    return out


UNJ = Measure("unj", _compute, CUTOFFS, param_type=int)
