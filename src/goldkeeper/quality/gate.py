"""The regression gate: current metrics vs floors, vs the baseline of the same identity, vs the previous run.

Order of checks::

    0. policy      every floor, drop limit and lowerIsBetter entry must name a metric of the run; one that does not is a
                   failing reason (``policy_metric_missing``), recorded like any other, never an
                   exception: a misconfigured policy fails the verdict, not the pipeline (``dvc exp run``)
    1. fail-fast   citation_accuracy (failFastOnCitationDrift) then citation_freshness
                   (failFastOnCitationFreshnessDrift): a drop against the baseline beyond its
                   max<Metric>Drop stops the gate at once with that one reason
    2. floors      every ``floors`` metric must be >= its floor; the rubric's dataset-level thresholds
                   (params.yaml ``rubric:`` grounded_precision, citation_coverage, citation_freshness)
                   are floors too, on the run's metrics of those names (grounded_precision falls back
                   to faithfulness, its other name); a run without them is not checked against them
    3. drift       every ``max<Metric>Drop``: baseline - current <= limit

Severity of the latest run against the previous one, per metric, on the change ``d`` (sign
flipped for ``lowerIsBetter`` metrics) with ``diffSeverityPolicy``::

    d <= -regression -> regression     d <= -watch -> watch
    d >= improved    -> improved       otherwise   -> stable

The run's severity is the worst of its metrics (regression > watch > improved > stable).
``citation_freshness_aging_pressure`` warns when citation freshness is flat or better but the
oldest cited evidence (``oldest_evidence_age_ratio``) is at or beyond the aging threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldkeeper.config.sections import RubricParams
from goldkeeper.dataset.inert import terminal_safe
from goldkeeper.errors import GoldkeeperError
from goldkeeper.quality.baseline import Baseline, BaselineStore, RunIdentity, load_metrics
from goldkeeper.quality.policy import AGE_RATIO, CITATION_ACCURACY, CITATION_FRESHNESS, RegressionPolicy, drop_key
from goldkeeper.quality.trend import RUN_SCHEMA_VERSION, RetentionReport, TrendStore, new_run_id

SEVERITIES = ("regression", "watch", "stable", "improved")
SPARK = {"regression": "!", "watch": "~", "stable": "=", "improved": "+"}
AGING_WARNING = "citation_freshness_aging_pressure"
#: the rubric's dataset-level thresholds, by metric name, and the metric each falls back to
RUBRIC_METRICS = {"grounded_precision": "faithfulness", "citation_coverage": None, "citation_freshness": None}


def rubric_thresholds(rubric: RubricParams) -> dict[str, float]:
    """The dataset-level gate checks of params.yaml ``rubric:`` (metric -> minimum)."""
    return {metric: float(getattr(rubric, metric)) for metric in RUBRIC_METRICS}


def classify(delta: float, higher_is_better: bool, policy: RegressionPolicy) -> str:
    thresholds = policy.diff_severity_policy
    change = delta if higher_is_better else -delta
    eps = 1e-12
    if change <= -thresholds.regression + eps:
        return "regression"
    if change <= -thresholds.watch + eps:
        return "watch"
    if change >= thresholds.improved - eps:
        return "improved"
    return "stable"


def overall_severity(severities: list[str]) -> str | None:
    if not severities:
        return None
    for level in ("regression", "watch", "improved"):
        if level in severities:
            return level
    return "stable"


def compare(previous: dict[str, float], latest: dict[str, float], policy: RegressionPolicy) -> list[dict[str, Any]]:
    """Per-metric latest-vs-previous rows for the metrics both runs have, sorted by metric."""
    rows = []
    for metric in sorted(set(previous) & set(latest)):
        delta = latest[metric] - previous[metric]
        rows.append(
            {
                "metric": metric,
                "previous": previous[metric],
                "latest": latest[metric],
                "delta": round(delta, 12),
                "higherIsBetter": policy.higher_is_better(metric),
                "severity": classify(delta, policy.higher_is_better(metric), policy),
            }
        )
    return rows


def _reason(code: str, metric: str, value: float, limit: float, message: str) -> dict[str, Any]:
    return {"code": code, "metric": metric, "value": value, "limit": limit, "message": message}


def _drift(
    metric: str, current: dict[str, float], baseline: Baseline, limit: float, higher_is_better: bool = True
) -> dict[str, Any] | None:
    if metric not in baseline.metrics:
        return None
    drop = baseline.metrics[metric] - current[metric]
    if not higher_is_better:
        drop = -drop
    if drop > limit + 1e-12:
        return _reason(
            "drift",
            metric,
            current[metric],
            limit,
            f"{metric} {'dropped' if higher_is_better else 'worsened'} {drop:.4f} against the baseline ({baseline.metrics[metric]:.4f} -> "
            f"{current[metric]:.4f}), more than {drop_key(metric)} = {limit:g}",
        )
    return None


@dataclass(frozen=True)
class GateInputs:
    metrics: dict[str, float]
    identity: RunIdentity
    baseline: Baseline | None
    previous: dict[str, Any] | None
    history: list[dict[str, Any]]
    policy: RegressionPolicy
    require_baseline: bool = False
    #: the rubric's dataset-level thresholds (:func:`rubric_thresholds`); empty = not checked
    rubric: Mapping[str, float] = field(default_factory=dict)
    #: without a baseline: why none matched (:func:`nearest_baseline_note`), added to the no_baseline message
    baseline_note: str = ""


def evaluate(inputs: GateInputs) -> dict[str, Any]:
    """The gate result (a JSON-ready dict) for the current metrics; pure, no IO."""
    policy, metrics, baseline = inputs.policy, inputs.metrics, inputs.baseline
    misconfigured = [
        _reason("policy_metric_missing", key, 0.0, 0.0, message) for key, message in policy.missing_metrics(metrics)
    ]
    fail_fast: dict[str, Any] | None = None
    if baseline is None:
        reasons, warnings = _no_baseline(inputs.identity.key, inputs.require_baseline, inputs.baseline_note)
    else:
        reasons, warnings = [], _baseline_metrics_missing(metrics, baseline, policy)
        fail_fast = _fail_fast(metrics, baseline, policy)
    if fail_fast is not None:
        reasons.append(fail_fast)
    else:
        reasons += _below_floors(metrics, policy)
        reasons += _below_rubric(metrics, inputs.rubric)
        reasons += _drifted(metrics, baseline, policy) if baseline is not None else []
    reasons = misconfigured + reasons
    warnings += _identity_changed(inputs.previous, inputs.identity)

    previous_metrics = (inputs.previous or {}).get("metrics")
    comparisons = compare(previous_metrics, metrics, policy) if previous_metrics else []
    severity = overall_severity([c["severity"] for c in comparisons]) if previous_metrics else None
    freshness = _freshness(metrics, previous_metrics or (baseline.metrics if baseline else None), policy)
    warnings += _aging_pressure(freshness)
    status = "fail" if reasons else "pass"
    return {
        "status": status,
        "failFast": fail_fast is not None,
        "reasons": reasons,
        "warnings": warnings,
        "baselineKey": inputs.identity.key,
        "baselineFound": baseline is not None,
        "baselineRecordedAt": baseline.recorded_at if baseline else None,
        "previousRunId": (inputs.previous or {}).get("id"),
        "severity": severity,
        "reviewPriority": _review_priority(status, severity, warnings),
        "comparisons": comparisons,
        "severityHistory": _severity_history(inputs.history, severity, policy.severity_history_policy.max_comparisons),
        "freshness": freshness,
        "floors": dict(sorted(policy.floors.items())),
        "rubric": dict(sorted(inputs.rubric.items())),
    }


def _no_baseline(key: str, required: bool, note: str = "") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(reasons, warnings) when no baseline is recorded for the identity: a failure only when one is required."""
    message = f"no baseline for this identity ({key}{note}); drift checks skipped"
    if required:
        return [_reason("no_baseline", "", 0.0, 0.0, message + " and a baseline is required")], []
    return [], [{"code": "no_baseline", "message": message + " (record one with `goldkeeper baseline record`)"}]


