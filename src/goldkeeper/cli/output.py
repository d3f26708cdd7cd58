"""Rendering helpers shared by commands: JSON output and terminal progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (sorted keys) on stdout."""
    from ..store.canonical import to_plain

    click.echo(orjson.dumps(to_plain(data), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


class _RichTask:
    def __init__(self, progress: Any, task_id: Any) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._task_id, amount)


class TerminalProgress:
    """A rich progress bar on stderr, shown only when stderr is a terminal."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_RichTask]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.console import Console

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            yield _RichTask(progress, progress.add_task(description, total=total))


def progress_for_terminal() -> Any:
    """A terminal progress bar when stderr is a TTY, the silent default otherwise."""
    from ..progress import SILENT

    return TerminalProgress() if sys.stderr.isatty() else SILENT
