"""nDCG averaged at the R levels (``Rndcg``; trec_eval's experimental measure).

The R levels are the positions b where the ideal gain changes: the cumulative
counts of judged documents per positive relevance level, highest first (the
last one is R). With n = documents retrieved:

    Rndcg = mean over points of DCG@min(b, n) / IDCG@b,
            plus the point DCG@n / IDCG@R when n > R + 1

0 when R = 0.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked


def rndcg(r: Ranked) -> np.ndarray:
    out = np.zeros(r.n)
    disc = r.discount
    counts = r.rel_levels[:, 1:][:, ::-1]
    for row in range(r.n):
        R = int(r.num_rel[row])
        if R == 0:
            continue
        n_ret = int(r.num_ret[row])
        ideal = r.ideal_gains[row]
        r_pos = int((ideal > 0).sum())
        cum_idcg = np.concatenate(([0.0], np.cumsum(ideal[:r_pos] * disc[:r_pos])))
        cum_dcg = np.concatenate(([0.0], np.cumsum(r.gains[row, :n_ret] * disc[:n_ret])))
        bounds = sorted({int(b) for b in np.cumsum(counts[row]) if b > 0})
        points = [cum_dcg[min(b, n_ret)] / cum_idcg[b] for b in bounds if cum_idcg[b] > 0]
        if n_ret > r_pos + 1 and cum_idcg[r_pos] > 0:
            points.append(cum_dcg[n_ret] / cum_idcg[r_pos])
        if points:
            out[row] = sum(points) / len(points)
    return out


def _compute(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"Rndcg": rndcg(r)}


RNDCG = Measure("Rndcg", _compute)
