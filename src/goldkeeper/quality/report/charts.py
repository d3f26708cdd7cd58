"""The dashboard's trend charts: inline SVG line charts with axes, tick values and the last change.

The value axis spans the data (padded), not 0..1: a -0.0137 drop on a metric near 0.77 is a visible
step, labelled with its delta. The floor is a dashed line when it falls inside the axis, else a note
under the chart says where it is.
"""

from __future__ import annotations

import html
from typing import Any

from goldkeeper.dataset.inert import terminal_safe

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 24, 30
#: the smallest span of the value axis (so a flat series is not a zoom on float noise)
MIN_SPAN = 0.01
#: every point gets its value as a label up to this many points; beyond, the first and last
LABEL_ALL_UP_TO = 6


def _h(text: Any) -> str:
    # controls shown escaped, as in the page around the chart (see html._h)
    return html.escape(terminal_safe(str(text)), quote=True)


def _axis_range(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    span = max(high - low, MIN_SPAN)
    middle = (low + high) / 2
    return middle - span * 0.6, middle + span * 0.6


class _Frame:
    """Maps (point index, value) to SVG coordinates."""

    def __init__(self, count: int, low: float, high: float) -> None:
        self.count, self.low, self.high = count, low, high

    def x(self, index: int) -> float:
        inner = WIDTH - LEFT - RIGHT
        return round(LEFT + (index * inner / (self.count - 1) if self.count > 1 else inner / 2), 2)

    def y(self, value: float) -> float:
        inner = HEIGHT - TOP - BOTTOM
        return round(TOP + (self.high - value) / (self.high - self.low) * inner, 2)


def _axes(frame: _Frame, points: list[dict[str, Any]]) -> list[str]:
    """Both axes, three value ticks with their values, and the first and last run on the time axis."""
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#57606a"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#57606a"/>',
    ]
    for value in (frame.low, (frame.low + frame.high) / 2, frame.high):
        y = frame.y(value)
        parts.append(f'<line x1="{LEFT - 3}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#eaeef2"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 5}" y="{y + 3}" text-anchor="end" font-size="9">{value:.4f}</text>'
        )
    first, last = points[0]["timestamp"][:10], points[-1]["timestamp"][:10]
    parts.append(f'<text x="{LEFT}" y="{bottom + 12}" font-size="9">run 1 ({_h(first)})</text>')
    if len(points) > 1:
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="{bottom + 12}" font-size="9" text-anchor="end">'
            f"run {len(points)} ({_h(last)})</text>"
        )
    parts.append(f'<text x="{LEFT}" y="{bottom + 24}" font-size="9" fill="#57606a">runs, oldest to newest</text>')
    return parts


def _labels(frame: _Frame, points: list[dict[str, Any]]) -> list[str]:
    """Value labels on the points, and the last change (delta against the run before) in the top corner."""
    shown = range(len(points)) if len(points) <= LABEL_ALL_UP_TO else (0, len(points) - 1)
    parts = []
    for i in shown:
        x, y = frame.x(i), frame.y(points[i]["value"])
        anchor = "end" if i == len(points) - 1 and len(points) > 1 else ("start" if i == 0 else "middle")
        shift = 4 if anchor == "start" else 0
        parts.append(
            f'<text class="value" x="{x + shift}" y="{y - 6}" text-anchor="{anchor}" font-size="9">'
            f"{points[i]['value']:.4f}</text>"
        )
    if len(points) > 1:
        delta = points[-1]["value"] - points[-2]["value"]
        color = "#cf222e" if delta < 0 else ("#1a7f37" if delta > 0 else "#57606a")
        parts.append(
            f'<text class="delta" x="{WIDTH - RIGHT}" y="14" text-anchor="end" font-size="11" font-weight="600" '
            f'fill="{color}">last change {delta:+.4f}</text>'
        )
    return parts


def chart(metric: str, points: list[dict[str, Any]], floor: float | None) -> str:
    """An inline SVG line chart of ``points`` (``runId``, ``timestamp``, finite ``value``), with axes and values."""
    values = [p["value"] for p in points]
    frame = _Frame(len(points), *_axis_range(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{_h(metric)} trend" font-family="system-ui, sans-serif">',
        *_axes(frame, points),
    ]
    if floor is not None and frame.low <= floor <= frame.high:
        fy = frame.y(floor)
        parts.append(
            f'<line class="floor" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{fy}" y2="{fy}" stroke="#cf222e" stroke-dasharray="4 3"/>'
        )
    coords = [(frame.x(i), frame.y(v)) for i, v in enumerate(values)]
    parts.append(
        '<polyline fill="none" stroke="#0969da" stroke-width="2" points="'
        + " ".join(f"{x},{y}" for x, y in coords)
        + '"/>'
    )
    for (x, y), point in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="2.5" fill="#0969da"><title>{_h(point["runId"])}: {point["value"]:.4f}</title></circle>'
        )
    parts += _labels(frame, points)
    parts.append("</svg>")
    if floor is not None and not frame.low <= floor <= frame.high:
        where = "below" if floor < frame.low else "above"
        parts.append(f'<p class="muted floor-note">floor {floor:g} ({where} the axis)</p>')
    return "".join(parts)


__all__ = ["chart"]
