"""The regression policy: a JSON file validated strictly (default config/regression-policy.json).

Every key is checked; an unknown key, a wrong type, an out-of-range number or
thresholds in the wrong order is a :class:`ConfigError` naming the bad key.
There is no fallback to a built-in policy when the file is malformed.

Keys::

    floors                              {metric: minimum}, absolute, 0..1
    max<Metric>Drop                     largest allowed drop vs the baseline (0..1), e.g.
                                        maxFaithfulnessDrop, maxCitationAccuracyDrop,
                                        maxHybridNdcgCut10Drop (metric "hybrid.ndcg_cut_10")
    failFastOnCitationDrift             a citation_accuracy drop beyond its limit stops the gate at once
    failFastOnCitationFreshnessDrift    the same for citation_freshness
    diffSeverityPolicy                  {watch, regression, improved}: latest-vs-previous thresholds,
                                        0 < watch < regression; improved > 0
    severityHistoryPolicy               {maxComparisons}: how many run-to-run comparisons are shown
    citationFreshnessAging              {threshold}: oldest_evidence_age_ratio at or above which
                                        a flat or improved freshness still warns (aging pressure)
    lowerIsBetter                       metrics where a smaller value is better (default: oldest_evidence_age_ratio)

``<Metric>`` is the metric key in PascalCase: ``citation_accuracy`` ->
``CitationAccuracy``, ``hybrid.ndcg_cut_10`` -> ``HybridNdcgCut10``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from goldkeeper.errors import ConfigError
from goldkeeper.fileio import UTF8_BOM, unique_keys

DEFAULT_POLICY_PATH = "config/regression-policy.json"
DROP_KEY = re.compile(r"^max([A-Z][A-Za-z0-9]*)Drop$")
CITATION_ACCURACY = "citation_accuracy"
CITATION_FRESHNESS = "citation_freshness"
AGE_RATIO = "oldest_evidence_age_ratio"


def pascal(metric: str) -> str:
    """``hybrid.ndcg_cut_10`` -> ``HybridNdcgCut10`` (the ``max<Metric>Drop`` spelling)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", metric) if part)


def drop_key(metric: str) -> str:
    return f"max{pascal(metric)}Drop"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class DiffSeverityPolicy(_Strict):
    """Latest-vs-previous thresholds, per metric, on the absolute change of a 0..1 metric.

    A drop of at least ``regression`` is a regression, of at least ``watch`` a watch;
    a gain of at least ``improved`` is an improvement; anything else is stable.
    """

    watch: float = Field(gt=0, le=1)
    regression: float = Field(gt=0, le=1)
    improved: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> DiffSeverityPolicy:
        if not self.watch < self.regression:
            raise ValueError(f"watch ({self.watch}) must be smaller than regression ({self.regression})")
        return self


class SeverityHistoryPolicy(_Strict):
    max_comparisons: int = Field(alias="maxComparisons", ge=1, le=1000)


class CitationFreshnessAging(_Strict):
    threshold: float = Field(gt=0)


