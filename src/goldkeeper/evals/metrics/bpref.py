"""Binary preference: ``bpref`` and ``gm_bpref`` (Buckley & Voorhees, SIGIR 2004).

    bpref = (1/R) * sum over judged relevant retrieved d of
            (1 - min(n_d, R) / min(N, R))    if n_d > 0, else 1

n_d = judged non-relevant documents ranked above d, N = judged non-relevant
documents of the query; unjudged documents are ignored.
gm_bpref = exp(mean log(max(bpref, 0.00001))) (summary only).
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, safe_div, seq_sum


def bpref(r: Ranked) -> np.ndarray:
    if r.depth == 0:
        return np.zeros(r.n)
    nonrel_above = np.cumsum(r.is_judged_nonrel, axis=1) - r.is_judged_nonrel
    R = r.num_rel[:, None]
    denom = np.minimum(r.num_nonrel, r.num_rel)[:, None].astype(np.float64)
    penalty = safe_div(np.minimum(nonrel_above, R), np.broadcast_to(denom, nonrel_above.shape))
    per_doc = np.where(nonrel_above > 0, 1.0 - penalty, 1.0)
    return safe_div(seq_sum(np.where(r.is_rel, per_doc, 0.0)), r.num_rel)


def _bpref(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"bpref": bpref(r)}


def _gm_bpref(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"gm_bpref": bpref(r)}


BPREF = Measure("bpref", _bpref)
GM_BPREF = Measure("gm_bpref", _gm_bpref, aggregate="gm", per_query=False)
