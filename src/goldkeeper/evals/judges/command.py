"""``command:PROGRAM``: an external judge (an LLM-as-judge or an NLI service) over stdin/stdout JSON lines.

PROGRAM is split like a shell command line and run in the project directory,
once per batch of ``grounded.judge_batch_size`` pairs. Each stdin line is
``{"id": N, "claim": "...", "evidence": "..."}``; the program writes one line
per pair, in any order: ``{"id": N, "score": 0.93}`` with a score in [0, 1],
optionally ``"label"`` (``supported``, ``contradicted``, ``not_enough_info``)
and ``"reason"``. A pair is supported when its score is at least the
threshold (default 0.5) and its label, if given, is not ``contradicted`` or
``not_enough_info``. A judge that cannot start, times out
(``grounded.judge_timeout_s`` per batch), exits non-zero, or writes a bad or
missing verdict (or one for a pair id it was not given) stops the run with an error naming the program: scores of a
half-judged run would be wrong, not just lower.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.errors import EvalError
from goldkeeper.evals.judges.base import LABELS, Label, Verdict, check_threshold
from goldkeeper.programs import run_program


class CommandJudge:
    """An external judge program, one run per batch of claim/evidence pairs."""

    default_threshold = 0.5

    def __init__(
        self, command: str, threshold: float | None, *, cwd: Path, batch_size: int = 64, timeout_s: float = 300.0
    ) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise ValueError(f"judge command:{command}: cannot parse the command line: {exc}") from exc
        if not self.argv:
            raise ValueError("judge command: needs a program, e.g. command:'python my_judge.py'")
        self.name = f"command:{command}"
        self.threshold = check_threshold(self.default_threshold if threshold is None else threshold)
        self.cwd = cwd
        self.batch_size = max(1, batch_size)
        self.timeout_s = timeout_s

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.threshold:g}"

    def judge(self, claim: str, evidence: str) -> Verdict:
        return self.judge_many([(claim, evidence)])[0]

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for start in range(0, len(pairs), self.batch_size):
            verdicts += self._run_batch(start, pairs[start : start + self.batch_size])
        return verdicts

    def _fail(self, message: str) -> EvalError:
        return EvalError(f"judge {self.name}: {message}")

    def _run_batch(self, start: int, batch: Sequence[tuple[str, str]]) -> list[Verdict]:
        stdin = b"".join(
            orjson.dumps({"id": start + i, "claim": claim, "evidence": evidence}) + b"\n"
            for i, (claim, evidence) in enumerate(batch)
        )
        label = f"pairs {start}-{start + len(batch) - 1}"
        try:
            done = run_program(self.argv, stdin, cwd=self.cwd, timeout=self.timeout_s)
        except OSError as exc:
            raise self._fail(f"cannot run {self.argv[0]!r}: {exc.strerror or exc}") from exc
        if done.failure is not None:
            raise self._fail(f"{done.failure} on {label}{done.detail}")
        found: dict[int, Verdict] = {}
        for number, line in enumerate(done.stdout.splitlines(), start=1):
            if line.strip():
                key, verdict = self._verdict(line, number, label)
                if not start <= key < start + len(batch):  # a verdict on a pair it was not asked about
                    raise self._fail(f"output line {number} of {label}: pair id {key} is not one of this batch")
                if key in found:  # which of two scores holds is not ours to pick
                    raise self._fail(f"output line {number} of {label}: a second verdict for pair id {key}")
                found[key] = verdict
        missing = [start + i for i in range(len(batch)) if start + i not in found]
        if missing:
            raise self._fail(f"no verdict for pair id {missing[0]} ({len(missing)} missing) on {label}")
        return [found[start + i] for i in range(len(batch))]

    def _verdict(self, line: bytes, number: int, label: str) -> tuple[int, Verdict]:
        where = f"output line {number} of {label}"
        try:
            data: Any = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise self._fail(f"{where} is not JSON: {exc}") from exc
        # bool is an int to Python: {"id": true} would be taken as the verdict on pair 1
        if not isinstance(data, dict) or not isinstance(data.get("id"), int) or isinstance(data.get("id"), bool):
            raise self._fail(f"{where}: expected an object with an integer id")
        score = data.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise self._fail(f"{where}: score must be a number in [0, 1], got {score!r}")
        given = data.get("label")
        if given is not None and given not in LABELS:
            raise self._fail(f"{where}: label must be one of {', '.join(LABELS)}, got {given!r}")
        supported = score >= self.threshold and given in (None, "supported")
        # "supported" under the threshold is not a supported verdict: its label says what was decided
        verdict_label: Label = (
            given if given not in (None, "supported") else ("supported" if supported else "not_enough_info")
        )
        return data["id"], Verdict(float(score), supported, str(data.get("reason", "")), verdict_label)


__all__ = ["CommandJudge"]
