"""Exact match and token F1 against reference answers, with SQuAD's normalisation.

Normalisation (SQuAD v1.1/v2.0 official evaluation): lower-case, drop
punctuation, drop the articles ``a``, ``an``, ``the``, collapse whitespace.

    EM(pred, refs) = max_r [normalise(pred) == normalise(r)]
    F1(pred, refs) = max_r 2 * P * R / (P + R),  P = |common tokens| / |pred tokens|,
                                                 R = |common tokens| / |ref tokens|

(common tokens counted as a multiset). Chinese and Japanese characters are one token each and CJK
punctuation is dropped too (:mod:`goldkeeper.evals.cjk`); other text normalises as the official script does. As in SQuAD 2.0, an unanswerable
question has the empty answer as its only reference: a refusal (empty
prediction) scores EM = F1 = 1, any answer scores 0.

References that normalise to the empty string (``"."``, ``"the"``) are dropped
first, as the official SQuAD v2.0 script does (``gold_answers = [a for a in
answers if normalize_answer(a)]``); when none is left, the empty answer is the
only reference. So ``"."`` against ``[".", "Rollo"]`` scores 0/0 (only
``"Rollo"`` counts), and against ``["."]`` alone 1/1 (it is then the empty
reference, matched by an empty normalised prediction).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from goldkeeper.evals.cjk import CJK_PUNCTUATION, spaced_cjk

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT and ch not in CJK_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(spaced_cjk(text).split())  # a Chinese or Japanese character is a token (goldkeeper.evals.cjk)


def _references(references: Sequence[str]) -> list[str]:
    """The references that normalise to a non-empty string, or the empty answer when none does (official v2.0)."""
    return [r for r in references if normalize_answer(r)] or [""]


def exact_match(prediction: str, references: Sequence[str]) -> float:
    refs = _references(references)
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in refs))


def _f1(prediction: str, reference: str) -> float:
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred)
    recall = common / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, references: Sequence[str]) -> float:
    refs = _references(references)
    return max(_f1(prediction, r) for r in refs)


__all__ = ["normalize_answer", "exact_match", "f1_score"]
