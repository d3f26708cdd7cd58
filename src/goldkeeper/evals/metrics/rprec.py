"""R-precision (``Rprec``) and precision at multiples of R (``Rprec_mult_x``).

    Rprec = |relevant documents in the top R| / R
    Rprec_mult_x = |relevant in the top c| / c,  c = int(x * R + 0.9)   (0 when c = 0)

Documents past the end of the ranking count as non-relevant. Default
multiples 0.2, 0.4, ..., 2.0.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels, safe_div

MULTIPLES = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)


def r_precision(r: Ranked) -> np.ndarray:
    return safe_div(r.cum_rel_at_each(r.num_rel), r.num_rel)


def _rprec(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"Rprec": r_precision(r)}


def _rprec_mult(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    out = {}
    for label, x in zip(cut_labels("Rprec_mult", params), params, strict=True):
        cut = (x * r.num_rel + 0.9).astype(np.int64)
        out[label] = safe_div(r.cum_rel_at_each(cut), cut)
    return out


RPREC = Measure("Rprec", _rprec)
RPREC_MULT = Measure("Rprec_mult", _rprec_mult, MULTIPLES, param_type=float)
