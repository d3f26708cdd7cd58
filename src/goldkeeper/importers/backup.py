"""The SkillForge backup file <-> golden analyses (``import backup`` / ``export backup``).

The format (one JSON object)::

    {"version": "1.0", "created_at": "2026-03-02T08:00:00Z",
     "metadata": {"analyses_count": 4, "chunks_count": 11, "findings_count": 6, "artifacts_count": 1},
     "analyses": [{"id", "url", "title", "content_type", "status", "created_at",
                   "findings": [{"agent", "category", "content", "confidence"}],
                   "chunks": [{"id", "content", "section_title", "section_path": "Guide/Install",
                               "content_type", "chunk_index"}],
                   "artifact": {"id", "summary", "key_findings", "metadata"} | null}]}

Import rules (everything else is goldkeeper's Analysis as is):

- ``version``: a major version of 1 (``1``, ``"1"``, ``"1.0"``, ``"1.2"``); anything else is refused.
- ``created_at`` (when the backup was made) is checked to be a string and not kept.
- ``metadata``: only the four counts above, each optional; every one present must equal what the
  file holds, else an error naming ``metadata.<key>``.
- ``title`` absent, null or blank: derived from the URL: the last non-empty path segment,
  percent-decoded, without a ``.html``/``.htm``/``.md``/``.php``/``.aspx`` extension, ``_`` and
  ``-`` shown as spaces; a URL without a path gives its host name.
- ``created_at`` without a UTC offset (``2026-02-11T09:14:03``, as Python's ``isoformat`` writes a
  naive timestamp) is read as UTC.
- ``section_path``: a string is split on ``/``, each segment stripped, empty segments dropped
  (``"Guide / Install/"`` -> ``["Guide", "Install"]``); null is ``[]``; a list is taken as is.
- ``embedding`` of a chunk (a backup of a pgvector database may carry it) is dropped: restore
  regenerates embeddings with the configured model.
- Any other field, a wrong type or a value goldkeeper's contract refuses is an error naming the
  record (``analyses[i]`` and its id) and the field.

Export writes the same shape from a golden store, with these normalisations (a file already in
this form round-trips to equal JSON): ``version`` ``"1.0"``; ``created_at`` the newest analysis's
``created_at`` (deterministic: same store, same bytes); all four counts; analyses in id order,
chunks in ``chunk_index`` order; ``section_path`` joined with ``/`` (a segment containing ``/``
cannot be written and is an error); datetimes in UTC with ``Z``; every field written (a derived
title included).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from goldkeeper.errors import RecordValidationError
from goldkeeper.importers.common import (
    ImportedRecords,
    export_bytes,
    read_json_file,
    refuse_unknown,
    require,
    validation_error,
)
from goldkeeper.models import Analysis, Query

BACKUP_VERSION = "1.0"
TOP_LEVEL = ("version", "created_at", "metadata", "analyses")
#: metadata key -> what it counts
COUNTS = {
    "analyses_count": "analyses",
    "chunks_count": "chunks",
    "findings_count": "findings",
    "artifacts_count": "artifacts",
}
_EXTENSION = re.compile(r"\.(html?|md|php|aspx)$", re.IGNORECASE)
_EPOCH = "1970-01-01T00:00:00Z"


def title_from_url(url: str) -> str:
    """The derived title of the module doc (last path segment, else the host)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments:
        name = _EXTENSION.sub("", unquote(segments[-1]))
        name = re.sub(r"[_-]+", " ", name).strip()
        if name:
            return name
    return parts.hostname or url


def split_section_path(value: Any) -> Any:
    """A SkillForge path string -> goldkeeper's list (other values are left for validation to judge)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [segment.strip() for segment in value.split("/") if segment.strip()]
    return value


def utc_if_naive(value: Any) -> Any:
    """An ISO 8601 timestamp without an offset is read as UTC (other values are left for validation)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
    return value


def _check_version(value: Any, file: str) -> None:
    major = str(value).split(".", 1)[0] if isinstance(value, int | str) and not isinstance(value, bool) else None
    if major != "1":
        raise RecordValidationError(file, None, "version", f"backup version {value!r} is not supported (major 1)")


def _chunks(raw: Any) -> Any:
    if not isinstance(raw, list):
        return raw
    chunks = []
    for chunk in raw:
        if isinstance(chunk, dict):
            chunk = {k: v for k, v in chunk.items() if k != "embedding"}
            if "section_path" in chunk:
                chunk["section_path"] = split_section_path(chunk["section_path"])
        chunks.append(chunk)
    return chunks


