"""Judge every (claim, evidence) pair of a run in one batched call.

Scoring asks the judge one pair at a time. An external or model judge is
much faster on batches, so :func:`prejudge` scores the cases once with a
:class:`PairCollector` (which records the pairs and answers a placeholder),
calls ``judge_many`` once on the distinct pairs, and returns a
:class:`PrejudgedJudge` that answers from those verdicts. Which pairs are
asked never depends on a verdict, so the second scoring pass asks the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from goldkeeper.evals.judges import Judge, Verdict
from goldkeeper.progress import SILENT, Progress

_PLACEHOLDER = Verdict(1.0, True, "", "supported")


class PairCollector:
    """A judge that records the pairs it is asked about."""

    def __init__(self, inner: Judge) -> None:
        self.name = inner.name
        self.threshold = inner.threshold
        self.inner = inner
        self.pairs: dict[tuple[str, str], None] = {}

    @property
    def identity(self) -> str:
        return self.inner.identity

    def judge(self, claim: str, evidence: str) -> Verdict:
        self.pairs[(claim, evidence)] = None
        return _PLACEHOLDER

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        return [self.judge(claim, evidence) for claim, evidence in pairs]


class PrejudgedJudge:
    """A judge answering from verdicts computed in one batch (the inner judge for anything else)."""

    def __init__(self, inner: Judge, verdicts: dict[tuple[str, str], Verdict]) -> None:
        self.name = inner.name
        self.threshold = inner.threshold
        self.inner = inner
        self.verdicts = verdicts

    @property
    def identity(self) -> str:
        return self.inner.identity

    def judge(self, claim: str, evidence: str) -> Verdict:
        found = self.verdicts.get((claim, evidence))
        return found if found is not None else self.inner.judge(claim, evidence)

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        return [self.judge(claim, evidence) for claim, evidence in pairs]


def prejudge(judge: Judge, score_all: Callable[[Judge], object], progress: Progress = SILENT) -> PrejudgedJudge:
    """Run ``score_all`` with a collector, judge the distinct pairs in one call, return the answering judge."""
    collector = PairCollector(judge)
    score_all(collector)
    pairs = list(collector.pairs)
    with progress.task(f"judging ({judge.name})", total=len(pairs)) as task:
        verdicts = judge.judge_many(pairs)
        task.advance(len(pairs))
    return PrejudgedJudge(judge, dict(zip(pairs, verdicts, strict=True)))


__all__ = ["PairCollector", "PrejudgedJudge", "prejudge"]
