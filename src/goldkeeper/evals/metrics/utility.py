"""Set utility (``utility``) with trec_eval's default coefficients (1, -1, 0, 0).

    utility = a * rel_ret + b * nonrel_ret + c * rel_nonret + d * nonrel_nonret
            = num_rel_ret - (num_ret - num_rel_ret)

Unjudged retrieved documents count as non-relevant.
"""

from __future__ import annotations

import numpy as np

from goldkeeper.evals.metrics.base import Measure, Ranked


def _compute(r: Ranked, _: tuple) -> dict[str, np.ndarray]:
    return {"utility": (2 * r.num_rel_ret - r.num_ret).astype(np.float64)}


UTILITY = Measure("utility", _compute)
