"""Numbers the store's JSON holds exactly, and finding the ones it does not.

The store is written and read by orjson: integers of 64 bits and doubles. A JSON number outside them
(``1e400``, ``2**70``, 22 significant digits) would be written back as another number, so dump, the
importers, fmt and verify refuse it with an error that names it. The rule lives here once in Python
(and once in SQL in :mod:`goldkeeper.db.documents`, held to the same verdict by a test). Stdlib only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

#: the integers orjson (the store's JSON) reads and writes as they are: 64 bits, signed or unsigned
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1


def exact_json_number(text: str) -> int | float | None:
    """The value the store's JSON holds for the JSON number ``text`` when it holds that number exactly, else None.

    Exact: an integer of 64 bits, or a decimal equal to the shortest text of its nearest double (``1.50``,
    ``0.1``, ``1e-05``; jsonb's ``1000...0`` for ``1e300``). Anything else (``1e400``, ``2**70``, 22 significant
    digits) orjson would write back as another number: a dump or an import must refuse it, not change it."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if text.lstrip("-").isdigit() and JSON_INT_MIN <= value <= JSON_INT_MAX:
        return int(text)
    nearest = float(text)
    if nearest in (float("inf"), float("-inf")) or Decimal(repr(nearest)) != value:
        return None
    return nearest


def inexact_number_problem(text: str) -> str:
    """The one-line problem of a number :func:`exact_json_number` refuses (a long one abbreviated)."""
    shown = text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"
    return (
        f"the number {shown} is neither a 64-bit integer nor a double: the store's JSON would change it; "
        "write it as a string (or round it)"
    )


class InexactNumber(ValueError):
    """A JSON number :func:`exact_json_number` refuses; ``text`` is the number as written."""

    def __init__(self, text: str) -> None:
        super().__init__(inexact_number_problem(text))
        self.text = text


def exact_json_int(text: str) -> int | float:
    """``parse_int`` for :func:`json.loads`: the number orjson would give, or InexactNumber."""
    value = exact_json_number(text)
    if value is None:
        raise InexactNumber(text)
    return value


def exact_json_float(text: str) -> float:
    """``parse_float`` for :func:`json.loads`: the double orjson would give, or InexactNumber."""
    value = exact_json_number(text)
    if value is None:
        raise InexactNumber(text)
    return float(value)


#: a JSON string (skipped: a number inside one is text) or a JSON number
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')
#: what every number :func:`exact_json_number` refuses holds: 16 digits (a point between them or not; up to 15
#: significant digits always read back from a double) or an exponent of 3 digits (past a double's range)
_SUSPECT = re.compile(rb"[0-9][0-9.]{15}|[eE][-+]?[0-9]{3}")


def inexact_numbers(data: bytes) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of each number of the JSON ``data`` that the store's JSON cannot hold exactly, in order
    (orjson would parse it as another number, or refuse 1e400 as not JSON). One regex search when none can be."""
    if _SUSPECT.search(data) is None:
        return
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token[:1] != b'"' and exact_json_number(token.decode("ascii")) is None:  # a number: ASCII only
            yield data.count(b"\n", 0, match.start()) + 1, token.decode("ascii")


def _or_marker(text: str) -> Any:
    value = exact_json_number(text)
    return value if value is not None else InexactNumber(text)


def load_marking_inexact(data: bytes | str) -> Any:
    """``data`` parsed with each number the store's JSON cannot hold exactly left as an :class:`InexactNumber`
    (which no model accepts); ValueError when it is not JSON."""
    return json.loads(data, parse_int=_or_marker, parse_float=_or_marker)


def inexact_paths(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted field path, number as written)`` of each InexactNumber in a :func:`load_marking_inexact` value."""
    if isinstance(value, InexactNumber):
        yield path, value.text
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from inexact_paths(item, f"{path}.{key}" if path else str(key))


def inexact_number_field(data: bytes) -> tuple[str | None, str | None]:
    """``(record id, dotted field path)`` of the first number :func:`inexact_numbers` finds in ``data`` (one JSON
    value; the id is the top-level object's), for an error that names them; Nones when it cannot tell."""
    try:
        value = load_marking_inexact(data)
    except ValueError:
        return None, None
    record_id = value.get("id") if isinstance(value, dict) else None
    field = next(inexact_paths(value), (None, None))[0]
    return (str(record_id) if record_id is not None else None), field


__all__ = [
    "JSON_INT_MAX",
    "JSON_INT_MIN",
    "InexactNumber",
    "exact_json_float",
    "exact_json_int",
    "exact_json_number",
    "inexact_number_field",
    "inexact_paths",
    "load_marking_inexact",
    "inexact_number_problem",
    "inexact_numbers",
]
