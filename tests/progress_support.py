"""Test doubles for goldkeeper.progress: a Progress that records its tasks, a clock that moves a second a reading."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class RecordingTask:
    def __init__(self, description: str, total: int | None) -> None:
        self.description, self.total, self.advances = description, total, []

    def advance(self, amount: int = 1) -> None:
        self.advances.append(amount)


class RecordingProgress:
    """Records every task and each advance of it (what a progress bar would show)."""

    def __init__(self) -> None:
        self.tasks: list[RecordingTask] = []

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[RecordingTask]:
        task = RecordingTask(description, total)
        self.tasks.append(task)
        yield task

    @property
    def names(self) -> list[str]:
        """The descriptions of the tasks opened, in order."""
        return [t.description for t in self.tasks]

    def named(self, description: str) -> RecordingTask:
        return next(t for t in self.tasks if t.description == description)


class SteppingClock:
    """A monotonic clock that moves one second per reading: every progress advance is "seconds later"."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now
