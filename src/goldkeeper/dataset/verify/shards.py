"""The shard contracts: a listed shard exists, matches its checksum and record count, parses, holds
records that validate, each in the shard its id hashes to, in id order, in canonical bytes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from goldkeeper.dataset.verify.loadable import duplicate_keys, inexact_numbers_of, symlinked
from goldkeeper.dataset.verify.report import IssueList, field_of
from goldkeeper.json_numbers import inexact_number_problem
from goldkeeper.models import Analysis, Query, ShardEntry
from goldkeeper.store.canonical import canonical_bytes, sha256_hex
from goldkeeper.store.line_endings import kept_crlf
from goldkeeper.store.reader import MODEL_OF, json_problem, lfs_problem, nesting_problem
from goldkeeper.store.sharding import shard_path
from goldkeeper.store.source import MANIFEST, DirectorySource, StoreSource


def read_shard(source: StoreSource, entry: ShardEntry, issues: IssueList) -> bytes | None:
    """A listed shard exists, is a regular file (not a link, not a directory) and can be read."""
    name = source.describe(entry.path)
    if symlinked(source, entry.path):
        issues.error(
            "shard.symlink", "a symbolic link: a store's files live in the store, restore never follows it", name
        )
        return None
    try:
        return source.read_bytes(entry.path)
    except (FileNotFoundError, NotADirectoryError):
        issues.error("shard.missing", "listed in manifest.json but missing", name)
    except IsADirectoryError:
        issues.error("shard.missing", "listed in manifest.json but a directory, not a file", name)
    except OSError as exc:
        issues.error("shard.unreadable", f"cannot read the shard: {exc.strerror or exc}", name)
    return None


def check_checksum(entry: ShardEntry, data: bytes, name: str, issues: IssueList) -> None:
    """The shard's sha256 equals the manifest's."""
    actual = sha256_hex(data)
    if actual != entry.sha256 and lfs_problem(data) is None:  # a Git LFS pointer: parse_shard says what it is
        issues.error(
            "shard.checksum",
            f"sha256 {actual[:12]}... does not match the manifest ({entry.sha256[:12]}...): edited or corrupted after the dump "
            "(a hand edit: run `goldkeeper fmt`)",
            name,
        )


def parse_shard(data: bytes, name: str, issues: IssueList) -> list[Any] | None:
    """The shard is a JSON array."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not _report_inexact(data, name, issues):  # 1e400: orjson calls the double infinity
            issues.error("shard.invalid_json", json_problem(data, exc), name)
        return None
    if not isinstance(raw, list):
        issues.error("shard.invalid_json", "a shard must be a JSON array of records", name)
        return None
    too_deep = nesting_problem(raw)
    if too_deep is not None:  # nothing can be written (or compared) for this shard: like invalid JSON
        record_id, field, problem = too_deep
        issues.error("record.too_deep", problem, name, record_id, field)
        return None
    for key in duplicate_keys(data, raw):
        issues.error("shard.duplicate_key", f"key {key!r} appears twice in one object (a parser keeps only one)", name)
    _report_inexact(data, name, issues)
    return raw


def _report_inexact(data: bytes, name: str, issues: IssueList) -> bool:
    """A ``record.int_range`` error per number the store's JSON cannot hold exactly; whether there was one."""
    found = inexact_numbers_of(data)
    for record, field, text in found:
        issues.error("record.int_range", inexact_number_problem(text), name, record, field)
    return bool(found)


def check_record_count(entry: ShardEntry, raw: list[Any], name: str, issues: IssueList) -> None:
    """The shard holds as many records as the manifest says."""
    if len(raw) != entry.records:
        issues.error("shard.record_count", f"manifest lists {entry.records} records, the shard holds {len(raw)}", name)


def validate_records(entity: str, raw: list[Any], name: str, issues: IssueList) -> list[Analysis | Query | None]:
    """Every record matches its schema; every failing field is reported with its record id.

    One entry per raw record, None where it failed (so the caller can pair them up again).
    """
    model = MODEL_OF[entity]
    out: list[Analysis | Query | None] = []
    for index, item in enumerate(raw):
        record_id = item.get("id") if isinstance(item, dict) else None
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                issues.error(
                    "record.schema",
                    err["msg"],
                    name,
                    record_id if record_id is not None else f"#{index}",
                    field_of(err["loc"]) or None,
                )
            out.append(None)
    return out


def check_placement(
    entry: ShardEntry, records: Iterable[Analysis | Query], shard_count: int, name: str, issues: IssueList
) -> None:
    """Each record lives in the shard its id hashes to."""
    for record in records:
        expected = shard_path(entry.entity, str(record.id), shard_count)
        if expected != entry.path:
            issues.error(
                "record.wrong_shard",
                f"belongs in {expected} (stable hash of its id), found in {entry.path}",
                name,
                record.id,
                "id",
            )


def check_order(records: Sequence[Analysis | Query], name: str, issues: IssueList) -> None:
    """Records ascend by id inside a shard (equal ids are duplicates, reported elsewhere)."""
    for previous, record in zip(records, records[1:], strict=False):
        if str(record.id) < str(previous.id):
            issues.error(
                "record.order", f"comes after {previous.id}: records must be sorted by id", name, record.id, "id"
            )


def check_shard_canonical(data: bytes, records: Sequence[Analysis | Query], name: str, issues: IssueList) -> None:
    """The shard's bytes are what goldkeeper writes for these records."""
    if canonical_bytes(list(records)) != data:
        issues.warning(
            "shard.not_canonical",
            "not in canonical form (hand-edited?): run `goldkeeper fmt` to normalise it (the next dump rewrites it too)",
            name,
        )


def check_line_endings(source: StoreSource, issues: IssueList) -> None:
    """The files read hold LF line ends, unless git put the CRLF there (see ``store.line_endings``).

    A warning, as non-canonical bytes are: every reader takes CRLF as LF, so no value is misread, but the
    files are not the bytes dumped (what DVC stores, what a checksum or another reader sees)."""
    if not isinstance(source, DirectorySource):
        return  # a git revision's blobs: git holds what it holds, read as a checkout reads it
    for relpath in kept_crlf(source.root, source.crlf):
        issues.warning(
            "manifest.line_endings" if relpath == MANIFEST else "shard.line_endings",
            "CRLF line ends (copied from Windows? unzipped?): read as LF, but not the bytes dumped (what DVC, a "
            "checksum or another tool sees): run `goldkeeper fmt` to write them with LF",
            source.describe(relpath),
        )


__all__ = [
    "check_line_endings",
    "read_shard",
    "check_checksum",
    "parse_shard",
    "check_record_count",
    "validate_records",
    "check_placement",
    "check_order",
    "check_shard_canonical",
]
