"""Versioned baselines, the regression gate, the eval trend, the report and its dashboard."""

from __future__ import annotations

from pydantic import Field

from ..config import Section, Settings
from .baseline import DEFAULT_METRICS

__all__ = ["GateParams", "ReportParams", "metrics_paths"]


class GateParams(Section):
    """params.yaml ``gate:``."""

    #: the regression policy file (JSON, validated strictly).
    policy: str = "config/regression-policy.json"
    #: the flat metrics files written by the evals, merged; null = retrieval.out and grounded.out
    #: (default metrics/retrieval.json and metrics/grounded.json).
    metrics: list[str] | None = Field(default=None, min_length=1)
    #: fail when no baseline is recorded for the run's identity.
    require_baseline: bool = False


class ReportParams(Section):
    """params.yaml ``report:``."""

    #: where runs, trend-index.json, summary.* and index.html live.
    dir: str = "artifacts/evals"


def metrics_paths(settings: Settings) -> list[str]:
    """The metrics files the gate reads: ``gate.metrics``, else the outputs the evals are configured to write."""
    params = settings.section("gate", GateParams)
    if params.metrics is not None:
        return list(params.metrics)
    from ..evals.grounded import grounded_params

    retrieval = settings.extra.get("retrieval") or {}
    retrieval_out = retrieval.get("out") if isinstance(retrieval, dict) else None
    return [retrieval_out if isinstance(retrieval_out, str) else DEFAULT_METRICS[0], grounded_params(settings).out]
