"""``responses:FILE``: responses already produced by the system under test, read from a JSON-lines file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from goldkeeper.errors import EvalError
from goldkeeper.evals.answerers.base import AnswerSet
from goldkeeper.models import Query
from goldkeeper.progress import SILENT, Progress


class ResponsesFileAnswerer:
    """Responses already produced by the system under test, in a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"responses:{path}"

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise EvalError(f"{self.path}: cannot read the responses file: {exc.strerror}") from exc
        answers = AnswerSet()
        answers.collect(data.splitlines(), {q.id for q in queries}, str(self.path))
        return answers


__all__ = ["ResponsesFileAnswerer"]
