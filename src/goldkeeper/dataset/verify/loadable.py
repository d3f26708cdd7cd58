"""The load contracts: what a record needs so that PostgreSQL can store it, checked without a database.

``restore`` refuses a store that ``verify`` rejects, so every limit the golden tables impose is a
verify error here, before any database is touched:

- ``record.nul_character``: PostgreSQL ``text`` and ``jsonb`` cannot hold U+0000, in any string
  (values and object keys).
- ``record.int_range``: ``chunk_index`` and ``relevance`` are ``int4`` columns (at most 2**31 - 1).
  Any other number must be one the store's JSON (orjson) holds exactly, a 64-bit integer or a double's
  shortest text (:func:`inexact_numbers_of`): orjson reads 2**64 or 0.1000000000000000000001 as another
  number (so fmt, dump and restore would carry it changed) and refuses 1e400. One code for all of them.
- ``query.duplicate_expected``: an expected chunk or analysis listed twice in one query (the
  expected-result table's primary key).
- ``chunk.too_long``: a chunk's ``tsv`` column is ``to_tsvector('english', content)``, and PostgreSQL
  refuses a tsvector whose lexemes and positions take more than 1,048,575 bytes (MAXSTRPOS:
  "string is too long for tsvector"). Per lexeme a tsvector stores the lexeme, at most one byte of
  alignment, a 2-byte position count and 2 bytes per position. Measured on PostgreSQL 16 with
  adversarial text (unique words, hyphenated compounds, URLs, e-mails, numbers, paths), a UTF-8 byte
  of content costs at most 2.8 bytes of tsvector (URL-like text, where host and path are indexed
  beside the whole URL; plain prose costs 1.6-1.8). The bound allows 5 bytes per content byte:
  :data:`MAX_CHUNK_CONTENT_BYTES` = 1,048,575 // 5 = 209,715 bytes of UTF-8 content. It is
  conservative: it refuses some chunks PostgreSQL would take, never accepts one it would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.dataset.verify.report import IssueList
from goldkeeper.json_numbers import inexact_numbers, inexact_paths, load_marking_inexact
from goldkeeper.models import Analysis, Query
from goldkeeper.store.canonical import canonical_bytes
from goldkeeper.store.source import DirectorySource, StoreSource

#: PostgreSQL's limit on a tsvector's lexemes and positions (MAXSTRPOS, src/include/tsearch/ts_type.h)
TSVECTOR_MAX_BYTES = (1 << 20) - 1
#: the bound on tsvector bytes per UTF-8 byte of content (measured worst case 2.8; see the module doc)
TSVECTOR_BYTES_PER_CONTENT_BYTE = 5
#: the longest chunk content (UTF-8 bytes) whose tsvector always fits
MAX_CHUNK_CONTENT_BYTES = TSVECTOR_MAX_BYTES // TSVECTOR_BYTES_PER_CONTENT_BYTE
#: the largest value of an ``int4`` column
INT4_MAX = (1 << 31) - 1

#: (code, field, message) of one load-contract violation
Problem = tuple[str, str, str]


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    """Dotted paths of the strings (or object keys) in ``value`` that contain U+0000."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield where
            yield from _nul_paths(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}.{index}" if path else str(index))


def _nul_problems(record: Analysis | Query) -> Iterator[Problem]:
    data = record.model_dump(mode="json")
    if b"\\u0000" not in orjson.dumps(data):  # orjson writes U+0000 as \u0000: walk only when present
        return
    for path in _nul_paths(data, ""):
        yield (
            "record.nul_character",
            path.replace("\x00", "\\u0000"),
            "contains a NUL character (\\u0000), which PostgreSQL cannot store",
        )


def _analysis_problems(analysis: Analysis) -> Iterator[Problem]:
    for index, chunk in enumerate(analysis.chunks):
        size = len(chunk.content.encode("utf-8", "surrogatepass"))
        if size > MAX_CHUNK_CONTENT_BYTES:
            yield (
                "chunk.too_long",
                f"chunks.{index}.content",
                f"chunk {chunk.id} has {size} bytes of content; at most {MAX_CHUNK_CONTENT_BYTES} fit PostgreSQL's "
                "full-text index (tsvector limit 1 MB): split it",
            )
        if chunk.chunk_index > INT4_MAX:
            yield ("record.int_range", f"chunks.{index}.chunk_index", f"{chunk.chunk_index} is over {INT4_MAX}")


