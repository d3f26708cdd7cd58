"""The flat metrics of a grounded run: means over cases, refusal precision and recall, rubric and aging counts.

Every score is the mean of the per-case score over all cases
(:mod:`.scoring`); ``answerable_*`` and ``unanswerable_accuracy`` are means
over the cases that expect an answer / a refusal. Refusal precision = correct
refusals / refusals, recall = correct refusals / expected refusals (1.0 when
the denominator is 0: nothing to get wrong). ``aging_pressure_cases`` counts
cases whose oldest cited evidence is at >= ``aging_warn_ratio`` of the
maximum age. Floats are rounded to 6 places and never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from goldkeeper.errors import EvalError
from goldkeeper.evals.grounded.scoring import CaseResult, Rubric


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _ratio(num: int, den: int) -> float:
    """num / den, and 1.0 when den is 0 (nothing to get wrong)."""
    return num / den if den else 1.0


def aggregate(cases: Sequence[CaseResult], *, aging_warn_ratio: float, rubric: Rubric) -> dict[str, Any]:
    """The flat metrics of a run (means over cases; refusal precision/recall over refusals)."""
    refused = [c for c in cases if c.outcome == "refused"]
    expected_refusals = [c for c in cases if c.expected == "refuse"]
    correct_refusals = sum(1 for c in refused if c.expected == "refuse")
    answerable = [c for c in cases if c.expected == "answer"]
    unanswerable = expected_refusals
    answered = [c for c in cases if c.outcome == "answered"]
    metrics: dict[str, Any] = {
        "cases": len(cases),
        "answered": len(answered),
        "refused": len(refused),
        "malformed": sum(1 for c in cases if c.outcome == "malformed"),
        "missing": sum(1 for c in cases if c.outcome == "missing"),
        "expected_refusals": len(expected_refusals),
        "faithfulness": _mean([c.faithfulness for c in cases]),
        "citation_coverage": _mean([c.citation_coverage for c in cases]),
        "citation_accuracy": _mean([c.citation_accuracy for c in cases]),
        "citation_freshness": _mean([c.citation_freshness for c in cases]),
        "oldest_evidence_age_ratio": max((c.oldest_evidence_age_ratio for c in cases), default=0.0),
        "aging_pressure_cases": sum(1 for c in cases if c.oldest_evidence_age_ratio >= aging_warn_ratio),
        "relevance": _mean([c.relevance for c in cases]),
        "answer_coverage": _mean([c.answer_coverage for c in cases]),
        "refusal_precision": _ratio(correct_refusals, len(refused)),
        "refusal_recall": _ratio(correct_refusals, len(expected_refusals)),
        "exact_match": _mean([c.exact_match for c in cases]),
        "f1": _mean([c.f1 for c in cases]),
        "answerable_exact_match": _mean([c.exact_match for c in answerable]),
        "answerable_f1": _mean([c.f1 for c in answerable]),
        "unanswerable_accuracy": _mean([float(c.outcome == "refused") for c in unanswerable]),
        "answered_faithfulness": _mean([c.faithfulness for c in answered]) if answered else 1.0,
        "pass_rate": _mean([float(c.passed) for c in cases]),
        "claims": sum(c.claims for c in cases),
        "citations": sum(c.citations for c in cases),
    }
    p, r = metrics["refusal_precision"], metrics["refusal_recall"]
    metrics["refusal_f1"] = 2 * p * r / (p + r) if p + r else 0.0
    metrics["grounded_precision"] = metrics["faithfulness"]
    metrics["rubric_met"] = int(
        metrics["grounded_precision"] >= rubric.grounded_precision
        and metrics["citation_coverage"] >= rubric.citation_coverage
        and metrics["citation_freshness"] >= rubric.citation_freshness
    )
    for key, value in metrics.items():
        if isinstance(value, float):
            if math.isnan(value):  # pragma: no cover - guarded by the rules above
                raise EvalError(f"metric {key} is NaN")
            metrics[key] = round(value, 6)
    return dict(sorted(metrics.items()))


__all__ = ["aggregate"]
