"""Read and validate a golden store, shard by shard.

Validation failures name the file, the record id and the field, e.g.
``golden/analyses/03.json: record 6f1c...: field chunks.2.chunk_index: Input
should be a valid integer``. Memory is bounded by one shard.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.models import Analysis, Manifest, Query, ShardEntry
from goldkeeper.store.canonical import sha256_hex
from goldkeeper.store.source import MANIFEST, DirectorySource, StoreSource

RecordT = TypeVar("RecordT", bound=BaseModel)
MODEL_OF: dict[str, type[Analysis] | type[Query]] = {"analyses": Analysis, "queries": Query}


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def validate_record(model: type[RecordT], raw: Any, file: str) -> RecordT:
    """Validate one raw JSON record, translating pydantic's error into ours."""
    record_id = raw.get("id") if isinstance(raw, dict) else None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RecordValidationError(
            file, None if record_id is None else str(record_id), _field_path(first["loc"]) or None, first["msg"]
        ) from exc


def is_safe_shard_path(path: str) -> bool:
    """A store-relative shard path that stays inside the store: ``<entity>/<file>``, no ``..``, not absolute."""
    parts = PurePosixPath(path).parts
    return len(parts) == 2 and parts[0] in MODEL_OF and parts[1] not in (".", "..") and "\\" not in path


#: the deepest nesting of arrays and objects orjson, the canonical writer, writes (its recursion limit):
#: a file nested deeper can be read, but no store holding it could be written (fmt, dump) or diffed
MAX_NESTING = 254


