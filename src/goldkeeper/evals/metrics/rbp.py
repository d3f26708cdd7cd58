"""Rank-biased precision (``rbp``; Moffat & Zobel 2008) and its residual (``rbp_resid``), p = 0.9.

    rbp = (1 - p) * sum over ranks i of gain(d_i) * p^(i-1)
    rbp_resid = (1 - p) * sum over unjudged d_i of p^(i-1) + p^num_ret   (0 if nothing unjudged)

gain = relevance value scaled into [0, 1] (divided by the highest level when it exceeds 1).
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked

P_PERSIST = 0.9


def _weights(r: Ranked) -> np.ndarray:
    return P_PERSIST ** np.arange(r.depth, dtype=np.float64)


def rbp(r: Ranked) -> np.ndarray:
    top = max(r.rel_levels.shape[1] - 1, 1)
    gains = r.gains / top if top > 1 else r.gains
    return (1.0 - P_PERSIST) * (gains * _weights(r)[None, :]).sum(axis=1)


def rbp_resid(r: Ranked) -> np.ndarray:
    unjudged = (r.rel < 0) & (r.rel != -9)
    total = (unjudged * _weights(r)[None, :]).sum(axis=1)
    return np.where(unjudged.any(axis=1), P_PERSIST**r.num_ret + (1.0 - P_PERSIST) * total, 0.0)


RBP = Measure("rbp", lambda r, _: {"rbp": rbp(r)})
RBP_RESID = Measure("rbp_resid", lambda r, _: {"rbp_resid": rbp_resid(r)})
