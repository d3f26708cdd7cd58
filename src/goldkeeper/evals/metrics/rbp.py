"""Rank-biased precision (``rbp``; Moffat & Zobel 2008) and its residual (``rbp_resid``), p = 0.9.

    rbp = (1 - p) * sum over ranks i of gain(d_i) * p^(i-1)
    rbp_resid = (1 - p) * sum over unjudged d_i of p^(i-1) + p^num_ret   (0 if nothing unjudged)

gain = relevance value scaled into [0, 1] per query (see :func:`.gains.rbp_gains`: divided by the
query's own highest judged level when that exceeds 1). Parameters as trec_eval: ``rbp.p=0.8``,
gains ``rbp.1=1,2=5,3=10`` (pairs; labels ``rbp_p=0.8``). p^i is a running product, as trec_eval's.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import PAD, Measure, Ranked, seq_sum
from goldkeeper.evals.metrics.gains import pair_label, persistence, rbp_gains

P_PERSIST = 0.9


def _weights(p: float, length: int) -> np.ndarray:
    """1, p, p*p, ... (length values, each the previous times p)."""
    return np.concatenate(([1.0], np.cumprod(np.full(max(length - 1, 0), p))))[:length]


def rbp(r: Ranked, params: tuple = ()) -> np.ndarray:
    p = persistence(params, P_PERSIST)
    return (1.0 - p) * seq_sum(rbp_gains(r, params) * _weights(p, r.depth)[None, :])


def rbp_resid(r: Ranked, params: tuple = ()) -> np.ndarray:
    p = persistence(params, P_PERSIST)
    weights = _weights(p, r.depth + 1)
    unjudged = (r.rel < 0) & (r.rel != PAD)
    total = seq_sum(unjudged * weights[None, : r.depth])
    return np.where(unjudged.any(axis=1), weights[r.num_ret] + (1 - p) * total, 0.0)


RBP = Measure("rbp", lambda r, ps: {pair_label("rbp", ps): rbp(r, ps)}, param_type="pairs")
RBP_RESID = Measure("rbp_resid", lambda r, ps: {pair_label("rbp_resid", ps): rbp_resid(r, ps)}, param_type="pairs")
