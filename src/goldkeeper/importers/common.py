"""What every file importer shares: reading, the one error style, and the one path into the database.

An importer turns a file into :class:`ImportedRecords` (pure: no database, no
clock); :func:`import_records` loads them exactly as ``goldkeeper restore``
loads a store (one transaction, ``replace`` / ``dry_run``, conflicts listed,
chunks embedded through the cache). ``replace`` replaces only the kinds of
record the file carries: importing prompts leaves the analyses alone.

Errors name the file, the record and the field (:class:`RecordValidationError`:
``FILE: record ID: field PATH: problem``); a file that cannot be read or
decoded is a :class:`DataIntegrityError` naming it. Exporters return the bytes
of their file and the counts written; :func:`write_export` writes them
atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from goldkeeper.dataset.restore import RestoreReport, restore_records
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import DataIntegrityError, DuplicateRecordError, RecordValidationError
from goldkeeper.fileio import UTF8_BOM, atomic_write_bytes
from goldkeeper.json_numbers import inexact_number_field, inexact_number_problem, inexact_numbers
from goldkeeper.models import ENTITIES, Analysis, Query
from goldkeeper.progress import SILENT, Progress

#: how exported files are written: UTF-8, two-space indentation, keys in the format's own order, datetimes with Z
EXPORT_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True)
class ImportedRecords:
    """The records of one file; ``kinds`` are the record kinds the format carries (what ``replace`` replaces)."""

    analyses: Iterable[Analysis]
    queries: Iterable[Query]
    kinds: frozenset[str]
    totals: tuple[int | None, int | None] = (None, None)


@dataclass(frozen=True)
class ExportReport:
    """What ``goldkeeper export`` wrote: the format, the file, the store version read and the counts."""

    format: str
    path: Path
    version: str
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "version": self.version, "counts": dict(self.counts)}

    def summary(self) -> str:
        counted = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        return f"exported {counted} as {self.format} to {self.path} (dataset version {self.version})"


def read_json_file(path: Path, what: str) -> Any:
    """The decoded JSON of ``path``; unreadable or invalid JSON is a one-line DataIntegrityError naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataIntegrityError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    raw = utf8_text(raw, str(path))
    refuse_inexact_numbers(raw, str(path))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataIntegrityError(f"{path}: the {what} is not valid JSON: {exc}") from exc


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def utf8_text(data: bytes, file: str) -> bytes:
    """``data`` without a leading UTF-8 byte order mark (as ``eval grounded`` and ``eval trec`` read files); a
    UTF-16 file (its byte order mark) is a one-line error saying so, where orjson would name a surrogate."""
    if data.startswith(_UTF16_BOMS):
        raise DataIntegrityError(f"{file}: the file is UTF-16 encoded; save it as UTF-8")
    return data.removeprefix(UTF8_BOM)


def refuse_inexact_numbers(data: bytes, file: str, line: int = 1) -> None:
    """A number the store's JSON cannot hold exactly (1e400, 0.1000000000000000000001, 2**70) is an error naming
    the file, its line (``data`` starts on ``line``), the record and the field: orjson would import it as
    another number (or call 1e400 invalid JSON). Checked before orjson parses ``data``."""
    for offset, text in inexact_numbers(data):
        record, field_path = inexact_number_field(data)
        raise RecordValidationError(
            f"{file} line {line + offset - 1}", record, field_path, inexact_number_problem(text)
        )


def location(loc: Iterable[Any]) -> str:
    """pydantic's error location as a dotted field path."""
    return ".".join(str(part) for part in loc)


def validation_error(
    file: str, record: str | None, exc: ValidationError, rename: dict[str, str] | None = None
) -> RecordValidationError:
    """pydantic's first error as goldkeeper reports a bad record; ``rename`` maps model paths to the file's names."""
    first = exc.errors()[0]
    path = location(first["loc"])
    for model_name, file_name in sorted((rename or {}).items(), key=lambda item: -len(item[0])):
        if path == model_name or path.startswith(model_name + "."):
            path = file_name + path[len(model_name) :]
            break
    return RecordValidationError(file, record, path, first["msg"])


def require(value: Any, kind: type | tuple[type, ...], file: str, record: str | None, path: str) -> Any:
    """``value`` when it is of ``kind``; else an error naming the record and field."""
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        names = " or ".join(k.__name__ for k in _kinds(kind))
        raise RecordValidationError(file, record, path, f"must be {names}, got {type(value).__name__}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def refuse_unknown(obj: dict[str, Any], known: Iterable[str], file: str, record: str | None, prefix: str = "") -> None:
    """Every key of ``obj`` is one the format defines; the first other one is an error naming it."""
    allowed = set(known)
    for key in obj:
        if key not in allowed:
            raise RecordValidationError(
                file, record, prefix + str(key), "unknown field (the format defines " + ", ".join(known) + ")"
            )


def import_records(
    url: str,
    records: ImportedRecords,
    embedder: Embedder,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
    source: str | None = None,
    **restore_options: Any,
) -> RestoreReport:
    """Load imported records into the database like ``restore`` (see the module doc); ``restore_options``:
    more of :func:`~goldkeeper.dataset.restore.restore_records`' (``database``: the application's own tables,
    ``lock_timeout``, ``fulltext_config``), so an import writes where a restore would."""
    try:
        return restore_records(
            url,
            records.analyses,
            records.queries,
            embedder,
            replace=replace,
            dry_run=dry_run,
            progress=progress,
            batch_size=batch_size,
            totals=records.totals,
            source=source,
            keep_absent=frozenset(ENTITIES) - records.kinds,
            **restore_options,
        )
    except DuplicateRecordError as exc:  # found in the database's staging tables, which do not know the file
        if source is None:
            raise
        raise DuplicateRecordError(f"{source}: {exc}", **exc.details) from exc


def write_export(path: Path, data: bytes) -> Path:
    """Write an exported file atomically (temporary file, fsync, rename)."""
    return atomic_write_bytes(path, data)


def export_bytes(document: Any) -> bytes:
    """An exported JSON document: two-space indentation, keys in the order given, trailing newline."""
    return orjson.dumps(document, option=EXPORT_OPTIONS) + b"\n"


__all__ = [
    "EXPORT_OPTIONS",
    "ImportedRecords",
    "ExportReport",
    "read_json_file",
    "refuse_inexact_numbers",
    "utf8_text",
    "location",
    "validation_error",
    "require",
    "refuse_unknown",
    "import_records",
    "write_export",
    "export_bytes",
]
