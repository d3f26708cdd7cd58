"""Counts: ``num_q``, ``num_ret``, ``num_rel``, ``num_rel_ret``, ``num_nonrel_judged_ret`` (summed over queries).

- num_ret = |retrieved|
- num_rel = R = |judged documents with rel >= 1|
- num_rel_ret = |retrieved ∩ relevant|
- num_nonrel_judged_ret = |retrieved documents judged 0 <= rel < 1|
- num_q = number of evaluated queries (summary only)
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked


def _num_q(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"num_q": np.ones(r.n, dtype=np.int64)}


def _num_ret(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"num_ret": r.num_ret}


def _num_rel(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"num_rel": r.num_rel}


def _num_rel_ret(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"num_rel_ret": r.num_rel_ret}


def _num_nonrel_judged_ret(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"num_nonrel_judged_ret": r.is_judged_nonrel.sum(axis=1).astype(np.int64)}


NUM_Q = Measure("num_q", _num_q, kind="int", aggregate="sum", per_query=False)
NUM_RET = Measure("num_ret", _num_ret, kind="int", aggregate="sum")
NUM_REL = Measure("num_rel", _num_rel, kind="int", aggregate="sum")
NUM_REL_RET = Measure("num_rel_ret", _num_rel_ret, kind="int", aggregate="sum")
NUM_NONREL_JUDGED_RET = Measure("num_nonrel_judged_ret", _num_nonrel_judged_ret, kind="int", aggregate="sum")
