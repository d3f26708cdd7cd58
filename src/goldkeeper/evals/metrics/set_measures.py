"""Measures of the retrieved set as a whole (ranking ignored).

    set_P = num_rel_ret / num_ret
    set_recall = num_rel_ret / R
    set_relative_P = num_rel_ret / min(num_ret, R)
    set_map = set_P * set_recall
    set_F = 2 * set_P * set_recall / (set_P + set_recall)      (beta = 1)

Each is 0 where its denominator is 0.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, safe_div


def _p(r: Ranked) -> np.ndarray:
    return safe_div(r.num_rel_ret, r.num_ret)


def _r(r: Ranked) -> np.ndarray:
    return safe_div(r.num_rel_ret, r.num_rel)


SET_P = Measure("set_P", lambda r, _: {"set_P": _p(r)})
SET_RELATIVE_P = Measure(
    "set_relative_P", lambda r, _: {"set_relative_P": safe_div(r.num_rel_ret, np.minimum(r.num_ret, r.num_rel))}
)
SET_RECALL = Measure("set_recall", lambda r, _: {"set_recall": _r(r)})
SET_MAP = Measure("set_map", lambda r, _: {"set_map": _p(r) * _r(r)})
SET_F = Measure("set_F", lambda r, _: {"set_F": safe_div(2 * _p(r) * _r(r), _p(r) + _r(r))})