def _baseline_metrics_missing(
    metrics: dict[str, float], baseline: Baseline, policy: RegressionPolicy
) -> list[dict[str, Any]]:
    """A warning naming the drift-limited metrics the baseline has no value for (their drift goes unchecked)."""
    missing = sorted(m for m in metrics if policy.drop_limit(m) is not None and m not in baseline.metrics)
    if not missing:
        return []
    return [{"code": "baseline_metric_missing", "message": f"the baseline has no value for {', '.join(missing)}"}]


def _fail_fast(metrics: dict[str, float], baseline: Baseline, policy: RegressionPolicy) -> dict[str, Any] | None:
    """The first enabled citation drift (accuracy, then freshness) beyond its limit: it alone fails the gate."""
    for metric, enabled, code in (
        (CITATION_ACCURACY, policy.fail_fast_on_citation_drift, "citation_drift"),
        (CITATION_FRESHNESS, policy.fail_fast_on_citation_freshness_drift, "citation_freshness_drift"),
    ):
        limit = policy.drop_limit(metric)
        if not enabled or limit is None or metric not in metrics:
            continue
        found = _drift(metric, metrics, baseline, limit)
        if found is not None:
            found["code"] = code
            found["message"] = "fail-fast: " + found["message"]
            return found
    return None


def _below_floors(metrics: dict[str, float], policy: RegressionPolicy) -> list[dict[str, Any]]:
    """A reason for every metric below its floor, by metric name."""
    return [
        _reason(
            "floor", metric, metrics[metric], floor, f"{metric} = {metrics[metric]:.4f} is below its floor {floor:g}"
        )
        for metric, floor in sorted(policy.floors.items())
        if metric in metrics and metrics[metric] < floor - 1e-12
    ]


