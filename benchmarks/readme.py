"""Write a benchmark's results into benchmarks/README.md, the one place goldkeeper's numbers live.

Each script renders its table as markdown and, with ``--write-readme``, replaces the block between
``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` with it, under one line saying when and on
what machine (cores, load average, Python) it was measured. The prose around the blocks (method,
how to read the numbers) is written by hand and never holds a number the scripts produce.
"""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def machine_line() -> str:
    """When and where: date, CPU, cores, load average now, Python."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} with {os.cpu_count()} cores "
        f"(load average {load} at the end of the run), Python {platform.python_version()}."
    )


def update_results(name: str, markdown: str, readme: Path = README) -> None:
    """Replace the results block ``name`` of the README with ``markdown`` (and the machine line)."""
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- results:{re.escape(name)} -->\n).*?(<!-- /results:{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme}: no <!-- results:{name} --> ... <!-- /results:{name} --> block to update")
    block = f"{machine_line()}\n\n{markdown.strip()}\n"
    readme.write_text(pattern.sub(lambda m: m.group(1) + block + m.group(2), text, count=1), encoding="utf-8")
