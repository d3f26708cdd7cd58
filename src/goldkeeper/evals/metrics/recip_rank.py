"""Reciprocal rank (``recip_rank``; its mean over queries is MRR).

recip_rank = 1 / rank of the first relevant retrieved document   (0 if none)
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked


def recip_rank(r: Ranked) -> np.ndarray:
    if r.depth == 0:
        return np.zeros(r.n)
    first = np.argmax(r.is_rel, axis=1)
    found = r.is_rel[np.arange(r.n), first]
    return np.where(found, 1.0 / (first + 1.0), 0.0)


def _compute(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"recip_rank": recip_rank(r)}


RECIP_RANK = Measure("recip_rank", _compute)
