"""Retrieval metrics with trec_eval's definitions, one small module per measure family.

:func:`evaluate` joins a run with its qrels (see :mod:`.base` for the ranking
rules) and computes the requested measures for every query, vectorised over
queries with numpy. The result is a :class:`Report` (``to_json`` /
``to_markdown``) holding the per-query values and the summary values
(arithmetic mean over queries; sums for counts; geometric mean for ``gm_*``).

Measures (trec_eval names): see :data:`MEASURES`. Not implemented: the
preference and judgment-group measures (``prefs_*``, ``*_avgjg``), ``yaap``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from goldkeeper.errors import EvalError
from goldkeeper.evals.metrics.average_precision import GM_MAP, MAP, MAP_CUT
from goldkeeper.evals.metrics.base import Measure, Qrels, Ranked, Run
from goldkeeper.evals.metrics.bpref import BPREF, GM_BPREF
from goldkeeper.evals.metrics.counts import NUM_NONREL_JUDGED_RET, NUM_Q, NUM_REL, NUM_REL_RET, NUM_RET
from goldkeeper.evals.metrics.gain import BIN_G, G
from goldkeeper.evals.metrics.infap import INFAP
from goldkeeper.evals.metrics.iprec import ELEVEN_PT_AVG, IPREC_AT_RECALL
from goldkeeper.evals.metrics.join import build_ranked
from goldkeeper.evals.metrics.ndcg import DCG, IDEAL_DCG, NDCG, NDCG_CUT
from goldkeeper.evals.metrics.ndcg_rel import NDCG_REL
from goldkeeper.evals.metrics.precision import P
from goldkeeper.evals.metrics.rbp import RBP, RBP_RESID
from goldkeeper.evals.metrics.recall import RECALL
from goldkeeper.evals.metrics.recip_rank import RECIP_RANK
from goldkeeper.evals.metrics.relative_p import RELATIVE_P
from goldkeeper.evals.metrics.relstring import RELSTRING
from goldkeeper.evals.metrics.rndcg import RNDCG
from goldkeeper.evals.metrics.rprec import RPREC, RPREC_MULT
from goldkeeper.evals.metrics.set_measures import SET_F, SET_MAP, SET_P, SET_RECALL, SET_RELATIVE_P
from goldkeeper.evals.metrics.success import SUCCESS
from goldkeeper.evals.metrics.unjudged import UNJ
from goldkeeper.evals.metrics.utility import UTILITY

#: the run's name: printed first in the summary, no values.
RUNID = Measure("runid", lambda r, _: {}, kind="str", aggregate="none", per_query=False, summary=False)

#: every implemented measure, in trec_eval's ``all_trec`` print order.
MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        RUNID,
        NUM_Q,
        NUM_RET,
        NUM_REL,
        NUM_REL_RET,
        MAP,
        GM_MAP,
        RPREC,
        BPREF,
        RECIP_RANK,
        IPREC_AT_RECALL,
        P,
        RELSTRING,
        RECALL,
        INFAP,
        GM_BPREF,
        RPREC_MULT,
        UTILITY,
        ELEVEN_PT_AVG,
        BIN_G,
        G,
        DCG,
        IDEAL_DCG,
        NDCG,
        NDCG_REL,
        RNDCG,
        NDCG_CUT,
        MAP_CUT,
        RELATIVE_P,
        SUCCESS,
        SET_P,
        SET_RELATIVE_P,
        SET_RECALL,
        SET_MAP,
        SET_F,
        NUM_NONREL_JUDGED_RET,
        RBP,
        RBP_RESID,
        UNJ,
    )
}

#: measures trec_eval prints only when asked by name (not part of ``all_trec``).
NOT_IN_ALL_TREC = ("dcg", "ideal_dcg")

#: trec_eval's default ("official") measure set, printed without ``-m``.
OFFICIAL = (
    "runid",
    "num_q",
    "num_ret",
    "num_rel",
    "num_rel_ret",
    "map",
    "gm_map",
    "Rprec",
    "bpref",
    "recip_rank",
    "iprec_at_recall",
    "P",
)
#: trec_eval measures goldkeeper does not implement (asking for one is an error).
NOT_IMPLEMENTED = ("P_avgjg", "map_avgjg", "Rprec_mult_avgjg", "yaap", "prefs_simp", "prefs_pair", "prefs_avgjg")
MIN_GEO_MEAN = 0.00001


def resolve_measures(specs: Iterable[str] | None) -> list[Measure]:
    """trec_eval ``-m`` specs -> measures: ``all_trec``, ``official``, ``P``, ``P.5,10``, ``ndcg_cut.10``,
    ``ndcg.1=1,2=5,3=10`` (gains), ``rbp.p=0.8``."""
    specs = list(specs or ["official"])
    out: list[Measure] = []
    for spec in specs:
        if spec == "all_trec":
            chosen = [m for name, m in MEASURES.items() if name not in NOT_IN_ALL_TREC]
        elif spec == "official":
            chosen = [MEASURES[name] for name in OFFICIAL]
        else:
            name, _, params = spec.partition(".")
            if name not in MEASURES:
                hint = " (not implemented by goldkeeper)" if name in NOT_IMPLEMENTED else ""
                raise EvalError(f"unknown measure {name!r}{hint}; known: {', '.join(MEASURES)}")
            measure = MEASURES[name]
            chosen = [measure.with_params(params) if params else measure]
        for measure in chosen:
            out = [m for m in out if m.name != measure.name] + [measure]
    order = list(MEASURES)
    return sorted(out, key=lambda m: order.index(m.name))


@dataclass
class Report:
    """Per-query and summary values of one evaluation (ranx-style report)."""

    qids: list[str]
    #: label -> per-query values (aligned with ``qids``).
    per_query: dict[str, np.ndarray]
    #: label -> summary value (mean / sum / geometric mean over queries).
    summary: dict[str, Any]
    #: label -> "float" | "int" | "str"
    kinds: dict[str, str]
    #: labels printed per query / in the summary (trec_eval's rules).
    per_query_labels: list[str] = field(default_factory=list)
    summary_labels: list[str] = field(default_factory=list)
    runid: str = ""
    #: the measure names evaluated, in print order.
    measures: list[str] = field(default_factory=list)

    def query(self, qid: str) -> dict[str, Any]:
        i = self.qids.index(qid)
        return {label: _plain(values[i]) for label, values in self.per_query.items()}

    def to_json(self) -> dict[str, Any]:
        """{"summary": {label: value}, "per_query": {qid: {label: value}}, "num_q": n}."""
        return {
            "num_q": len(self.qids),
            "summary": {k: _plain(v) for k, v in self.summary.items()},
            "per_query": {q: self.query(q) for q in self.qids},
        }

    def to_trec_eval(self, per_query: bool = False) -> str:
        """trec_eval's own output format (with ``per_query``, as ``-q``: each query first, then ``all``)."""
        lines: list[str] = []
        if per_query and self.qids and self.per_query_labels:
            # one column of lines per measure (C-level map / join), then interleaved query by query
            qids = [qid + "\t" for qid in self.qids]
            columns = [
                _trec_column(label, qids, self.per_query[label], self.kinds[label]) for label in self.per_query_labels
            ]
            lines.extend(map("\n".join, zip(*columns, strict=True)))
        if "runid" in self.measures:
            lines.append(_trec_line("runid", "all", self.runid, "str"))
        for label in self.summary_labels:
            lines.append(_trec_line(label, "all", self.summary[label], self.kinds[label]))
        return "\n".join(lines) + "\n"

    def to_markdown(self, labels: Sequence[str] | None = None, digits: int = 4) -> str:
        """A one-row Markdown table of summary values."""
        labels = list(labels or self.summary_labels)
        head = "| " + " | ".join(labels) + " |"
        rule = "|" + "|".join("---:" for _ in labels) + "|"
        cells = []
        for label in labels:
            value = self.summary[label]
            cells.append(f"{value:.{digits}f}" if self.kinds[label] == "float" else str(value))
        return "\n".join([head, rule, "| " + " | ".join(cells) + " |"])