class RegressionPolicy(_Strict):
    floors: dict[str, float]
    #: PascalCase metric name -> the largest allowed drop against the baseline.
    drops: dict[str, float] = Field(default_factory=dict)
    fail_fast_on_citation_drift: bool = Field(default=False, alias="failFastOnCitationDrift")
    fail_fast_on_citation_freshness_drift: bool = Field(default=False, alias="failFastOnCitationFreshnessDrift")
    diff_severity_policy: DiffSeverityPolicy = Field(alias="diffSeverityPolicy")
    severity_history_policy: SeverityHistoryPolicy = Field(alias="severityHistoryPolicy")
    citation_freshness_aging: CitationFreshnessAging = Field(alias="citationFreshnessAging")
    lower_is_better: list[str] = Field(default_factory=lambda: [AGE_RATIO], alias="lowerIsBetter")

    @model_validator(mode="before")
    @classmethod
    def _collect_drops(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "drops" in data:
            raise ValueError("unknown key 'drops' (write each limit as max<Metric>Drop)")
        drops: dict[str, Any] = {}
        for key in [k for k in data if isinstance(k, str) and k.startswith("max") and k.endswith("Drop")]:
            match = DROP_KEY.match(key)
            if match is None:
                continue  # left in place: extra=forbid names it
            drops[match.group(1)] = data.pop(key)
        data["drops"] = drops
        return data

    @field_validator("floors")
    @classmethod
    def _floors(cls, floors: dict[str, float]) -> dict[str, float]:
        for metric, value in floors.items():
            if not metric.strip():
                raise ValueError("a floor needs a metric name (empty key)")
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"floor for {metric!r} must be a number from 0 to 1, got {value}")
        return floors

    @field_validator("drops")
    @classmethod
    def _drops(cls, drops: dict[str, float]) -> dict[str, float]:
        for name, value in drops.items():
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"max{name}Drop: must be a number from 0 to 1, got {value}")
        return drops

    @field_validator("lower_is_better")
    @classmethod
    def _lower(cls, metrics: list[str]) -> list[str]:
        if any(not m.strip() for m in metrics):
            raise ValueError("metric names must not be empty")
        return metrics

    @model_validator(mode="after")
    def _fail_fast_needs_limit(self) -> RegressionPolicy:
        if self.fail_fast_on_citation_drift and pascal(CITATION_ACCURACY) not in self.drops:
            raise ValueError("failFastOnCitationDrift is true but maxCitationAccuracyDrop is not set")
        if self.fail_fast_on_citation_freshness_drift and pascal(CITATION_FRESHNESS) not in self.drops:
            raise ValueError("failFastOnCitationFreshnessDrift is true but maxCitationFreshnessDrop is not set")
        return self

    # -- lookups -----------------------------------------------------------------------------------------

    def drop_limit(self, metric: str) -> float | None:
        return self.drops.get(pascal(metric))

    def higher_is_better(self, metric: str) -> bool:
        return metric not in self.lower_is_better

    def missing_metrics(self, metrics: dict[str, float], source: str = "regression policy") -> list[tuple[str, str]]:
        """``(policy key, message)`` for every floor, drop limit and ``lowerIsBetter`` entry (when the policy sets
        the list) that names no metric of the run: a typo there made the metric higher-is-better, so its rise
        passed as an improvement."""
        missing = [
            (
                f"floors.{metric}",
                f"{source}: floors.{metric}: no metric {metric!r} in the current run "
                f"(known: {', '.join(sorted(metrics)) or 'none'})",
            )
            for metric in self.floors
            if metric not in metrics
        ]
        by_pascal = {pascal(m): m for m in metrics}
        missing += [
            (f"max{name}Drop", f"{source}: max{name}Drop: no metric named {name!r} (in PascalCase) in the current run")
            for name in self.drops
            if name not in by_pascal
        ]
        given = self.lower_is_better if "lower_is_better" in self.model_fields_set else []
        missing += [
            (
                f"lowerIsBetter.{metric}",
                f"{source}: lowerIsBetter: no metric {metric!r} in the current run "
                f"(known: {', '.join(sorted(metrics)) or 'none'})",
            )
            for metric in given
            if metric not in metrics
        ]
        return missing

    def check_metrics(self, metrics: dict[str, float], source: str = "regression policy") -> None:
        """Every floor and drop limit must name a metric of the run: a typo is an error, not a no-op.

        The gate itself reports them as failing reasons instead (see ``quality.gate.evaluate``), so a
        misconfigured policy fails the verdict it records rather than the pipeline that runs it.
        """
        for key, message in self.missing_metrics(metrics, source)[:1]:
            raise ConfigError(message, key=key)


def _messages(exc: ValidationError, source: str) -> list[str]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] == "drops":
            loc = [f"max{loc[1]}Drop", *loc[2:]] if len(loc) >= 2 else []
        key = ".".join(loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        out.append(f"{source}: {key}: {msg}" if key else f"{source}: {msg}")
    return out


def parse_policy(data: Any, source: str = "regression policy") -> RegressionPolicy:
    """Validate a decoded policy document; raises ConfigError naming every bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the policy must be a JSON object, got {type(data).__name__}")
    try:
        return RegressionPolicy.model_validate(data)
    except ValidationError as exc:
        messages = _messages(exc, source)
        first = exc.errors()[0]
        raise ConfigError("; ".join(messages), key=".".join(str(p) for p in first["loc"])) from exc


def load_policy(path: Path) -> RegressionPolicy:
    """Read and validate the policy file."""
    try:
        raw = path.read_bytes().removeprefix(UTF8_BOM)  # the byte order mark a Windows editor saves: skipped
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: regression policy file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the regression policy: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # was `internal error: UnicodeDecodeError` (exit 1)
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=unique_keys)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    return parse_policy(data, source=str(path))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a policy")
