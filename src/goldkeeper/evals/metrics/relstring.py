"""The relevance values of the first 10 retrieved documents as a string (``relstring``; per query only).

One character per document: the value 0-9, '>' above 9, '-' not judged, '.' pooled but unjudged.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import NONPOOL, UNJUDGED, Measure, Ranked


def _char(value: int) -> str:
    if value > 9:
        return ">"
    if value >= 0:
        return str(value)
    return {NONPOOL: "-", UNJUDGED: "."}.get(value, "<")


def _compute(r: Ranked, params: tuple) -> dict[str, np.ndarray]:
    length = int(params[0])
    strings = [
        "".join(_char(int(v)) for v in row[: min(length, int(n))]) for row, n in zip(r.rel, r.num_ret, strict=True)
    ]
    return {"relstring": np.array(strings, dtype=object)}


RELSTRING = Measure("relstring", _compute, (10,), kind="str", aggregate="none", summary=False, param_type=int)
