"""Golden records as JSON lines <-> the database (``import jsonl`` / ``export jsonl``).

One record per line, in goldkeeper's own record format (``goldkeeper schema analysis`` /
``goldkeeper schema query``): analyses with their nested chunks, findings and artifact, or
queries. Blank lines and a leading UTF-8 byte order mark are skipped. The kind is ``--kind`` or, when not given, detected from the
first record: one with ``url`` is an analysis, one with ``text`` or ``expected_behavior`` a query;
every line must then be of that kind; an empty file is an error. The file is opened once and
streamed: read and staged line by line (memory holds one record, never the file; a pipe works),
so an error on line 90,000 names it after 89,999 were staged, and the transaction rolls back. Errors name the line, the record id and the field:
``FILE line 3: record q7: field expected_behavior.behavior: ...``.

Export writes one canonical record per line (keys sorted, no indentation), in id order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from goldkeeper.errors import DataIntegrityError, RecordValidationError, UsageError
from goldkeeper.importers.common import (
    ImportedRecords,
    refuse_inexact_numbers,
    utf8_text,
    validation_error,
)
from goldkeeper.models import ENTITIES, Analysis, Query

MODEL_OF: dict[str, type[Analysis] | type[Query]] = {"analyses": Analysis, "queries": Query}


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON) of every non-blank line, read lazily."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataIntegrityError(f"{path}: cannot read the JSON lines file: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if number == 1:
                line = utf8_text(line, str(path))
            if not line.strip():
                continue
            refuse_inexact_numbers(line, str(path), number)
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataIntegrityError(f"{path} line {number}: not valid JSON: {exc}") from exc


def detect_kind(record: Any, where: str) -> str:
    """``analyses`` or ``queries`` by the record's fields (see the module doc)."""
    if isinstance(record, dict):
        if "url" in record:
            return "analyses"
        if "text" in record or "expected_behavior" in record:
            return "queries"
    raise DataIntegrityError(
        f"{where}: cannot tell whether the records are analyses (with url) or queries (with text); "
        "give --kind analyses|queries"
    )


def _records(path: Path, kind: str, lines: Iterator[tuple[int, Any]]) -> Iterator[Any]:
    model = MODEL_OF[kind]
    for number, raw in lines:
        where = f"{path} line {number}"
        if not isinstance(raw, dict):
            raise RecordValidationError(where, None, None, f"must be a JSON object (one {model.__name__} record)")
        record_id = raw.get("id")
        try:
            yield model.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(where, str(record_id) if record_id is not None else None, exc) from exc


def load_jsonl(path: Path, kind: str | None = None) -> ImportedRecords:
    """The records of a JSON lines file, streamed (the kind given, else detected from the first record).

    The file is opened once and read as the records are consumed (a pipe works too); only the
    first record is read here, to know the kind.
    """
    if kind is not None and kind not in ENTITIES:
        raise UsageError(f"unknown kind {kind!r}: use analyses or queries")
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise DataIntegrityError(f"{path}: no records (the file is empty)")
    kind = kind or detect_kind(first[1], f"{path} line {first[0]}")
    records = _records(path, kind, itertools.chain([first], lines))
    empty: list[Any] = []
    if kind == "analyses":
        return ImportedRecords(analyses=records, queries=empty, kinds=frozenset({kind}))
    return ImportedRecords(analyses=empty, queries=records, kinds=frozenset({kind}))


def export_jsonl(
    analyses: Iterable[Analysis], queries: Iterable[Query], kind: str | None = None
) -> tuple[bytes, dict[str, int]]:
    """One canonical record per line (``kind`` is required: a file holds one kind) and its count."""
    if kind not in ENTITIES:
        raise UsageError("export jsonl needs --kind analyses|queries (a JSON lines file holds one kind)")
    records: Iterable[Analysis | Query] = analyses if kind == "analyses" else queries
    ordered = sorted(records, key=lambda r: str(r.id))
    lines = [orjson.dumps(r.canonical().model_dump(mode="json"), option=orjson.OPT_SORT_KEYS) for r in ordered]
    return b"".join(line + b"\n" for line in lines), {kind: len(lines)}


__all__ = ["detect_kind", "load_jsonl", "export_jsonl"]
