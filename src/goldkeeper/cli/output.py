"""Rendering helpers shared by commands: JSON output and progress on stderr.

Progress: a rich bar when stderr is a terminal; otherwise (CI logs, pipes) a
plain line every few seconds (``GOLDKEEPER_PROGRESS_SECONDS``, default 5) for
work that runs that long, so a log shows that a long restore is moving
without drowning short commands in noise.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson

from goldkeeper.dataset.inert import json_safe, log_safe
from goldkeeper.progress import Progress as ProgressProtocol

PROGRESS_SECONDS_ENV = "GOLDKEEPER_PROGRESS_SECONDS"

#: the ticker's clock, apart from ``time.monotonic`` which the advance path reads (tests step that one)
_wall_clock = time.monotonic


def echo_text(text: str, *, lines: bool = False, err: bool = False, nl: bool = True) -> None:
    """Print text that may hold record text with its control characters (ESC, OSC, C1, ...) shown escaped,
    and no line of it a CI workflow command (see :func:`goldkeeper.dataset.inert.log_safe`).

    One line unless ``lines`` (then newlines and tabs are kept: a rendering made of lines, such as a report).
    """
    click.echo(log_safe(text, keep_newlines=lines), err=err, nl=nl)


def echo_document(text: str, *, json_document: bool = False) -> None:
    """Print a rendered document as it is (no newline added): JSON through json_safe, text with its lines kept."""
    click.echo(json_safe(text) if json_document else log_safe(text, keep_newlines=True), nl=False)


def _plain(value: Any) -> Any:
    """orjson's ``default``: a pydantic model as its JSON dict; anything else orjson cannot write is an error."""
    # start-up: the store and pydantic only when there is a model to write (show's summary has none)
    from goldkeeper.store.canonical import to_plain  # noqa: PLC0415

    plain = to_plain(value)
    if plain is value:
        raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
    return plain


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (sorted keys) on stdout."""
    text = orjson.dumps(data, default=_plain, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    click.echo(json_safe(text))


class _RichTask:
    def __init__(self, progress: Any, task_id: Any) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._task_id, amount)


#: the consoles of the progress bars on screen (innermost last): a line printed meanwhile goes through it.
_LIVE_CONSOLES: list[Any] = []


def echo_err_line(text: str) -> None:
    """One line on stderr; above the progress bar while one is drawn (a plain write would land at the end of
    the bar's line, which the next redraw then leaves behind)."""
    if _LIVE_CONSOLES:
        _LIVE_CONSOLES[-1].print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
    else:
        click.echo(text, err=True)


class TerminalProgress:
    """A rich progress bar on stderr (for terminals)."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_RichTask]:
        # start-up: rich.progress + rich.console cost 0.1 s, and only a terminal needs them
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as progress:
            _LIVE_CONSOLES.append(console)
            try:
                yield _RichTask(progress, progress.add_task(description, total=total))
            finally:
                _LIVE_CONSOLES.remove(console)


class _PlainTask:
    def __init__(self, description: str, total: int | None, interval: float) -> None:
        self.description = description
        self.total = total
        self.interval = interval
        self.done = 0
        self.started = time.monotonic()
        self.last = self.started
        self.printed = False
        # the ticker thread and the caller both print: one line at a time
        self._lock = threading.Lock()
        self._last_line = _wall_clock()

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.line()

    def tick(self) -> None:
        """The ticker's line: when no line came for ``interval`` seconds (a step that advances nothing)."""
        if _wall_clock() - self._last_line >= self.interval:
            self.last = time.monotonic()  # the next advance waits a whole interval: no second line right after
            self.line()

    def line(self, final: bool = False) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        # a step without a count (one SQL statement) says only that it runs, not "0 ..."
        count = f": {self.done}{of}" if self.total is not None or self.done else ""
        elapsed = time.monotonic() - self.started
        state = "done" if final else "..."
        with self._lock:
            click.echo(f"{self.description}{count} {state} ({elapsed:.0f} s)", err=True)
            self.printed = True
            self._last_line = _wall_clock()


class PlainProgress:
    """A plain progress line on stderr every ``interval`` seconds (for logs); silent for quick work.

    The line comes from a ticker thread too: one step that takes long (one SQL statement building an index,
    one git revision read) would otherwise leave the log silent until it ends, which is what a CI log must not do.
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_PlainTask]:
        task = _PlainTask(description, total, self.interval)
        stop = threading.Event()
        ticker = threading.Thread(target=_tick_until, args=(task, stop), name="goldkeeper-progress", daemon=True)
        ticker.start()
        try:
            yield task
        finally:
            stop.set()
            ticker.join()
        if task.printed:
            task.line(final=True)


def _tick_until(task: _PlainTask, stop: threading.Event) -> None:
    # a tenth of the interval: a line comes at most that late
    while not stop.wait(task.interval / 10):
        task.tick()


def _interval() -> float:
    try:
        return max(0.1, float(os.environ.get(PROGRESS_SECONDS_ENV, "5")))
    except ValueError:
        return 5.0


def progress_for_terminal() -> ProgressProtocol:
    """A rich bar when stderr is a terminal, else a periodic plain line."""
    return TerminalProgress() if sys.stderr.isatty() else PlainProgress(_interval())