def _below_rubric(metrics: dict[str, float], rubric: Mapping[str, float]) -> list[dict[str, Any]]:
    """A reason for every rubric threshold the run's dataset-level metric falls short of."""
    reasons = []
    for metric, minimum in sorted(rubric.items()):
        name = metric if metric in metrics else RUBRIC_METRICS.get(metric)
        if name is None or name not in metrics or metrics[name] >= minimum - 1e-12:
            continue
        shown = metric if name == metric else f"{metric} ({name})"
        message = (
            f"{shown} = {metrics[name]:.4f} is below the rubric's dataset-level threshold {minimum:g} "
            f"(rubric.{metric} in params.yaml)"
        )
        reasons.append(_reason("rubric", metric, metrics[name], minimum, message))
    return reasons


def _drifted(metrics: dict[str, float], baseline: Baseline, policy: RegressionPolicy) -> list[dict[str, Any]]:
    """A reason for every drift-limited metric that moved the wrong way from the baseline by more than its limit."""
    reasons = []
    for metric in sorted(metrics):
        limit = policy.drop_limit(metric)
        if limit is not None:
            found = _drift(metric, metrics, baseline, limit, policy.higher_is_better(metric))
            if found is not None:
                reasons.append(found)
    return reasons


def _identity_changed(previous: dict[str, Any] | None, identity: RunIdentity) -> list[dict[str, Any]]:
    """A warning when the previous run measured another setup, so its deltas compare unlike with unlike."""
    previous_identity = (previous or {}).get("identity")
    if not previous_identity or previous_identity == identity.as_json():
        return []
    changed = [k for k, v in identity.as_json().items() if previous_identity.get(k) != v]
    return [
        {
            "code": "identity_changed",
            "message": f"the previous run had another {', '.join(changed)}: deltas compare different setups",
        }
    ]


def _aging_pressure(freshness: dict[str, Any]) -> list[dict[str, Any]]:
    """The aging-pressure warning: freshness holds up while the oldest cited evidence nears the window's end."""
    if not freshness["agingPressure"]:
        return []
    return [
        {
            "code": AGING_WARNING,
            "message": (
                f"citation freshness is flat or improved ({freshness['citationFreshness']:.4f}) but the oldest cited "
                f"evidence is at {freshness['oldestEvidenceAgeRatio']:.2f} of the freshness window "
                f"(aging threshold {freshness['agingThreshold']:g})"
            ),
        }
    ]


