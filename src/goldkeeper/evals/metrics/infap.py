"""Inferred average precision (``infAP``; Yilmaz & Aslam, CIKM 2006), trec_eval's estimator.

For the relevant document at 0-based position j (j > 0), with rel_j relevant,
non_j judged non-relevant and unj_j pooled-but-unjudged documents at positions
<= j (rel_j counts d itself; documents outside the pool are skipped):

    term_j = 1/(j+1) + (j/(j+1)) * ((rel_j - 1 + non_j + unj_j) / j)
                                 * ((rel_j - 1 + eps) / (rel_j - 1 + non_j + 2 eps))

term_0 = 1, eps = 0.00001, infAP = (1/R) * sum term_j. With complete judgments it equals AP.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import UNJUDGED, Measure, Ranked, safe_div, seq_sum

EPSILON = 0.00001


def inf_ap(r: Ranked) -> np.ndarray:
    if r.depth == 0:
        return np.zeros(r.n)
    rel_so_far = r.cum_rel.astype(np.float64)
    non = np.cumsum(r.is_judged_nonrel, axis=1).astype(np.float64)
    unj = np.cumsum(r.rel == UNJUDGED, axis=1).astype(np.float64)
    j = np.arange(r.depth, dtype=np.float64)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = 1.0 / (j + 1.0) + (j / (j + 1.0)) * ((rel_so_far - 1 + non + unj) / j) * (
            (rel_so_far - 1 + EPSILON) / (rel_so_far - 1 + non + 2 * EPSILON)
        )
    term[:, 0] = 1.0
    return safe_div(seq_sum(np.where(r.is_rel, term, 0.0)), r.num_rel)


def _compute(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"infAP": inf_ap(r)}


INFAP = Measure("infAP", _compute)
