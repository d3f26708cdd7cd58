"""The ranked relevance matrix every metric reads, and the :class:`Measure` record.

Ranking follows trec_eval exactly: within a query, documents are ordered by
score descending (scores compared as doubles, as trec_eval 10 does),
ties broken by docno descending (byte order); the rank column of a run is
ignored. A retrieved document gets its qrels relevance value; a document not
in the qrels is ``NONPOOL`` (-1, "not judged"); a qrels value below 0 is
``UNJUDGED`` (-2, "in the pool but not judged", as infAP uses).

Only queries with judgments are evaluated. ``complete=True`` (trec_eval's
``-c``) also evaluates judged queries the run did not retrieve anything for,
with zero retrieved documents; goldkeeper's own retrieval eval always does
this, so a query the search missed counts as a miss, never as absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np

from goldkeeper.errors import EvalError

NONPOOL = -1
UNJUDGED = -2
#: padding after a query's last retrieved document (never relevant, never judged).
PAD = -9
#: entries per block of rows where a computation goes block by block (temporaries small and reused).
BLOCK = 1 << 16
#: trec_eval's relevance_level: a judged value >= this is relevant.
RELEVANCE_LEVEL = 1
#: the highest relevance level (and gain parameter level) evaluated: the measures keep a count per
#: query and level from 0 up to the highest one, so a qrels line judging 2147483648 would allocate
#: 16 GiB per query (and exhaust the machine's memory) instead of failing.
MAX_RELEVANCE = 1000
#: the lowest relevance value read (numpy's int64; negative values allocate nothing).
MIN_RELEVANCE = -(2**63)

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]


@dataclass
class Ranked:
    """Per-query ranked relevance values, one padded row per query (``n`` x ``depth``)."""

    qids: list[str]
    #: relevance value of the document at each rank; PAD after ``num_ret``.
    rel: np.ndarray
    #: number of retrieved documents per query.
    num_ret: np.ndarray
    #: judged documents per relevance level (column = level >= 0) per query.
    rel_levels: np.ndarray
    level: int = RELEVANCE_LEVEL
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.qids)

    @property
    def depth(self) -> int:
        return int(self.rel.shape[1])

    @cached_property
    def num_rel(self) -> np.ndarray:
        """Judged relevant documents per query (R)."""
        return self.rel_levels[:, self.level :].sum(axis=1).astype(np.int64)

    @cached_property
    def num_nonrel(self) -> np.ndarray:
        """Judged non-relevant documents per query (0 <= value < level)."""
        return self.rel_levels[:, : self.level].sum(axis=1).astype(np.int64)

    @cached_property
    def is_rel(self) -> np.ndarray:
        return self.rel >= self.level

    @cached_property
    def is_judged_nonrel(self) -> np.ndarray:
        return (self.rel >= 0) & (self.rel < self.level)

    @cached_property
    def cum_rel(self) -> np.ndarray:
        """Relevant documents retrieved at or above each rank."""
        counts = self.is_rel.astype(np.int64)  # summed in place: cumsum of bools into int64 would copy them first
        return np.cumsum(counts, axis=1, out=counts)

    @cached_property
    def num_rel_ret(self) -> np.ndarray:
        return self.cum_rel[:, -1] if self.depth else np.zeros(self.n, dtype=np.int64)

    @cached_property
    def ranks(self) -> np.ndarray:
        """1-based ranks as floats, shape (depth,)."""
        return np.arange(1, self.depth + 1, dtype=np.float64)

    @cached_property
    def discount(self) -> np.ndarray:
        """1 / log2(rank + 1), long enough for the ideal ranking too."""
        length = max(self.depth, int(self.rel_levels[:, 1:].sum(axis=1).max(initial=0)))
        return 1.0 / np.log2(np.arange(2, length + 2, dtype=np.float64))

    @cached_property
    def gains(self) -> np.ndarray:
        """trec_eval's default gain: the relevance value itself (0 for unjudged / negative)."""
        return np.where(self.rel > 0, self.rel, 0).astype(np.float64)

    @cached_property
    def ideal_gains(self) -> np.ndarray:
        """All judged positive gains per query, sorted descending, zero padded."""
        levels = self.rel_levels.shape[1]
        width = self.discount.shape[0]
        out = np.zeros((self.n, width), dtype=np.float64)
        if levels <= 1 or width == 0:
            return out
        counts = self.rel_levels[:, 1:][:, ::-1]  # highest level first
        values = np.arange(levels - 1, 0, -1, dtype=np.float64)
        ends = np.cumsum(counts, axis=1)
        positions = np.arange(width)
        for column, value in enumerate(values):
            start = ends[:, column] - counts[:, column]
            mask = (positions[None, :] >= start[:, None]) & (positions[None, :] < ends[:, column][:, None])
            out[mask] = value
        return out

    def cum_rel_at(self, k: int) -> np.ndarray:
        """Relevant documents in the top ``k`` (documents past the end count as non-relevant)."""
        if k <= 0 or self.depth == 0:
            return np.zeros(self.n, dtype=np.int64)
        return self.cum_rel[:, min(k, self.depth) - 1]

    def cum_rel_at_each(self, ks: np.ndarray) -> np.ndarray:
        """Relevant documents in the top ``ks[i]`` of query ``i``."""
        ks = np.asarray(ks, dtype=np.int64)
        if self.depth == 0:
            return np.zeros(self.n, dtype=np.int64)
        index = np.clip(ks, 1, self.depth) - 1
        values = self.cum_rel[np.arange(self.n), index]
        return np.where(ks > 0, values, 0)


