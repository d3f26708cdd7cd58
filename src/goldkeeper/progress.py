"""Progress reporting for long operations, without tying the library to a terminal.

Library code accepts a :class:`Progress` and calls ``progress.task(...)``;
the CLI passes a rich progress bar on a terminal, everything else gets the
silent default.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class ProgressTask(Protocol):
    def advance(self, amount: int = 1) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> AbstractContextManager[ProgressTask]: ...


class _SilentTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def __enter__(self) -> _SilentTask:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class SilentProgress:
    """The default: reports nothing."""

    def task(self, description: str, total: int | None) -> _SilentTask:
        return _SilentTask()


SILENT = SilentProgress()
