"""One gate run as the CLI and the demo perform it: gate, store the run, rewrite the report.

:func:`gate_and_record` is the single assembly of the gate document (``gate --json``,
``--output``, the DVC metric ``artifacts/gate.json``) and of the step-summary
markdown; :class:`GateResult` is its frozen result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldkeeper.fileio import read_json
from goldkeeper.progress import SILENT, Progress
from goldkeeper.quality.baseline import BaselineStore, RunIdentity
from goldkeeper.quality.gate import GateOutcome, github_annotations, recorded_annotations, run_gate
from goldkeeper.quality.policy import RegressionPolicy
from goldkeeper.quality.report import render_markdown, summarize, write_report
from goldkeeper.quality.trend import VERDICT_FIELDS, TrendStore, check_verdict, retention_limit


@dataclass(frozen=True)
class GateRequest:
    """What one gate run needs besides the stores: the metrics, the identity, the policy and the options."""

    metrics_paths: list[Path]
    sources: list[str]
    policy: RegressionPolicy
    identity: RunIdentity
    retention_max_runs: int | None = None
    retention_dry_run: bool = False
    require_baseline: bool = False
    record: bool = True
    report: bool = True
    #: the rubric's dataset-level thresholds (metric -> minimum), gate checks like the policy's floors
    rubric: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """The verdict of a gate run, the run stored, the report written, and the step-summary markdown."""

    outcome: GateOutcome
    markdown: str
    run_path: str | None
    dashboard: str | None

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    @property
    def verdict(self) -> dict[str, Any]:
        return self.outcome.result

    def failure_message(self) -> str:
        reasons = self.verdict["reasons"]
        return reasons[0]["message"] if reasons else "gate failed"

    def github_annotations(self) -> list[str]:
        return github_annotations({**self.verdict, "runId": self.outcome.run["id"]})

    def metrics_json(self) -> dict[str, int]:
        """The verdict as numbers only (``gate --metrics-output``, the DVC metrics file): no ids, paths or retention."""
        verdict = self.verdict
        return {
            "passed": int(self.passed),
            "failFast": int(bool(verdict.get("failFast"))),
            "reasons": len(verdict.get("reasons", [])),
            "warnings": len(verdict.get("warnings", [])),
        }

    def to_json(self) -> dict[str, Any]:
        """The gate document (``gate --json``, ``--output``): the verdict plus the run, retention and dashboard."""
        return {
            **self.verdict,
            "passed": int(self.passed),
            "runId": self.outcome.run["id"],
            "runPath": self.run_path,
            "retention": self.outcome.retention.as_json() if self.outcome.retention else None,
            "dashboard": self.dashboard,
        }


def gate_and_record(
    request: GateRequest,
    baselines: BaselineStore,
    trend: TrendStore,
    display: Callable[[Path], str] = str,
    progress: Progress = SILENT,
) -> GateResult:
    """Run the gate, store the run (unless ``record`` is false), rewrite the report (unless ``report`` is false)."""
    outcome = run_gate(
        metrics_paths=request.metrics_paths,
        sources=request.sources,
        identity=request.identity,
        policy=request.policy,
        baselines=baselines,
        trend=trend,
        retention_max_runs=retention_limit(request.retention_max_runs),
        retention_dry_run=request.retention_dry_run,
        record=request.record,
        require_baseline=request.require_baseline,
        rubric=request.rubric,
    )
    dashboard = None
    if outcome.run_path is not None and request.report:
        files = write_report(trend, progress=progress)
        markdown, dashboard = render_markdown(files.summary), display(files.index_html)
    else:
        with trend.locked(shared=True):  # another gate may be writing: see TrendStore.locked
            runs, retention = trend.runs(), trend.index().get("retention")
        unrecorded = [outcome.run] if outcome.run_path is None else []
        markdown = render_markdown(summarize([*runs, *unrecorded], retention))
    run_path = display(outcome.run_path) if outcome.run_path is not None else None
    return GateResult(outcome, markdown, run_path, dashboard)


#: the fields of a gate document that its annotations are made of
_DOCUMENT_FIELDS = {
    key: VERDICT_FIELDS[key] for key in ("status", "reviewPriority", "reasons", "warnings", "comparisons")
}


@dataclass(frozen=True)
class RecordedGate:
    """A gate document read back (``gate --output``, e.g. artifacts/gate.json): its verdict and annotations."""

    document: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.document["status"] == "pass"

    def annotations(self) -> list[str]:
        return recorded_annotations(self.document)

    def failure_message(self) -> str:
        reasons = self.document["reasons"]
        return reasons[0]["message"] if reasons else "gate failed"


def read_gate_document(path: Path) -> RecordedGate:
    """Read a recorded gate document; one that lacks what the annotations need is a DataIntegrityError."""
    document = read_json(path, "gate result")
    check_verdict(f"{path}: not a gate result (`goldkeeper gate --output`)", document, _DOCUMENT_FIELDS)
    return RecordedGate(document)


__all__ = ["GateRequest", "GateResult", "RecordedGate", "gate_and_record", "read_gate_document"]