def seq_sum(values: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Row sums added left to right, as trec_eval's loops add (numpy's ``sum`` adds pairwise).

    ``overwrite``: ``values`` is a float64 temporary the running sums may be written over.
    """
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=np.float64)
    return np.cumsum(values, axis=1, out=values if overwrite else None)[:, -1]


def safe_div(num: np.ndarray, den: np.ndarray | float) -> np.ndarray:
    """num / den, 0 where den is 0 (trec_eval leaves such values at 0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


Kind = Literal["float", "int", "str"]
Aggregate = Literal["mean", "sum", "gm", "none"]


@dataclass(frozen=True)
class Measure:
    """One trec_eval measure (possibly with cutoffs): how to compute, label, average and print it."""

    name: str
    #: (ranked, params) -> {label: per-query values}
    compute: Callable[[Ranked, tuple], dict[str, np.ndarray]]
    params: tuple = ()
    kind: Kind = "float"
    aggregate: Aggregate = "mean"
    #: printed per query with -q (False for num_q, gm_map, gm_bpref, runid).
    per_query: bool = True
    #: printed in the summary (False for relstring).
    summary: bool = True
    #: int or float cutoffs, for `-m name.1,2,3`; "pairs" for `-m name.1=3,p=0.8` (see .gains).
    param_type: type | Literal["pairs"] | None = None

    def with_params(self, text: str) -> Measure:
        if self.param_type is None:
            raise EvalError(f"measure {self.name!r} takes no parameters (got {text!r})")
        if self.param_type == "pairs":
            return replace(self, params=parse_pairs(self.name, text))
        assert isinstance(self.param_type, type)
        try:
            values = tuple(sorted({self.param_type(p) for p in text.split(",") if p.strip()}))
        except ValueError as exc:
            raise EvalError(f"measure {self.name!r}: bad parameters {text!r}") from exc
        if not values:
            raise EvalError(f"measure {self.name!r}: empty parameter list")
        if not all(math.isfinite(v) for v in values):  # nan and inf cutoffs gave garbage and numpy warnings
            raise EvalError(f"measure {self.name!r}: parameters must be finite numbers (got {text!r})")
        if self.param_type is int and values[0] <= 0:
            raise EvalError(f"measure {self.name!r}: cutoffs must be positive (got {text!r})")
        return Measure(
            self.name, self.compute, values, self.kind, self.aggregate, self.per_query, self.summary, self.param_type
        )


def cut_labels(name: str, params: tuple) -> list[str]:
    """trec_eval's labels: ``P_5`` for int cutoffs, ``iprec_at_recall_0.10`` for float ones."""
    return [f"{name}_{p:.2f}" if isinstance(p, float) else f"{name}_{p}" for p in params]


def _level(name: str) -> int | None:
    """The relevance level a pair parameter's name sets (as .gains reads it), or None."""
    try:
        return int(name)
    except ValueError:
        return None


def parse_pairs(measure: str, text: str) -> tuple:
    """trec_eval's pair parameters ``name=value,...`` -> (text as given, ((name, value), ...))."""
    pairs = []
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise EvalError(f"measure {measure!r}: malformed pair parameters {text!r} (expected name=value,...)")
        try:
            number = float(value)
        except ValueError as exc:
            raise EvalError(f"measure {measure!r}: {value!r} is not a number in {text!r}") from exc
        if not math.isfinite(number):
            raise EvalError(f"measure {measure!r}: {value!r} is not a finite number in {text!r}")
        pairs.append((name, number))
        level = _level(name)
        if level is not None and abs(level) > MAX_RELEVANCE:
            raise EvalError(f"measure {measure!r}: level {name} is beyond {MAX_RELEVANCE} in {text!r}")
    return (text, tuple(pairs))
