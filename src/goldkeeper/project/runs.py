"""What the eval operations of :class:`goldkeeper.project.Project` return: the result and the files written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # start-up: the evals' modules are imported by the operations that run them
    from pathlib import Path

    from goldkeeper.evals.grounded import GroundedReport
    from goldkeeper.evals.retrieval import RetrievalResult


@dataclass(frozen=True)
class RetrievalRun:
    """``eval retrieval``: the result and the files written."""

    result: RetrievalResult
    written: dict[str, Path]


@dataclass(frozen=True)
class GroundedRun:
    """``eval grounded``: the report and the two files written."""

    report: GroundedReport
    out: Path
    per_case: Path


__all__ = ["GroundedRun", "RetrievalRun"]
