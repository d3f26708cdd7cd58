"""nDCG averaged over the relevant documents (``ndcg_rel``; trec_eval's experimental measure).

    ndcg_rel = (1/R+) * [ sum over retrieved d with gain > 0 of DCG@rank(d) / IDCG@min(rank(d), R+)
                          + (R+ - retrieved positive-gain docs) * DCG / IDCG ]

R+ = judged documents with positive gain; DCG and IDCG without a cutoff are
over the whole ranking / all judged documents. 0 when R+ = 0.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked


def ndcg_rel(r: Ranked) -> np.ndarray:
    out = np.zeros(r.n)
    disc = r.discount
    for row in range(r.n):
        n_ret = int(r.num_ret[row])
        ideal = r.ideal_gains[row]
        r_pos = int((ideal > 0).sum())
        if r_pos == 0:
            continue
        cum_idcg = np.cumsum(ideal[:r_pos] * disc[:r_pos])
        gains = r.gains[row, :n_ret]
        cum_dcg = np.cumsum(gains * disc[:n_ret])
        total = 0.0
        hits = np.nonzero(gains > 0)[0]
        for i in hits:
            total += cum_dcg[i] / cum_idcg[min(int(i), r_pos - 1)]
        final_dcg = cum_dcg[-1] if n_ret else 0.0
        total += (r_pos - len(hits)) * final_dcg / cum_idcg[-1]
        if total > 0:
            out[row] = total / r_pos
    return out


def _compute(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"ndcg_rel": ndcg_rel(r)}


NDCG_REL = Measure("ndcg_rel", _compute)