def _too_deep(value: Any) -> tuple[Any, ...] | None:
    """The path to the first array or object nested more than :data:`MAX_NESTING` deep in ``value``."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) >= MAX_NESTING:  # ``item`` is the (len(path) + 1)-th level
            return path
        children = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((child, (*path, key)) for key, child in children if isinstance(child, dict | list))
    return None


def nesting_problem(raw: Any) -> tuple[str | None, str | None, str] | None:
    """``(record id, field, problem)`` when parsed JSON nests deeper than goldkeeper can write, else None.

    For a shard (a JSON array) the record is the array's element the path goes through; the field is
    the start of the path (all of it would be hundreds of names).
    """
    if not isinstance(raw, dict | list):
        return None
    try:
        orjson.dumps(raw)  # orjson refuses only what nests too deep: the walk runs only then
        return None
    except orjson.JSONEncodeError:
        path = _too_deep(raw) or ()
    record_id = None
    if isinstance(raw, list) and path:
        record = raw[path[0]]
        record_id = str(record["id"]) if isinstance(record, dict) and "id" in record else f"#{path[0]}"
        path = path[1:]
    field = ".".join(str(part) for part in path[:6]) + ("..." if len(path) > 6 else "")
    return record_id, field or None, f"nested more than {MAX_NESTING} arrays/objects deep: goldkeeper cannot write it"


#: how a Git LFS pointer file starts (git-lfs spec v1): what git holds for a file tracked by LFS
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def lfs_problem(data: bytes) -> str | None:
    """Why a store file that is a Git LFS pointer cannot be read (None: it is not one).

    A checkout without LFS (CI's actions/checkout without ``lfs: true``), and every git revision, holds
    the pointer, not the JSON: said as such, not as a hand edit to ``fmt`` or an unexpected character.
    """
    if not data.startswith(LFS_POINTER):
        return None
    return (
        "a Git LFS pointer file, not the store's JSON: goldkeeper does not read files through Git LFS "
        "(`git lfs pull` fills a checkout; a store too big for Git: `goldkeeper init --dvc-tracked-store`)"
    )


#: the line git writes where a merge / rebase conflict starts
CONFLICT_MARKER = re.compile(rb"^<<<<<<<(?: |$)", re.MULTILINE)


def conflict_problem(data: bytes, *, manifest: bool = False) -> str | None:
    """What to do with a store file git left with conflict markers (None: it has none).

    Two branches editing one shard conflict in it and in manifest.json; orjson said only "unexpected
    character, expected a string key", nothing about the merge. The manifest is derived: fmt recomputes it.
    """
    found = CONFLICT_MARKER.search(data)
    if found is None:
        return None
    line = data.count(b"\n", 0, found.start()) + 1
    where = f"git merge conflict markers (<<<<<<< at line {line})"
    if manifest:
        return (
            f"{where}: keep either side's manifest.json (`goldkeeper fmt` recomputes it once the shards are resolved)"
        )
    return f"{where}: keep the records you want from both sides (one version of each id), delete the markers, then run `goldkeeper fmt`"


def json_problem(data: bytes, exc: orjson.JSONDecodeError, *, manifest: bool = False) -> str:
    """Why ``data`` is not JSON, for a one-line error.

    orjson reports a byte that is not UTF-8 as "str is not valid UTF-8: surrogates not allowed" at line 1
    column 1 wherever it is; the decoder finds the byte (an editor saving Latin-1, a truncated copy).
    """
    unreadable = lfs_problem(data) or conflict_problem(data, manifest=manifest)
    if unreadable is not None:
        return unreadable
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = data.count(b"\n", 0, bad.start) + 1
        column = bad.start - (data.rfind(b"\n", 0, bad.start) + 1) + 1
        return f"not valid UTF-8: byte 0x{data[bad.start]:02x} at line {line} column {column} (byte {bad.start})"
    return f"not valid JSON ({exc})"


def parse_json(data: bytes, file: str) -> Any:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        manifest = PurePosixPath(file).name == MANIFEST
        raise RecordValidationError(file, None, None, json_problem(data, exc, manifest=manifest)) from exc
    problem = nesting_problem(raw)
    if problem is not None:
        raise RecordValidationError(file, *problem)
    return raw


@dataclass
class Store:
    """An opened store: its manifest, version and records."""

    source: StoreSource
    manifest: Manifest
    manifest_bytes: bytes
    #: :func:`store_stamp` before the manifest was read: a shard that does not match it is told apart from a
    #: store replaced meanwhile
    stamp: tuple[int, int, int] | None = None

    @cached_property
    def version(self) -> str:
        """The dataset version: sha256 of manifest.json's bytes."""
        return sha256_hex(self.manifest_bytes)

    def shards(self, entity: str | None = None) -> list[ShardEntry]:
        return [s for s in self.manifest.shards if entity is None or s.entity == entity]

    def shard_bytes(self, entry: ShardEntry, *, check: bool = True) -> bytes:
        name = self.source.describe(entry.path)
        if not is_safe_shard_path(entry.path):
            raise DataIntegrityError(f"{name}: shard path {entry.path!r} is not inside the store; nothing was read")
        if isinstance(self.source, DirectorySource) and self.source.linked(entry.path):
            # verify's shard.symlink: a link would show (diff) or export records from outside the store
            raise DataIntegrityError(f"{name}: a symbolic link: a store's files live in the store; nothing was read")
        try:
            data = self.source.read_bytes(entry.path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            self._check_not_replaced()
            raise DataIntegrityError(f"{name}: listed in the manifest but missing (or not a file)") from exc
        lfs = lfs_problem(data)
        if lfs is not None:  # not an edit after the dump: the content was never there
            raise DataIntegrityError(f"{name}: {lfs}")
        if check and sha256_hex(data) != entry.sha256:
            self._check_not_replaced()
            raise DataIntegrityError(
                f"{name}: sha256 {sha256_hex(data)[:12]}... does not match the manifest ({entry.sha256[:12]}...); "
                "the shard was edited or corrupted after the dump (a hand edit: run `goldkeeper fmt`)"
            )
        return data

    def _check_not_replaced(self) -> None:
        """A shard that does not match the manifest read before: when the manifest changed too, another
        command (dump, fmt) replaced the store meanwhile, which is no corruption: say so."""
        if store_stamp(self.source) != self.stamp:
            where = self.source.describe("").rstrip("/")
            raise DataIntegrityError(
                f"{where}: the store was replaced while it was read (a goldkeeper dump or fmt ran at the same "
                "time); nothing was done with it: run the command again"
            )

    def raw_records(self, entry: ShardEntry, *, check: bool = True) -> list[Any]:
        """The shard's records as parsed JSON; with ``check``, its sha256 and record count must match the manifest."""
        name = self.source.describe(entry.path)
        raw = parse_json(self.shard_bytes(entry, check=check), name)
        if not isinstance(raw, list):
            raise RecordValidationError(name, None, None, "a shard must be a JSON array of records")
        if check and len(raw) != entry.records:
            raise DataIntegrityError(f"{name}: holds {len(raw)} records, the manifest says {entry.records}")
        return raw

    def read_shard(self, entry: ShardEntry, *, check: bool = True) -> list[Analysis | Query]:
        name = self.source.describe(entry.path)
        model = MODEL_OF[entry.entity]
        return [validate_record(model, raw, name) for raw in self.raw_records(entry, check=check)]

    def iter_records(self, entity: str, *, check: bool = True) -> Iterator[Analysis | Query]:
        for entry in self.shards(entity):
            yield from self.read_shard(entry, check=check)

    def analyses(self, *, check: bool = True) -> Iterator[Analysis]:
        yield from self.iter_records("analyses", check=check)  # type: ignore[misc]

    def queries(self, *, check: bool = True) -> Iterator[Query]:
        yield from self.iter_records("queries", check=check)  # type: ignore[misc]


def store_stamp(source: StoreSource) -> tuple[int, int, int] | None:
    """What tells a directory store from the one that replaces it (a dump writes a new manifest file: another
    inode and change time; the bytes alone would not tell a store from the same data written again)."""
    if not isinstance(source, DirectorySource):
        return None  # a git tree does not change
    try:
        st = os.stat(source.root / MANIFEST)
    except OSError:
        return (-1, -1, -1)
    return (st.st_ino, st.st_ctime_ns, st.st_size)


def open_store(source: StoreSource | Path | str) -> Store:
    """Open a store from a directory path or any :class:`StoreSource`."""
    if isinstance(source, str | Path):
        source = DirectorySource(Path(source))
    name = source.describe(MANIFEST)
    stamp = store_stamp(source)
    try:
        data = source.read_bytes(MANIFEST)
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"{name}: no manifest.json: not a golden store (run `goldkeeper dump` first)") from exc
    except NotADirectoryError as exc:
        raise DataIntegrityError(f"{name}: not a golden store directory") from exc
    except IsADirectoryError as exc:
        raise DataIntegrityError(f"{name}: a directory, not a file: not a golden store") from exc
    manifest = validate_record(Manifest, parse_json(data, name), name)
    return Store(source=source, manifest=manifest, manifest_bytes=data, stamp=stamp)