def _review_priority(status: str, severity: str | None, warnings: list[dict[str, Any]]) -> str:
    """regression for a failed gate or a regressed run; watch for a watched run or aging pressure; else the severity."""
    if status == "fail" or severity == "regression":
        return "regression"
    if severity == "watch" or any(w["code"] == AGING_WARNING for w in warnings):
        return "watch"
    return severity or "none"


def _severity_history(history: list[dict[str, Any]], severity: str | None, limit: int) -> list[str]:
    """The severities of the stored runs, then this run's, keeping the last ``limit``."""
    past = [r["gate"]["severity"] for r in history if (r.get("gate") or {}).get("severity")]
    return (past + [severity])[-limit:] if severity else past[-limit:]


def _freshness(
    metrics: dict[str, float], reference: dict[str, float] | None, policy: RegressionPolicy
) -> dict[str, Any]:
    fresh = metrics.get(CITATION_FRESHNESS)
    ratio = metrics.get(AGE_RATIO)
    threshold = policy.citation_freshness_aging.threshold
    flat_or_better = fresh is not None and (
        reference is None
        or CITATION_FRESHNESS not in reference
        or fresh >= reference[CITATION_FRESHNESS] - policy.diff_severity_policy.watch + 1e-12
    )
    return {
        "citationFreshness": fresh,
        "previousCitationFreshness": (reference or {}).get(CITATION_FRESHNESS),
        "oldestEvidenceAgeRatio": ratio,
        "agingThreshold": threshold,
        "agingPressure": bool(flat_or_better and ratio is not None and ratio >= threshold - 1e-12),
    }


def nearest_baseline_note(baselines: BaselineStore, identity: RunIdentity) -> str:
    """Why no baseline matched ``identity``: the newest baseline of the same dataset and what differs (``, the
    newest baseline of golden, golden-1a5e... recorded ..., has another datasetVersion``); "" when there is none.
    A baseline recorded before a dataset change is not compared with, and the message said nothing of it."""
    try:
        same = [b for b in baselines.list() if b.identity.dataset_id == identity.dataset_id]
    except GoldkeeperError:
        return ""  # an unreadable baseline file of another identity: no note, rather than no gate
    if not same:
        return ""
    newest = max(same, key=lambda b: b.recorded_at)
    theirs = newest.identity.as_json()
    differ = [name for name, value in identity.as_json().items() if theirs.get(name) != value]
    return f"; the newest baseline of {identity.dataset_id}, {newest.key} recorded {newest.recorded_at}, has another {', '.join(differ)}"


# -- GitHub Actions -------------------------------------------------------------------------------------


def _escape_data(text: str) -> str:
    """Workflow-command escaping (``%``, CR, LF); the other controls of the files' text (metric names: ESC, bidi)
    are shown escaped, so they reach neither the CI log nor the annotation raw."""
    lines = text.replace("%", "%25").split("\n")
    return "%0A".join("%0D".join(terminal_safe(part) for part in line.split("\r")) for line in lines)


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _escape_body(text: str) -> str:
    """The warning body as the seed writes it: data escaping, and ``:`` as ``%3A`` (``Review severity%3A watch``)."""
    return _escape_data(text).replace(":", "%3A")


def _review_body(result: dict[str, Any], priority: str) -> str:
    """``Review priority is P. current-run vs previous-run. Review severity: S.`` then the details."""
    has_previous = bool(result.get("previousRunId"))
    parts = [
        f"Review priority is {priority}.",
        "current-run vs previous-run." if has_previous else "current-run (no previous run).",
        f"Review severity: {result.get('severity') or priority}.",
    ]
    if has_previous and result.get("runId"):
        parts.append(f"Runs: {result['runId']} vs {result['previousRunId']}.")
    worse = [c for c in result["comparisons"] if c["severity"] in ("regression", "watch")]
    if worse:
        parts.append(
            f"{len(worse)} metric(s) worse than the previous run: "
            + "; ".join(
                f"{c['metric']} {c['previous']:.4f} -> {c['latest']:.4f} ({c['delta']:+.4f}, {c['severity']})"
                for c in worse
            )
            + "."
        )
    parts.extend(r["message"] + "." for r in result["reasons"])
    parts.extend(w["message"] + "." for w in result["warnings"] if w["code"] == AGING_WARNING)
    return " ".join(parts)


