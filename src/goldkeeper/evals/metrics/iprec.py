"""Interpolated precision at recall levels (``iprec_at_recall_x``) and ``11pt_avg``.

    iprec(x) = max over ranks i >= rank of the c-th relevant document of P@i,
               c = round(x * R)      (c = 0: max precision over the ranking;
                                      0 when fewer than c relevant are retrieved)
    11pt_avg = mean of iprec at recall 0.0, 0.1, ..., 1.0

Ranks are limited to the retrieved documents.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked, cut_labels

LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def iprec_at(r: Ranked, levels: tuple) -> list[np.ndarray]:
    n = r.n
    if r.depth == 0:
        return [np.zeros(n) for _ in levels]
    prec = r.cum_rel / r.ranks[None, :]
    prec = np.where(r.rel != -9, prec, 0.0)  # only retrieved ranks
    best_from = np.maximum.accumulate(prec[:, ::-1], axis=1)[:, ::-1]
    rel_rank_index = np.where(r.is_rel, r.cum_rel, 0)  # c at the rank of the c-th relevant doc
    out = []
    rows = np.arange(n)
    for x in levels:
        c = _round_half_away(x * r.num_rel.astype(np.float64))
        # position of the c-th relevant document (first position where cum_rel == c and is_rel)
        hit = rel_rank_index == c[:, None]
        pos = np.argmax(hit, axis=1)
        found = hit[rows, pos]
        value = np.where(found, best_from[rows, pos], 0.0)
        value = np.where(c == 0, best_from[:, 0], value)
        value = np.where(c > r.num_rel_ret, 0.0, value)
        out.append(value)
    return out


def _iprec(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    return dict(zip(cut_labels("iprec_at_recall", params), iprec_at(r, params), strict=True))


def _11pt(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"11pt_avg": np.mean(iprec_at(r, LEVELS), axis=0)}


IPREC_AT_RECALL = Measure("iprec_at_recall", _iprec, LEVELS, param_type=float)
ELEVEN_PT_AVG = Measure("11pt_avg", _11pt)
