"""Field-level changes between two versions of a record, and word-level diffs of long text."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from goldkeeper.dataset.diff.model import FieldChange

#: Strings longer than this (or with a newline) are shown as a word-level diff, never whole.
LONG_TEXT = 80
#: Length of the old/new previews of long text.
PREVIEW = 60
#: Work allowed to difflib per word diff: positions of matching words it may visit in its longest-match
#: searches (about 0.1 s). difflib is cubic in the worst case (a 4 KB chunk ``a b a b ...`` edited to
#: ``a a b ...`` took a minute); past the budget the changed middle is shown as one replaced run.
WORD_DIFF_BUDGET = 1_000_000
#: the absent side of an added or removed field
notpresent: Any = type("NotPresent", (), {"__repr__": lambda self: "not present"})()

_ACTION_OF = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
}


def preview(text: str, limit: int = PREVIEW) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``…``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def is_long_text(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value)


def _words(run: list[str], limit: int) -> str:
    """A changed run of words, shortened in the middle past ``limit`` words."""
    if len(run) <= limit:
        return " ".join(run)
    keep = limit // 2
    return " ".join(run[:keep]) + f" …({len(run) - 2 * keep} words)… " + " ".join(run[-keep:])


def _unchanged(run: list[str], first: bool, last: bool, context: int) -> str:
    """An unchanged run of words, cut to the ``context`` words next to the changes around it."""
    if first:
        return ("… " if len(run) > context else "") + " ".join(run[-context:] if context else [])
    if last:
        return " ".join(run[:context] if context else []) + (" …" if len(run) > context else "")
    if len(run) > 2 * context:
        head = " ".join(run[:context]) if context else ""
        tail = " ".join(run[-context:]) if context else ""
        return f"{head} … {tail}".strip()
    return " ".join(run)


class _OverBudget(Exception):
    """difflib would do more than :data:`WORD_DIFF_BUDGET` work on this pair of texts."""


class _BudgetedMatcher(difflib.SequenceMatcher[str]):
    """difflib's matcher that stops (:class:`_OverBudget`) before its searches exceed a work budget."""

    def __init__(self, a: list[str], b: list[str], budget: int) -> None:
        self._words = a
        self._in_b = Counter(b)  # how many positions in b each word has: what a search visits for it
        self.budget = budget
        super().__init__(None, a, b, autojunk=False)

    def find_longest_match(self, alo: int = 0, ahi: int | None = None, blo: int = 0, bhi: int | None = None) -> Any:
        ahi = len(self._words) if ahi is None else ahi
        # the search visits every position in b of every word of a[alo:ahi]: charged before it runs
        self.budget -= sum(self._in_b[word] for word in self._words[alo:ahi])
        if self.budget < 0:
            raise _OverBudget
        return super().find_longest_match(alo, ahi, blo, bhi)


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes within the budget, else: common words at both ends, one replaced run between."""
    try:
        return list(_BudgetedMatcher(a, b, WORD_DIFF_BUDGET).get_opcodes())
    except _OverBudget:
        pass
    limit = min(len(a), len(b))
    head = next((i for i in range(limit) if a[i] != b[i]), limit)
    tail = next((i for i in range(limit - head) if a[-1 - i] != b[-1 - i]), limit - head)
    ops = [("equal", 0, head, 0, head), ("replace", head, len(a) - tail, head, len(b) - tail)]
    ops.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return [op for op in ops if op[2] > op[1] or op[4] > op[3]]


def word_diff(old: str, new: str, context: int = 6, max_chars: int = 400, max_run: int = 24) -> str:
    """A compact word-level diff: changed regions with ``context`` words around them.

    ``[-removed words-]{+added words+}``; unchanged stretches longer than the
    context are elided with ``…``; long changed runs are shortened in the
    middle; the whole is capped at ``max_chars``. Never the whole texts.
    """
    a, b = old.split(), new.split()
    if a == b:
        return "(whitespace only)"
    ops = _opcodes(a, b)
    pieces: list[str] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            pieces.append(_unchanged(a[i1:i2], index == 0, index == len(ops) - 1, context))
            continue
        if i2 > i1:
            pieces.append(f"[-{_words(a[i1:i2], max_run)}-]")
        if j2 > j1:
            pieces.append(f"{{+{_words(b[j1:j2], max_run)}+}}")
    text = " ".join(p for p in pieces if p).strip()
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def _compact(value: Any) -> Any:
    """A JSON value with every long string replaced by its preview."""
    if isinstance(value, str):
        return preview(value) if is_long_text(value) else value
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def _scalar_change(path: str, old: Any, new: Any, context: int) -> FieldChange:
    if old is notpresent:
        return FieldChange(path, "added", None, _compact(new))
    if new is notpresent:
        return FieldChange(path, "removed", _compact(old), None)
    if isinstance(old, str) and isinstance(new, str) and (is_long_text(old) or is_long_text(new)):
        return FieldChange(path, "changed", preview(old), preview(new), word_diff(old, new, context))
    return FieldChange(path, "changed", _compact(old), _compact(new))


def _path_string(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _structured_changes(key: str, old: Any, new: Any, context: int) -> list[FieldChange]:
    """The changes inside a list or dict field ``key``, found by deepdiff, sorted by path."""
    from deepdiff import DeepDiff  # noqa: PLC0415 - start-up: imported on first use: it pulls in pandas (about 1 s)
    from deepdiff.helper import notpresent as dd_notpresent  # noqa: PLC0415 - start-up: as above

    def side(value: Any) -> Any:
        return notpresent if value is dd_notpresent else value

    tree = DeepDiff(old, new, view="tree", verbose_level=2)
    found: list[FieldChange] = []
    for report, levels in tree.items():
        action = _ACTION_OF.get(report)
        for level in levels:
            path = _path_string([key, *level.path(output_format="list")])
            old_value, new_value = side(level.t1), side(level.t2)
            if action is None:  # e.g. a set or repetition change: fall back to the whole value
                found.append(FieldChange(path, "changed", _compact(old_value), _compact(new_value)))
            else:
                found.append(_scalar_change(path, old_value, new_value, context))
    return sorted(found, key=lambda c: c.path)


def field_changes(old: dict[str, Any], new: dict[str, Any], context: int = 6) -> tuple[FieldChange, ...]:
    """The field-level changes between two JSON records (deepdiff for nested structure)."""
    changes: list[FieldChange] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, notpresent), new.get(key, notpresent)
        if a == b:
            continue
        structured = isinstance(a, dict | list) and isinstance(b, dict | list) and type(a) is type(b)
        if structured:
            changes.extend(_structured_changes(key, a, b, context))
        else:
            changes.append(_scalar_change(key, a, b, context))
    return tuple(changes)


__all__ = ["LONG_TEXT", "PREVIEW", "notpresent", "preview", "is_long_text", "word_diff", "field_changes"]
