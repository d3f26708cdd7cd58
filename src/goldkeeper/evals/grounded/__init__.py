"""Grounded-answer eval: score an answerer's responses with the cite-or-refuse policy.

Every query of the golden store is one case. An answerer (see
:mod:`goldkeeper.evals.answerers`) returns a
:class:`~goldkeeper.evals.response.Response` per query, or a reason it could
not (malformed line, missing response, failed batch). Each case is scored
against the evidence in the golden store (chunk text, analysis URL and
``created_at``, :mod:`goldkeeper.evals.evidence`); every score is a number in
[0, 1], never NaN.

- :mod:`.scoring`: one case: faithfulness, citation coverage / accuracy /
  freshness, relevance, EM/F1, the refusal rules, and why a case fails;
- :mod:`.aggregation`: the flat metrics of a run (means over cases, refusal
  precision and recall, aging pressure);
- :mod:`.run`: answer, score, aggregate and write (``eval grounded``).

This package re-exports their public names, so ``from goldkeeper.evals.grounded
import ...`` keeps working.
"""

from __future__ import annotations

from goldkeeper.config import GroundedParams
from goldkeeper.evals.evidence import EvidenceChunk, EvidenceDoc, EvidenceIndex, ResolvedCitation, resolve_citation
from goldkeeper.evals.grounded.aggregation import aggregate
from goldkeeper.evals.grounded.run import (
    GroundedReport,
    check_outputs,
    resolve_as_of,
    run_grounded,
    score_answers,
    summary_line,
    write_outputs,
)
from goldkeeper.evals.grounded.scoring import CaseResult, Rubric, score_case, score_failure

__all__ = [
    "check_outputs",
    "write_outputs",
    "summary_line",
    "GroundedParams",
    "EvidenceChunk",
    "EvidenceDoc",
    "EvidenceIndex",
    "ResolvedCitation",
    "resolve_citation",
    "CaseResult",
    "Rubric",
    "score_case",
    "score_failure",
    "aggregate",
    "GroundedReport",
    "resolve_as_of",
    "score_answers",
    "run_grounded",
]