def _query_problems(query: Query) -> Iterator[Problem]:
    for kind in ("chunks", "analyses"):
        seen: set[str] = set()
        for index, relevance in enumerate(getattr(query.expected, kind)):
            if str(relevance.id) in seen:
                yield ("query.duplicate_expected", f"expected.{kind}.{index}.id", f"{relevance.id} is listed twice")
            seen.add(str(relevance.id))
            if relevance.relevance > INT4_MAX:
                yield (
                    "record.int_range",
                    f"expected.{kind}.{index}.relevance",
                    f"{relevance.relevance} is over {INT4_MAX}",
                )


def duplicate_keys(data: bytes, parsed: Any) -> list[str]:
    """The object keys that occur twice in one JSON object of ``data`` (``parsed`` is its parse).

    A JSON parser keeps the last value of a duplicated key, so the file means something else than
    it shows. Canonical bytes cannot hold a duplicate: only other files are parsed again.
    """
    if canonical_bytes(parsed) == data:
        return []
    found: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and key not in found:
                found.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(data, object_pairs_hook=pairs_hook)
    except ValueError:  # orjson parsed it; the standard parser never refuses more than it
        return found
    return found


def inexact_numbers_of(data: bytes) -> list[tuple[str, str, str]]:
    """``(record id, field, literal)`` of each number in a shard that the store's JSON cannot hold exactly.

    orjson gives no sign of such a literal: it reads 2**64 or 0.1000000000000000000001 as another number
    (which fmt would then write and restore would store) and refuses 1e400 as invalid JSON. The shard is
    parsed again by the standard parser, keeping such numbers as written, only when its bytes can hold one
    (:func:`~goldkeeper.json_numbers.inexact_numbers`: a run of 16 digits or a 3-digit exponent).
    """
    if next(inexact_numbers(data), None) is None:
        return []
    try:
        exact = load_marking_inexact(data)
    except ValueError:  # not JSON for the standard parser either: shard.invalid_json says so
        return []
    if not isinstance(exact, list):
        return []
    return [
        (_record_name(record, index), field, text)
        for index, record in enumerate(exact)
        for field, text in inexact_paths(record)
    ]


def _record_name(record: Any, index: int) -> str:
    """The record's id, else its position (``#3``), as verify names a record."""
    record_id = record.get("id") if isinstance(record, dict) else None
    return str(record_id) if isinstance(record_id, str) else f"#{index}"


def symlinked(source: StoreSource, relpath: str) -> bool:
    """Whether a store file (or a directory between the store's root and it) is a symbolic link.

    A link would make the store's content live elsewhere (another store, any file of the machine):
    verify rejects it and restore never follows it. The root itself may be a link.
    """
    if not isinstance(source, DirectorySource):
        return False
    path = Path(source.root)
    for part in Path(relpath).parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


def load_problems(record: Analysis | Query, *, nul_possible: bool = True) -> list[Problem]:
    """Every reason PostgreSQL would refuse ``record`` (empty when it can store it).

    ``nul_possible=False`` skips the NUL walk: the caller knows the record's JSON holds no ``\\u0000``
    (a shard whose bytes do not contain it).
    """
    problems = list(_nul_problems(record)) if nul_possible else []
    if isinstance(record, Analysis):
        problems += _analysis_problems(record)
    else:
        problems += _query_problems(record)
    return problems


def check_loadable(record: Analysis | Query, name: str, issues: IssueList, *, nul_possible: bool = True) -> None:
    """Report every load-contract violation of ``record`` (see the module doc)."""
    for code, where, message in load_problems(record, nul_possible=nul_possible):
        issues.error(code, message, name, record.id, where)


__all__ = [
    "TSVECTOR_MAX_BYTES",
    "MAX_CHUNK_CONTENT_BYTES",
    "INT4_MAX",
    "Problem",
    "load_problems",
    "check_loadable",
    "duplicate_keys",
    "inexact_numbers_of",
    "symlinked",
]
