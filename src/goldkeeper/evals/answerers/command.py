"""``command:PROGRAM``: an external program answering batches of prompts over stdin/stdout JSON lines.

A batch that times out or exits non-zero fails each of its cases with that
reason; the other batches go on. Only a program that cannot be started at all
stops the run.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import orjson

from goldkeeper.errors import EvalError, UsageError
from goldkeeper.evals.answerers.base import AnswerSet, prompt_json
from goldkeeper.models import Query
from goldkeeper.programs import run_program
from goldkeeper.progress import SILENT, Progress


class CommandAnswerer:
    """An external program answering batches of prompts over stdin/stdout JSON lines."""

    def __init__(self, command: str, *, cwd: Path, batch_size: int, timeout_s: float) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"answerer command:{command}: cannot parse the command line: {exc}") from exc
        if not self.argv:
            raise UsageError("answerer command: needs a program, e.g. command:'python my_rag.py'")
        self.name = f"command:{command}"
        self.cwd = cwd
        self.batch_size = batch_size
        self.timeout_s = timeout_s

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet:
        answers = AnswerSet()
        batches = [queries[i : i + self.batch_size] for i in range(0, len(queries), self.batch_size)]
        with progress.task("answering (command)", total=len(queries)) as task:
            for number, batch in enumerate(batches, start=1):
                self._run_batch(number, batch, answers)
                task.advance(len(batch))
        return answers

    def _run_batch(self, number: int, batch: Sequence[Query], answers: AnswerSet) -> None:
        stdin = b"".join(orjson.dumps(prompt_json(q)) + b"\n" for q in batch)
        label = f"batch {number} ({len(batch)} prompts)"
        try:
            done = run_program(self.argv, stdin, cwd=self.cwd, timeout=self.timeout_s)
        except OSError as exc:
            raise EvalError(f"answerer {self.name}: cannot run {self.argv[0]!r}: {exc.strerror or exc}") from exc
        if done.failure is not None:
            for q in batch:
                answers.fail(q.id, f"answerer command {done.failure} on {label}{done.detail}")
            return
        answers.collect(done.stdout.splitlines(), {q.id for q in batch}, f"command output of {label}")


__all__ = ["CommandAnswerer"]
