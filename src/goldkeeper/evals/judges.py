"""Judges decide whether a claim is supported by the evidence it cites.

The :class:`Judge` interface is one method, ``judge(claim, evidence) ->
Verdict``; an NLI model (entailment probability) or an LLM judge implements
the same method and plugs into ``eval grounded`` unchanged.

The default, :class:`LexicalJudge`, is offline and deterministic: a lexical
entailment check. Both texts are lower-cased, split into word tokens
(letters/digits), stop words dropped and a light suffix stemming applied
(``-s``, ``-es``, ``-ed``, ``-ing``, ``-ly``). The score is::

    support = |content tokens of the claim found in the evidence| / |content tokens of the claim|

and the claim is supported when ``support >= threshold`` (params.yaml
``grounded.judge_threshold``, default 0.8: at most one content word in five
may be absent from the cited evidence, which allows paraphrase of function
words and inflection but not a new entity or number). A claim with no
content tokens (only stop words) is unsupported. Numbers must match exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

#: English function words that carry no claim content (a fixed list: the score must not drift).
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not of off on once only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself yourselves also
    which whose upon within without""".split()
)


def stem(token: str) -> str:
    """A light, deterministic suffix stemmer (enough to match inflections, not a linguistic stemmer)."""
    for suffix in ("ing", "ed", "es", "ly", "s"):
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def content_tokens(text: str) -> list[str]:
    """The stemmed, lower-cased content words of ``text`` in order (stop words removed)."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one claim: a support score in [0, 1] and the thresholded decision."""

    score: float
    supported: bool
    reason: str = ""


class Judge(Protocol):
    """Decides whether ``evidence`` supports ``claim``. Implementations must be deterministic for a run."""

    name: str
    threshold: float

    def judge(self, claim: str, evidence: str) -> Verdict: ...


class LexicalJudge:
    """Offline lexical-entailment judge: share of the claim's content words present in the evidence."""

    name = "lexical"

    def __init__(self, threshold: float = 0.8) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"judge threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold

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
        return Verdict(score, supported, reason)


JUDGES = {"lexical": LexicalJudge}


def make_judge(name: str, threshold: float) -> Judge:
    """The judge called ``name`` (params.yaml ``grounded.judge``)."""
    try:
        factory = JUDGES[name]
    except KeyError:
        raise ValueError(f"unknown judge {name!r} (known: {', '.join(sorted(JUDGES))})") from None
    return factory(threshold)


__all__ = ["STOP_WORDS", "stem", "content_tokens", "Verdict", "Judge", "LexicalJudge", "JUDGES", "make_judge"]
