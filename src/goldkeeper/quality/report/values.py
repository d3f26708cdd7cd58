"""How summary values read in both renderings (summary.md and index.html)."""

from __future__ import annotations

#: a value this close below its floor still meets it (float noise from averaging, not a drop).
FLOOR_TOLERANCE = 1e-12


def number(value: float | None) -> str:
    """A metric value with four decimals, or ``n/a`` when there is none."""
    return "n/a" if value is None else f"{value:.4f}"


def meets_floor(value: float, floor: float) -> bool:
    """Whether a metric value passes its floor, as the gate judges it."""
    return value >= floor - FLOOR_TOLERANCE


def runs_label(count: int) -> str:
    """``1 run``, ``2 runs``."""
    return f"{count} run{'s' if count != 1 else ''}"


def severity_label(severity: str | None, has_previous: bool) -> str:
    """The severity vs the previous run, or why there is none: a first run, or a previous run without a metric
    in common (its metrics files changed): that was also called a first run."""
    if severity:
        return severity
    return "n/a (no metric in common with the previous run)" if has_previous else "n/a (first run)"


__all__ = ["FLOOR_TOLERANCE", "meets_floor", "number", "runs_label", "severity_label"]
