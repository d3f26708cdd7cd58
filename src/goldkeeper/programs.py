"""Running a user's program on JSON lines: what the ``command:`` answerer, judge and embedder share.

The program gets its batch on stdin, runs under a timeout, and its failure is described once: a
timeout or a non-zero exit status with the last line of its stderr. Each caller words the failure in
its own error (an embedding failure is a config error, a judge's an eval error, an answerer's a
failed case), so this module returns the failure instead of raising; a program that cannot start is
the :class:`OSError` of :func:`subprocess.Popen`. It sits in the lowest layer: the standard library,
and psutil to stop a timed-out program's own children.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProgramRun:
    """One run: its stdout, and ``failure`` (None: exit status 0) with the stderr ``detail`` (``": ..."`` or "")."""

    stdout: bytes
    failure: str | None = None
    detail: str = ""


def run_program(argv: Sequence[str], stdin: bytes, *, cwd: Path | None, timeout: float) -> ProgramRun:
    """Run ``argv`` with ``stdin``; raises OSError when the program cannot be started."""
    with subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
    ) as process:
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            return ProgramRun(b"", f"timed out after {timeout:g} s")
        except BaseException:
            _kill_tree(process)
            raise
    if process.returncode == 0:
        return ProgramRun(stdout)
    tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    detail = f": {' '.join(tail[0].split())[:300]}" if tail[0] else ""
    return ProgramRun(stdout, f"exited with status {process.returncode}", detail)


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Kill the program and every process it started: a wrapper's worker (`sh -c`, `uv run`) outlives the
    wrapper's own kill. Its children are listed first (once it is dead they belong to init)."""
    import psutil  # noqa: PLC0415 - start-up: only a timed-out or interrupted program needs it

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.kill()
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    process.wait()


__all__ = ["ProgramRun", "run_program"]