def github_annotations(result: dict[str, Any]) -> list[str]:
    """GitHub workflow commands for a gate result: a warning for watch / regression, an error for a failure.

    The warning follows the seed's form::

        ::warning title=AI eval watch::Review priority is watch. current-run vs previous-run. Review severity%3A watch. ...

    ``result`` is the verdict (or the gate document, whose ``runId`` then names the current run).
    """
    lines = []
    priority = result["reviewPriority"]
    if priority in ("regression", "watch"):
        title = "AI eval regression" if priority == "regression" else "AI eval watch"
        lines.append(f"::warning title={_escape_property(title)}::{_escape_body(_review_body(result, priority))}")
    if result["status"] == "fail":
        text = "; ".join(r["message"] for r in result["reasons"])
        lines.append(f"::error title={_escape_property('AI eval gate failed')}::{_escape_data(text)}")
    return lines


def recorded_annotations(document: dict[str, Any]) -> list[str]:
    """The annotations of a recorded gate document (``gate --output``), plus its other warnings as notices."""
    lines = github_annotations(document)
    for warning in document["warnings"]:
        if warning["code"] != AGING_WARNING:
            lines.append(
                f"::notice title={_escape_property('AI eval ' + warning['code'])}::{_escape_data(warning['message'])}"
            )
    return lines


# -- the operation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateOutcome:
    run: dict[str, Any]
    result: dict[str, Any]
    run_path: Path | None
    retention: RetentionReport | None

    @property
    def passed(self) -> bool:
        return self.result["status"] == "pass"


def run_gate(
    *,
    metrics_paths: list[Path],
    identity: RunIdentity,
    policy: RegressionPolicy,
    baselines: BaselineStore,
    trend: TrendStore,
    retention_max_runs: int,
    retention_dry_run: bool = False,
    record: bool = True,
    require_baseline: bool = False,
    now: datetime | None = None,
    sources: list[str] | None = None,
    rubric: Mapping[str, float] | None = None,
) -> GateOutcome:
    """Evaluate the current metrics, store the run in the trend and apply retention.

    ``sources`` names the metrics files in the stored run (default: the paths as given). A recording gate
    holds the trend's lock from reading the history to retention (:meth:`TrendStore.locked`); one that records
    nothing reads the history under the shared lock, as a report does.
    """
    metrics = load_metrics(metrics_paths)
    with trend.locked(shared=not record):
        history = trend.runs(last=policy.severity_history_policy.max_comparisons)
        previous = history[-1] if history else None
        baseline = baselines.get(identity)
        result = evaluate(
            GateInputs(
                metrics=metrics,
                identity=identity,
                baseline=baseline,
                previous=previous,
                history=history,
                policy=policy,
                require_baseline=require_baseline,
                rubric=dict(rubric or {}),
                baseline_note=nearest_baseline_note(baselines, identity) if baseline is None else "",
            )
        )
        now = (now or datetime.now(UTC)).astimezone(UTC)
        run = {
            "schemaVersion": RUN_SCHEMA_VERSION,
            "id": new_run_id(now),
            "timestamp": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "identity": identity.as_json(),
            "metrics": dict(sorted(metrics.items())),
            "sources": sources if sources is not None else [str(p) for p in metrics_paths],
            "gate": result,
        }
        if not record:
            return GateOutcome(run=run, result=result, run_path=None, retention=None)
        path = trend.record(run)
        retention = trend.apply_retention(retention_max_runs, dry_run=retention_dry_run)
        return GateOutcome(run=run, result=result, run_path=path, retention=retention)
