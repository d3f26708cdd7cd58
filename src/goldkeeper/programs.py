"""Running a user's program on JSON lines: what the ``command:`` answerer, judge and embedder share.

The program gets its batch on stdin, runs under a timeout and a limit on its stdout, and its failure
is described once: a timeout, too much output or a non-zero exit status with the line of its
stderr that says why (a Python exception, not its caret line). Each caller words the failure in its
own error (an embedding failure is a config error, a judge's an eval error, an answerer's a failed
case), so this module returns the failure instead of raising; a program that cannot start is the :class:`OSError` of :func:`subprocess.Popen`. It sits in
the lowest layer: the standard library, and psutil to stop a program it gave up on with its children.
"""

from __future__ import annotations

import contextlib
import io
import os
import selectors
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: stdout a program may write in one run: more is a runaway program, stopped before it exhausts memory
MAX_STDOUT_BYTES = 256 * 2**20
#: bytes read or written at once
_CHUNK = 64 * 2**10
#: the tail of stderr that is kept: its last line is all that is reported
_STDERR_KEPT = 8 * 2**10


@dataclass(frozen=True)
class ProgramRun:
    """One run: its stdout, and ``failure`` (None: exit status 0) with the stderr ``detail`` (``": ..."`` or "")."""

    stdout: bytes
    failure: str | None = None
    detail: str = ""


def run_program(
    argv: Sequence[str], stdin: bytes, *, cwd: Path | None, timeout: float, max_stdout: int | None = None
) -> ProgramRun:
    """Run ``argv`` with ``stdin``; raises OSError when the program cannot be started.

    ``timeout`` bounds the whole run: feeding stdin, reading its output and its exit. More than
    ``max_stdout`` bytes (default :data:`MAX_STDOUT_BYTES`, read when called) on stdout stop the
    program: its output is kept in memory to be parsed."""
    limit = MAX_STDOUT_BYTES if max_stdout is None else max_stdout
    with subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
    ) as process:
        try:
            stdout, stderr = _exchange(process, stdin, time.monotonic() + timeout, limit)
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            return ProgramRun(b"", f"timed out after {timeout:g} s")
        except _TooMuchOutput:
            _kill_tree(process)
            return ProgramRun(b"", f"wrote more than {_size(limit)} to stdout")
        except BaseException:
            _kill_tree(process)
            raise
    if process.returncode == 0:
        return ProgramRun(stdout)
    line = _stderr_reason(stderr.decode(errors="replace"))
    detail = f": {' '.join(line.split())[:300]}" if line else ""
    return ProgramRun(stdout, f"exited with status {process.returncode}", detail)


_TRACEBACK = "Traceback (most recent call last):"


def _stderr_reason(stderr: str) -> str:
    """The line of stderr that says why: a Python traceback's exception line (its frames are indented; a
    multi-line message such as psycopg's ``LINE 1: ...`` and ``^`` follows it), else the last line with a word."""
    lines = stderr.splitlines()
    if _TRACEBACK in lines:
        start = len(lines) - lines[::-1].index(_TRACEBACK)
        reason = next((line for line in lines[start:] if line.strip() and not line[0].isspace()), "")
        if reason:
            return reason
    return next((line for line in reversed(lines) if any(c.isalnum() for c in line)), "")


class _TooMuchOutput(Exception):
    """The program wrote more than its stdout limit."""


def _exchange(process: subprocess.Popen[bytes], stdin: bytes, deadline: float, max_stdout: int) -> tuple[bytes, bytes]:
    """Feed ``stdin`` while reading stdout and stderr, in one loop (a program that answers before it has
    read all its input must not block on a full pipe while we block on writing), until both close and
    the program exits; returns stdout and the tail of stderr. Raises TimeoutExpired past ``deadline``."""
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    stdout, stderr = io.BytesIO(), bytearray()
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as selector:
        if pending:
            os.set_blocking(process.stdin.fileno(), False)  # a write takes what the pipe holds, never waits
            selector.register(process.stdin, selectors.EVENT_WRITE)
        else:
            process.stdin.close()
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(process.args, 0)
            for key, _ in selector.select(remaining):
                if key.fileobj is process.stdin:
                    pending = _feed(key.fd, pending)
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                limit = max_stdout + 1 - stdout.tell() if key.fileobj is process.stdout else _CHUNK
                data = os.read(key.fd, min(_CHUNK, limit))
                if not data:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stdout:
                    stdout.write(data)
                    if stdout.tell() > max_stdout:
                        raise _TooMuchOutput
                else:
                    stderr += data
                    del stderr[:-_STDERR_KEPT]  # only its last line is reported
    process.wait(max(deadline - time.monotonic(), 0.0))
    return stdout.getvalue(), bytes(stderr)


def _feed(fd: int, pending: memoryview) -> memoryview:
    """Write what the pipe takes of ``pending``; the rest. A program that exits (or closes stdin) before
    reading all of it gets no more: its output and exit status tell what happened."""
    try:
        return pending[os.write(fd, pending[:_CHUNK]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return pending[:0]


def _size(limit: int) -> str:
    """``limit`` bytes as the message says it: whole MiB or KiB when it is one."""
    for unit, name in ((2**20, "MiB"), (2**10, "KiB")):
        if limit % unit == 0:
            return f"{limit // unit} {name}"
    return f"{limit} bytes"


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


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["MAX_STDOUT_BYTES", "ProgramRun", "process_alive", "run_program"]