def _trec_column(label: str, qids: list[str], values: np.ndarray, kind: str) -> list[str]:
    """The per-query lines of one measure (``qids`` end with a tab), formatted as :func:`_trec_line`."""
    items = values.tolist()
    if kind == "float":
        texts = list(map(format, items, repeat(".4f")))
    elif kind == "str" and label == "relstring":
        texts = [f"'{value}'" for value in items]
    else:
        texts = list(map(str, items))
    return list(map("".join, zip(repeat(f"{label:<22}\t"), qids, texts)))


def _trec_line(label: str, qid: str, value: object, kind: str) -> str:
    if kind == "float":
        text = f"{value:.4f}"
    elif kind == "str" and label == "relstring":
        text = f"'{value}'"
    else:
        text = str(value)
    return f"{label:<22}\t{qid}\t{text}"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _aggregate(measure: Measure, values: np.ndarray) -> Any:
    if measure.aggregate == "sum":
        return int(np.sum(values))
    if len(values) == 0:
        return 0.0
    if measure.aggregate == "gm":
        logs = np.log(np.maximum(values, MIN_GEO_MEAN))
        return float(np.exp(np.cumsum(logs)[-1] / len(values)))
    if measure.aggregate == "mean":
        return float(np.cumsum(values)[-1] / len(values))
    return None


def evaluate_ranked(ranked: Ranked, measures: Sequence[Measure], runid: str = "") -> Report:
    per_query: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    pq_labels: list[str] = []
    sum_labels: list[str] = []
    for measure in measures:
        for label, values in measure.compute(ranked, measure.params).items():
            per_query[label] = values
            kinds[label] = measure.kind
            if measure.per_query:
                pq_labels.append(label)
            if measure.summary:
                summary[label] = _aggregate(measure, values)
                sum_labels.append(label)
    return Report(ranked.qids, per_query, summary, kinds, pq_labels, sum_labels, runid, [m.name for m in measures])


def evaluate(
    qrels: Qrels,
    run: Run,
    measures: Iterable[str] | Sequence[Measure] | None = None,
    *,
    complete: bool = False,
    runid: str = "",
) -> Report:
    """Evaluate ``run`` ({qid: {docno: score}}) against ``qrels`` ({qid: {docno: rel}})."""
    items = list(measures) if measures is not None else None
    chosen: list[Measure]
    if items and all(isinstance(m, Measure) for m in items):
        chosen = [m for m in items if isinstance(m, Measure)]
    else:
        chosen = resolve_measures(None if items is None else [str(m) for m in items])
    return evaluate_ranked(build_ranked(qrels, run, complete=complete), chosen, runid=runid)


__all__ = [
    "MEASURES",
    "OFFICIAL",
    "Measure",
    "Ranked",
    "Report",
    "build_ranked",
    "evaluate",
    "evaluate_ranked",
    "resolve_measures",
]
