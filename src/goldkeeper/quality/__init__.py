"""Versioned baselines, the regression gate, the eval trend, the report and its dashboard."""

from __future__ import annotations

from pydantic import Field

from ..config import Section
from .baseline import DEFAULT_METRICS

__all__ = ["GateParams", "ReportParams"]


class GateParams(Section):
    """params.yaml ``gate:``."""

    #: the regression policy file (JSON, validated strictly).
    policy: str = "config/regression-policy.json"
    #: the flat metrics files written by the evals, merged.
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)
    #: fail when no baseline is recorded for the run's identity.
    require_baseline: bool = False


class ReportParams(Section):
    """params.yaml ``report:``."""

    #: where runs, trend-index.json, summary.* and index.html live.
    dir: str = "artifacts/evals"
