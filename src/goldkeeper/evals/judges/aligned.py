"""``aligned``: the offline default judge. Lexical support in one evidence sentence, then contradiction checks.

1. **Support.** The evidence is split into sentences; each claim content word
   (stop words dropped, light stemming, :mod:`.base`)
   matches an evidence word with the same stem, or one that is a prefix of
   the other when both have at least 5 letters (``Catholicism`` /
   ``Catholic``); numbers match only themselves. The score is the share of
   the claim's content words matched in the *best single sentence* (the
   highest share; among equals, the one with the highest share of its own
   words matched, then the first): words gathered from different sentences
   do not support a claim.
2. When the share of the claim's non-number words matched there is at least
   ``threshold``, the claim is *about* that sentence and it is
   **contradicted** when
   - **number changed**: a number of the claim is not in the sentence, which
     has a number the claim does not have (``912`` for ``911``);
   - **negation flipped**: the matched spans of the claim and of the
     sentence (three words before the first matched word to the last, in
     claim order) differ in the parity of their negations (``not``, ``no``, ``never``, ``none``,
     ``nothing``, ``neither``, ``nor``, ``nobody``, ``cannot``, ``-n't``);
   - **entity elsewhere**: a name of the claim (a capitalised word; as the
     first word, not one ending in -ly or -ing) is not in the sentence but in
     another sentence of the evidence; or two neighbouring content words of the claim, one of them
     capitalised, are separated in the sentence by a capitalised word the
     claim does not contain, at most 4 content words apart (``Rollo was the
     King of West Francia``: the sentence has ``King Charles III of West
     Francia``). Further apart, the sentence does not connect them: **not
     enough information** (``William the Conqueror founded the Kingdom of
     Sicily``: ``founded the Kingdom of Sicily under Roger II ... William the
     Conqueror``).
3. Otherwise it is **supported** when the share is at least ``threshold`` and
   every number and name of the claim is in the sentence, else **not enough
   information**. The score is the share (0 for a contradiction or an
   unconnected pair).
4. A claim of several sentences is judged sentence by sentence (each against
   the whole evidence): contradicted when one sentence is, supported when
   every sentence is, else not enough information; its score is the lowest.
   (Judged as one bag of words against one evidence sentence, a claim quoting
   a paragraph verbatim would miss most of its words.)

The default threshold, 0.65, had the best macro F1 on the tuning half of the
labelled pairs in tests/data/judge-pairs/ (``scripts/judge_table.py --tune``);
the report half's numbers are in docs/evaluation.md. Known limits: no
synonyms or world knowledge (``came from Scandinavia`` for ``from Denmark,
Iceland and Norway`` is not enough information), and a true paraphrase whose
words the evidence keeps apart around another name is not supported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from goldkeeper.evals.judges.base import STOP_WORDS, ThresholdJudge, Verdict, split_sentences, stem, word_tokens

_NEGATION = frozenset({"not", "no", "never", "none", "nothing", "neither", "nor", "nobody", "cannot"})
_MIN_PREFIX = 5
#: numbers, ordinals and decades (``911``, ``10th``, ``1970s``): they match only themselves
_NUMBER = re.compile(r"\d+(?:st|nd|rd|th|s)?")
#: what is left of "Rollo's" and "isn't" after tokenising: not content words.
_CLITICS = frozenset("s t isn aren wasn weren doesn don didn hasn haven hadn won wouldn couldn shouldn mustn".split())
#: content words between two claim words within which another name is an attachment, not a distance.
_NEAR = 4


@dataclass(frozen=True)
class _Word:
    position: int  # index among all word tokens of the sentence
    text: str
    stem: str
    capital: bool
    number: bool


def _words(text: str) -> list[_Word]:
    """The content words of ``text`` with their positions (stop words and the clitics of ``'s``, ``n't`` skipped)."""
    words = []
    for position, token in enumerate(word_tokens(text)):
        lower = token.lower()
        if lower in STOP_WORDS or lower in _CLITICS:
            continue
        words.append(_Word(position, lower, stem(lower), token[0].isupper(), _NUMBER.fullmatch(lower) is not None))
    return words


def _is_name(word: _Word) -> bool:
    """A number or a capitalised word (as the first word, not an -ly / -ing one): it must be in the sentence."""
    return word.number or (word.capital and (word.position > 0 or not word.text.endswith(("ly", "ing"))))


def _matches(a: _Word, b: _Word) -> bool:
    if a.number or b.number:
        return a.text == b.text
    if a.stem == b.stem:
        return True
    short, long = sorted((a.stem, b.stem), key=len)
    return len(short) >= _MIN_PREFIX and long.startswith(short)


def _negations(tokens: Sequence[str]) -> int:
    """Negation words among word tokens (``didn't`` is the tokens ``didn`` ``t``)."""
    lower = [t.lower() for t in tokens]
    return sum(1 for i, t in enumerate(lower) if t in _NEGATION or (t == "t" and i and lower[i - 1].endswith("n")))


@dataclass(frozen=True)
class _Alignment:
    """The claim against one evidence sentence: for each claim word, the positions of its matches."""

    sentence: str
    words: list[_Word]
    hits: list[list[int]]  # per claim word, positions in ``words`` it matches

    def precision(self) -> float:
        """The share of the sentence's content words some claim word matches (breaks ties between sentences)."""
        used = {j for hits in self.hits for j in hits}
        return len(used) / len(self.words) if self.words else 0.0

    def share(self, claim: list[_Word], *, numbers: bool = True) -> float:
        pool = [i for i, w in enumerate(claim) if numbers or not w.number]
        return sum(1 for i in pool if self.hits[i]) / len(pool) if pool else 1.0


def _align(claim: list[_Word], sentence: str) -> _Alignment:
    words = _words(sentence)
    hits = [[j for j, e in enumerate(words) if _matches(c, e)] for c in claim]
    return _Alignment(sentence, words, hits)


def _changed_number(claim: list[_Word], best: _Alignment) -> str | None:
    missing = [c.text for i, c in enumerate(claim) if c.number and not best.hits[i]]
    other = Counter(e.text for e in best.words if e.number) - Counter(c.text for c in claim if c.number)
    if missing and other:
        return f"number changed: the evidence says {min(other)}, the claim {missing[0]}"
    return None


def _monotone(best: _Alignment) -> list[int]:
    """Word positions of the claim's matches in the sentence, each the first after the previous one."""
    chosen: list[int] = []
    last = -1
    for hits in best.hits:
        later = [best.words[j].position for j in hits if best.words[j].position > last]
        if later:
            last = later[0]
            chosen.append(last)
    return chosen


def _flipped_negation(claim_text: str, claim: list[_Word], best: _Alignment) -> str | None:
    """Negation parity over the matched spans of both texts (three words before the first match to the last)."""
    matched = _monotone(best)
    claimed = [w.position for i, w in enumerate(claim) if best.hits[i]]
    if not matched or not claimed:
        return None
    span = word_tokens(best.sentence)[max(0, matched[0] - 3) : matched[-1] + 1]
    claim_span = word_tokens(claim_text)[max(0, claimed[0] - 3) : claimed[-1] + 1]
    if _negations(claim_span) % 2 != _negations(span) % 2:
        return "negation flipped: the claim and its evidence differ by a negation"
    return None


def _missing_entity(claim: list[_Word], best: _Alignment, everywhere: list[_Alignment]) -> str | None:
    """A name of the claim (capitalised, not its first word) absent from the best sentence but in another one."""
    for i, word in enumerate(claim):
        if _is_name(word) and not word.number and not best.hits[i]:
            if any(al.hits[i] for al in everywhere):
                return f"entity attached elsewhere: {word.text.title()} is in another sentence of the evidence"
    return None


def _entity_breaks(claim: list[_Word], best: _Alignment) -> tuple[str | None, str | None]:
    """(near, far): neighbouring claim words, one a name, that the sentence separates by another name.

    Near (at most ``_NEAR`` content words apart in the sentence, "King Charles III of West Francia" for
    "King of West Francia"): the name is attached to something else, a contradiction. Far: the sentence
    does not connect them, not enough information.
    """
    known = {c.stem for c in claim}
    matched = [i for i, hits in enumerate(best.hits) if hits]
    far = None
    for a, b in zip(matched, matched[1:], strict=False):
        if not (claim[a].capital or claim[b].capital):
            continue
        pairs = [(p, q) for p in best.hits[a] for q in best.hits[b]]
        nearest = min(pairs, key=lambda pq: abs(pq[0] - pq[1]))
        p, q = min(nearest), max(nearest)
        between = [
            e
            for e in best.words[p + 1 : q]
            if e.capital and not e.number and e.stem not in known and not any(_matches(e, c) for c in claim)
        ]
        if not between:
            continue
        where = f"{between[0].text.title()} between {claim[a].text} and {claim[b].text}"
        if q - p - 1 <= _NEAR:
            return f"entity attached elsewhere: the evidence puts {where}", None
        far = far or f"the evidence does not connect them: {where}"
    return None, far


class AlignedJudge(ThresholdJudge):
    """Lexical support within one evidence sentence, with number, negation and entity-attachment checks."""

    name = "aligned"
    default_threshold = 0.65

    def judge(self, claim: str, evidence: str) -> Verdict:
        parts = split_sentences(claim)
        if len(parts) <= 1:
            return self._judge_sentence(claim, evidence)
        verdicts = [self._judge_sentence(part, evidence) for part in parts]
        worst = min(verdicts, key=lambda v: (v.label != "contradicted", v.supported, v.score))
        if worst.supported:  # every sentence is
            return worst
        return Verdict(0.0 if worst.label == "contradicted" else worst.score, False, worst.reason, worst.label)

    def _judge_sentence(self, claim: str, evidence: str) -> Verdict:
        words = _words(claim)
        if not words:
            return Verdict(0.0, False, "the claim has no content words", "not_enough_info")
        sentences = split_sentences(evidence) or [evidence]
        alignments = [_align(words, s) for s in sentences]
        best = max(alignments, key=lambda al: (al.share(words), al.precision()))
        score = best.share(words)
        if best.share(words, numbers=False) >= self.threshold:
            near, far = _entity_breaks(words, best)
            problem = (
                _changed_number(words, best)
                or _flipped_negation(claim, words, best)
                or _missing_entity(words, best, alignments)
                or near
            )
            if problem is not None:
                return Verdict(0.0, False, problem, "contradicted")
            if far is not None:
                return Verdict(0.0, False, far, "not_enough_info")
        unmatched_names = [w.text for i, w in enumerate(words) if _is_name(w) and not best.hits[i]]
        if score >= self.threshold and not unmatched_names:
            return Verdict(score, True, "", "supported")
        missing = sorted({w.text for i, w in enumerate(words) if not best.hits[i]})
        reason = (
            f"not in the best evidence sentence: {', '.join(sorted(set(unmatched_names))[:5])}"
            if score >= self.threshold
            else f"support {score:.2f} < {self.threshold:.2f} in the best sentence (missing: {', '.join(missing[:5])})"
        )
        return Verdict(score, False, reason, "not_enough_info")

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        return [self.judge(claim, evidence) for claim, evidence in pairs]


__all__ = ["AlignedJudge"]
