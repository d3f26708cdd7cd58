"""Gain measures ``G`` and ``binG`` (trec_eval's experimental measures, 2008).

    binG = (1/R) * sum over relevant retrieved d of 1 / log2(2 + non-relevant documents above d)
    G    = (1/sum of all judged gains) * sum over retrieved d with gain > 0 of
           gain(d) / log2(2 + cost(rank d) - gain retrieved at or above d)

cost(i) = sum over the first i ideal positions of max(ideal gain, 1): the
cheapest possible way to collect that much gain. Unjudged documents count as non-relevant.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, safe_div


def bin_g(r: Ranked) -> np.ndarray:
    if r.depth == 0:
        return np.zeros(r.n)
    nonrel_above = np.arange(r.depth)[None, :] - (r.cum_rel - 1)
    with np.errstate(divide="ignore"):
        terms = np.where(r.is_rel, 1.0 / np.log2(2.0 + nonrel_above), 0.0)
    return safe_div(terms.sum(axis=1), r.num_rel)


def g(r: Ranked) -> np.ndarray:
    if r.depth == 0:
        return np.zeros(r.n)
    cost = np.cumsum(np.maximum(r.ideal_gains[:, : r.depth], 1.0), axis=1)
    got = np.cumsum(r.gains, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r.gains != 0, r.gains / np.log2(2.0 + cost - got), 0.0)
    return safe_div(terms.sum(axis=1), r.ideal_gains.sum(axis=1))


BIN_G = Measure("binG", lambda r, _: {"binG": bin_g(r)})
G = Measure("G", lambda r, _: {"G": g(r)})
