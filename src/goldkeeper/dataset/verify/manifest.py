"""The manifest contracts: manifest.json itself, its list of shards, and its counts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from goldkeeper.config import Settings
from goldkeeper.dataset.verify.loadable import duplicate_keys, symlinked
from goldkeeper.dataset.verify.report import IssueList, field_of
from goldkeeper.models import FORMAT_VERSION, SCHEMA_VERSION, Manifest, ShardEntry, count_records
from goldkeeper.store.canonical import canonical_bytes
from goldkeeper.store.reader import MODEL_OF, json_problem, nesting_problem
from goldkeeper.store.source import StoreSource
from goldkeeper.store.writer import MANIFEST

_SHARD_PATH = re.compile(r"^(analyses|queries)/[0-9]+\.json$")


def check_manifest(source: StoreSource, issues: IssueList) -> tuple[bytes | None, Manifest | None]:
    """manifest.json exists, parses, is of a known format/schema version and validates."""
    name = source.describe(MANIFEST)
    data = _read_manifest(source, name, issues)
    if data is None:
        return None, None
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        issues.error("manifest.invalid_json", json_problem(data, exc, manifest=True), name)
        return data, None
    if not isinstance(raw, dict):
        issues.error("manifest.schema", "the manifest must be a JSON object", name)
        return data, None
    too_deep = nesting_problem(raw)
    if too_deep is not None:
        issues.error("manifest.schema", too_deep[2], name, field=too_deep[1])
        return data, None
    for key in duplicate_keys(data, raw):
        issues.error(
            "manifest.duplicate_key", f"key {key!r} appears twice in one object (a parser keeps only one)", name
        )
    if not _check_manifest_versions(raw, name, issues):
        return data, None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            issues.error("manifest.schema", err["msg"], name, field=field_of(err["loc"]) or None)
        return data, None
    return data, manifest


def _read_manifest(source: StoreSource, name: str, issues: IssueList) -> bytes | None:
    """manifest.json's bytes: a regular file (not a link, not a directory) that can be read."""
    if symlinked(source, MANIFEST):
        issues.error("manifest.symlink", "manifest.json is a symbolic link: a store's files live in the store", name)
        return None
    try:
        return source.read_bytes(MANIFEST)
    except (FileNotFoundError, NotADirectoryError):
        issues.error("manifest.missing", "no manifest.json: not a golden store (run `goldkeeper dump` first)", name)
    except IsADirectoryError:
        issues.error("manifest.missing", "manifest.json is a directory, not a file: not a golden store", name)
    except OSError as exc:
        issues.error("manifest.unreadable", f"cannot read manifest.json: {exc.strerror or exc}", name)
    return None


def _check_manifest_versions(raw: dict[str, Any], name: str, issues: IssueList) -> bool:
    """format_version / schema_version no newer than this goldkeeper understands."""
    ok = True
    for key, known, code in (
        ("format_version", FORMAT_VERSION, "manifest.format_version"),
        ("schema_version", SCHEMA_VERSION, "manifest.schema_version"),
    ):
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > known:
            issues.error(
                code,
                f"{key} {value} is newer than this goldkeeper understands ({known}); upgrade goldkeeper",
                name,
                field=key,
            )
            ok = False
        elif isinstance(value, int) and not isinstance(value, bool) and value < 1:
            issues.error(code, f"{key} {value} is not a version (versions start at 1)", name, field=key)
            ok = False
    return ok


def check_manifest_canonical(data: bytes, manifest: Manifest, name: str, issues: IssueList) -> None:
    """manifest.json is in canonical form (its sha256 is the dataset version)."""
    if canonical_bytes(manifest) != data:
        issues.warning(
            "manifest.not_canonical",
            "manifest.json is not in canonical form (hand-edited?); `goldkeeper fmt` (or the next dump) rewrites it and "
            "changes the dataset version",
            name,
        )


def check_shard_counts(manifest: Manifest, settings: Settings, name: str, issues: IssueList) -> None:
    """The manifest's shard counts match params.yaml (else the next dump reshards every record)."""
    for entity, count in sorted(settings.store.shards.items()):
        if manifest.shard_counts.get(entity) != count:
            issues.warning(
                "manifest.shard_counts",
                f"shard count for {entity} is {manifest.shard_counts.get(entity)} in the manifest but {count} in params.yaml "
                "store.shards; the next dump moves records between shards",
                name,
                field=f"shard_counts.{entity}",
            )


def check_shard_paths(manifest: Manifest, name: str, issues: IssueList) -> list[ShardEntry]:
    """Every listed shard has a well-formed path under its entity directory, listed once."""
    good: list[ShardEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(manifest.shards):
        where = f"shards.{index}.path"
        if not _SHARD_PATH.match(entry.path) or not entry.path.startswith(f"{entry.entity}/"):
            issues.error(
                "manifest.shard_path", f"shard path {entry.path!r} is not <{entry.entity}>/<n>.json", name, field=where
            )
        elif entry.path in seen:
            issues.error("manifest.shard_path", f"shard {entry.path} is listed twice", name, field=where)
        elif entry.entity not in manifest.shard_counts:
            issues.error(
                "manifest.shard_path",
                f"no shard count for {entry.entity} in shard_counts",
                name,
                field=f"shard_counts.{entry.entity}",
            )
        elif manifest.shard_counts[entry.entity] < 1:
            pass  # reported once by check_shard_count_values
        else:
            good.append(entry)
        seen.add(entry.path)
    return good


def check_shard_count_values(manifest: Manifest, name: str, issues: IssueList) -> None:
    """Every shard count is at least 1 (records are placed by their id's hash modulo the count)."""
    for entity, count in sorted(manifest.shard_counts.items()):
        if entity not in MODEL_OF:
            issues.error("manifest.schema", f"unknown entity {entity!r} in shard_counts", name, field="shard_counts")
        elif count < 1:
            issues.error(
                "manifest.schema",
                f"shard count {count} for {entity}: must be at least 1",
                name,
                field=f"shard_counts.{entity}",
            )


def check_unlisted_shards(source: StoreSource, manifest: Manifest, issues: IssueList) -> None:
    """No shard file on disk that the manifest does not list (it would be silently ignored)."""
    listed = {entry.path for entry in manifest.shards}
    for entity in MODEL_OF:
        for path in source.list_files(entity):
            if path.endswith(".json") and path not in listed:
                issues.error(
                    "shard.unlisted",
                    "shard file not listed in manifest.json: its records would be ignored by restore",
                    source.describe(path),
                )


def check_counts(manifest: Manifest, raw_counts: Mapping[str, int], name: str, issues: IssueList) -> None:
    """manifest counts equal the records actually present in the shards (``raw_counts``, counted as read)."""
    actual = dict(count_records([], []))
    actual.update({k: raw_counts.get(k, 0) for k in actual})
    for key in sorted(set(actual) | set(manifest.counts)):
        if key not in actual:
            issues.error("manifest.counts", f"unknown count {key!r}", name, field=f"counts.{key}")
        elif manifest.counts.get(key) != actual[key]:
            issues.error(
                "manifest.counts",
                f"manifest says {manifest.counts.get(key)} {key}, the shards hold {actual[key]}",
                name,
                field=f"counts.{key}",
            )


__all__ = [
    "check_manifest",
    "check_manifest_canonical",
    "check_shard_counts",
    "check_shard_paths",
    "check_shard_count_values",
    "check_unlisted_shards",
    "check_counts",
]
