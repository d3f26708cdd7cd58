"""Chinese and Japanese text in EM / F1: each ideograph or kana is one token, CJK punctuation is dropped.

These scripts write words without spaces, so SQuAD's whitespace tokenisation made a whole clause one
token: "東京です" shared nothing with the reference "東京" (F1 0) and "東京。" did not equal it. Each
character is a token instead, as multilingual benchmarks score Chinese (MLQA's mixed segmentation), and
the CJK punctuation (、。「」！？, the fullwidth forms of ASCII's) is dropped as SQuAD drops ASCII's.
Text without these characters normalises exactly as SQuAD's official script does. Korean writes spaces
between words, so Hangul is left to the whitespace. Written by hand: a few code point ranges, which are
part of the scores' definition (a library's segmentation could change a baseline's numbers).
"""

from __future__ import annotations

import re
import string
import unicodedata

#: Hiragana, Katakana (without its middle dot, punctuation) and their extensions, CJK ideographs (with
#: extension A, the compatibility block and the supplementary planes' extensions), halfwidth Katakana
CJK_RANGES = (
    "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0002fa1f"
)
_CJK = re.compile(f"[{CJK_RANGES}]")

#: the punctuation of CJK text: the CJK Symbols and Punctuation block's, Katakana's middle dot, the fullwidth
#: forms of ASCII's punctuation and the halfwidth CJK marks
CJK_PUNCTUATION = frozenset(
    ch
    for ch in map(chr, [*range(0x3000, 0x3040), 0x30FB, *range(0xFF01, 0xFF66)])
    if unicodedata.category(ch).startswith("P") or unicodedata.normalize("NFKC", ch) in string.punctuation
)


def spaced_cjk(text: str) -> str:
    """``text`` with a space on each side of every CJK character (each is then a whitespace token)."""
    return _CJK.sub(r" \g<0> ", text)


__all__ = ["CJK_PUNCTUATION", "CJK_RANGES", "spaced_cjk"]
