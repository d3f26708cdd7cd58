"""The one function that turns data into JSON bytes, and its inverse.

Canonical means: the same data gives the same bytes, always. Keys sorted,
two-space indentation (orjson's only indentation), UTF-8, a trailing newline,
datetimes as RFC 3339 in UTC with ``Z``. Nothing time- or machine-dependent
goes in. Every file goldkeeper writes into a store goes through
:func:`canonical_bytes`; the streaming shard writer produces the very same
bytes element by element (a test holds it to that).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def to_plain(value: Any) -> Any:
    """Pydantic models become JSON-ready dicts; everything else passes through."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON bytes of ``value`` (a model, a list of models, or plain JSON data)."""
    return orjson.dumps(to_plain(value), option=_OPTIONS) + b"\n"


def array_element_bytes(value: Any) -> bytes:
    """The bytes of one element inside a canonical top-level array, without separator.

    orjson indents an array element by two spaces per line, so an element is
    its own canonical form with every line prefixed by two spaces: exactly what
    orjson writes for it inside a one-element array, between the ``[`` line and
    the ``]`` line (one pass over the bytes; a replace of every newline would be
    a second).
    """
    return orjson.dumps([to_plain(value)], option=_OPTIONS)[2:-2]


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
