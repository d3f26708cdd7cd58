"""What every judge shares: the verdict, the protocol, the tokenizer and the sentence splitter.

A judge decides whether the evidence a claim cites supports it. Its verdict
carries a score in [0, 1], the thresholded decision and a three-way label:
``supported``, ``contradicted`` (the evidence says otherwise) or
``not_enough_info``. :meth:`Judge.judge_many` judges a batch of (claim,
evidence) pairs at once (one process or one model call per batch); the
grounded eval collects every pair of a run and calls it once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
#: Chinese and Japanese sentences end with 。！？ and need no space after; one ending inside a closing bracket or
#: quote goes on (「本当？」と言った。 is one sentence) unless it is a 。 (a quoted sentence of dialogue: 。」)
_CJK_END = r"(?:(?<=[\u3002\uff01\uff1f{0}])(?![\u300d\u300f\uff09\u3011\u3015\u3002\uff01\uff1f])|(?<=\u3002[\u300d\u300f]))\s*"
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|" + _CJK_END.format(""))
_CLAUSE_END = re.compile(r"(?<=[.!?;])[\"')\]]?\s+(?=[\"'(\[]?[A-Za-z0-9])|" + _CJK_END.format("\uff1b"))

Label = Literal["supported", "contradicted", "not_enough_info"]
LABELS: tuple[Label, ...] = ("supported", "contradicted", "not_enough_info")

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
    return [stem(t) for t in word_tokens(text.lower()) if t not in STOP_WORDS]


def word_tokens(text: str) -> list[str]:
    """Every word token of ``text`` in order, case kept, in Unicode NFC.

    NFC first: an answer's "Café" written decomposed (e + U+0301, as macOS and some tokenizers emit it) is the
    same word as the evidence's composed one; the combining accent is no word character and would split it."""
    return _TOKEN.findall(unicodedata.normalize("NFC", text))


def split_sentences(text: str, *, clauses: bool = False) -> list[str]:
    """Sentences: split after . ! ? followed by a capital or digit, after 。！？, and at line breaks.

    With ``clauses``, also after ``;`` and before any word (an answer's statements, each checked on its own).
    """
    pattern = _CLAUSE_END if clauses else SENTENCE_END
    parts: list[str] = []
    for line in text.splitlines():
        parts += [s.strip() for s in pattern.split(line) if s.strip()]
    return parts


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one claim: a support score in [0, 1], the thresholded decision and a label."""

    score: float
    supported: bool
    reason: str = ""
    label: Label = "not_enough_info"


class Judge(Protocol):
    """Decides whether ``evidence`` supports ``claim``. Implementations must be deterministic for a run."""

    name: str
    threshold: float

    @property
    def identity(self) -> str:
        """Name, model and threshold: part of the baseline identity."""
        ...

    def judge(self, claim: str, evidence: str) -> Verdict: ...

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]: ...


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"judge threshold must be in [0, 1], got {threshold}")
    return threshold


class ThresholdJudge:
    """What the offline judges share: a name and a threshold (None: the judge's default), identity ``name@threshold``."""

    name = "judge"
    default_threshold = 0.5

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = check_threshold(self.default_threshold if threshold is None else threshold)

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.threshold:g}"


__all__ = [
    "SENTENCE_END",
    "Label",
    "LABELS",
    "STOP_WORDS",
    "stem",
    "content_tokens",
    "word_tokens",
    "split_sentences",
    "Verdict",
    "Judge",
    "check_threshold",
    "ThresholdJudge",
]