def parse_analysis(raw: Any, index: int, file: str) -> Analysis:
    """One backup analysis -> an Analysis (the rules of the module doc)."""
    record = f"analyses[{index}]"
    fields = dict(require(raw, dict, file, record, ""))
    if isinstance(fields.get("id"), str):
        record += f" {fields['id']}"
    if "chunks" in fields:
        fields["chunks"] = _chunks(fields["chunks"])
    if "created_at" in fields:
        fields["created_at"] = utc_if_naive(fields["created_at"])
    title = fields.get("title")
    if title is None or (isinstance(title, str) and not title.strip()):
        url = fields.get("url")
        fields["title"] = title_from_url(url) if isinstance(url, str) and url else ""
    try:
        return Analysis.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(file, record, exc) from exc


def _counted(analyses: list[Analysis]) -> dict[str, int]:
    return {
        "analyses": len(analyses),
        "chunks": sum(len(a.chunks) for a in analyses),
        "findings": sum(len(a.findings) for a in analyses),
        "artifacts": sum(1 for a in analyses if a.artifact is not None),
    }


def _check_counts(metadata: dict[str, Any], analyses: list[Analysis], file: str) -> None:
    counted = _counted(analyses)
    for key, value in metadata.items():
        require(value, int, file, None, f"metadata.{key}")
        if value != counted[COUNTS[key]]:
            raise RecordValidationError(
                file, None, f"metadata.{key}", f"is {value} but the file holds {counted[COUNTS[key]]} {COUNTS[key]}"
            )


def parse_backup(data: Any, *, file: str = "<backup>") -> list[Analysis]:
    """A decoded SkillForge backup -> its analyses, in the file's order."""
    document = require(data, dict, file, None, "(top level)")
    refuse_unknown(document, TOP_LEVEL, file, None)
    for key in ("version", "analyses"):
        if key not in document:
            raise RecordValidationError(file, None, key, "missing")
    _check_version(document["version"], file)
    if "created_at" in document:
        require(document["created_at"], str, file, None, "created_at")
    metadata = require(document.get("metadata", {}), dict, file, None, "metadata")
    refuse_unknown(metadata, COUNTS, file, None, "metadata.")
    raw = require(document["analyses"], list, file, None, "analyses")
    analyses = [parse_analysis(item, index, file) for index, item in enumerate(raw)]
    _check_counts(metadata, analyses, file)
    return analyses


def load_backup(path: Path, kind: str | None = None) -> ImportedRecords:
    """Read a backup file; its analyses are what ``replace`` replaces (queries are left alone)."""
    del kind  # one kind of record only
    analyses = parse_backup(read_json_file(path, "backup"), file=str(path))
    return ImportedRecords(analyses=analyses, queries=[], kinds=frozenset({"analyses"}), totals=(len(analyses), 0))


def _export_analysis(analysis: Analysis, file: str) -> dict[str, Any]:
    data = analysis.canonical().model_dump(mode="json")
    for index, chunk in enumerate(data["chunks"]):
        for segment in chunk["section_path"]:
            if "/" in segment:
                raise RecordValidationError(
                    file, str(analysis.id), f"chunks.{index}.section_path", f"segment {segment!r} contains '/'"
                )
        chunk["section_path"] = "/".join(chunk["section_path"])
    return data


def to_backup(analyses: Iterable[Analysis], *, file: str = "<store>") -> dict[str, Any]:
    """Analyses -> the backup document (normalisations in the module doc)."""
    items = sorted(analyses, key=lambda a: str(a.id))
    newest = max(items, key=lambda a: a.created_at, default=None)
    counted = _counted(items)
    return {
        "version": BACKUP_VERSION,
        "created_at": newest.model_dump(mode="json")["created_at"] if newest is not None else _EPOCH,
        "metadata": {key: counted[entity] for key, entity in COUNTS.items()},
        "analyses": [_export_analysis(a, file) for a in items],
    }


def export_backup(
    analyses: Iterable[Analysis], queries: Iterable[Query], kind: str | None = None
) -> tuple[bytes, dict[str, int]]:
    """The backup file's bytes for a store's analyses (queries are not part of the format) and its counts."""
    del queries, kind
    document = to_backup(analyses)
    return export_bytes(document), {COUNTS[k]: v for k, v in document["metadata"].items()}


__all__ = [
    "BACKUP_VERSION",
    "title_from_url",
    "split_section_path",
    "utc_if_naive",
    "parse_analysis",
    "parse_backup",
    "load_backup",
    "to_backup",
    "export_backup",
]
