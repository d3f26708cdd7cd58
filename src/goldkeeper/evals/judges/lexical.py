"""``lexical``: the original offline judge, a bag-of-words lexical entailment check.

Both texts are lower-cased, split into word tokens (letters/digits), stop
words dropped and a light suffix stemming applied (``-s``, ``-es``, ``-ed``,
``-ing``, ``-ly``). The score is::

    support = |content tokens of the claim found in the evidence| / |content tokens of the claim|

and the claim is supported when ``support >= threshold`` (default 0.8). A
claim with no content tokens is unsupported. It never says ``contradicted``:
``not`` and ``no`` are stop words and word order is ignored, so negations,
role swaps and entities moved between sentences pass (see the ``aligned``
judge, the default, and docs/evaluation.md for the measured comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

from goldkeeper.evals.judges.base import ThresholdJudge, Verdict, content_tokens


class LexicalJudge(ThresholdJudge):
    """Offline lexical-entailment judge: share of the claim's content words present in the evidence."""

    name = "lexical"
    default_threshold = 0.8

    def judge(self, claim: str, evidence: str) -> Verdict:
        claim_tokens = content_tokens(claim)
        if not claim_tokens:
            return Verdict(0.0, False, "the claim has no content words")
        evidence_tokens = set(content_tokens(evidence))
        missing = [t for t in claim_tokens if t not in evidence_tokens]
        score = 1.0 - len(missing) / len(claim_tokens)
        supported = score >= self.threshold
        reason = (
            ""
            if supported
            else f"support {score:.2f} < {self.threshold:.2f} (missing: {', '.join(sorted(set(missing))[:5])})"
        )
        return Verdict(score, supported, reason, "supported" if supported else "not_enough_info")

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        return [self.judge(claim, evidence) for claim, evidence in pairs]


__all__ = ["LexicalJudge"]
