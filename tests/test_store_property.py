"""Issue 11 item 1, the property: for every store, ``verify`` passes <=> ``restore --dry-run`` accepts it,
and the database is unchanged after every refusal (and after every dry run).

Hypothesis mutates a small valid store (manifest fields, the shard list, shard paths, records, raw bytes,
with or without resealing checksums) with a fixed seed and a bounded number of examples.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from golden_support import fingerprint
from goldkeeper.config import EmbeddingParams, Settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.dataset.verify import verify_store
from goldkeeper.embed import load_embedder
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import GoldkeeperError
from goldkeeper.store import canonical_bytes, sha256_hex
from verify_helpers import build_store, read_manifest, settings_for, write_manifest


class Mutation:
    """One edit of a store, named so that a failing example shows what was done."""

    def __init__(self, label: str, edit: Callable[[Path], None]) -> None:
        self.label, self.edit = label, edit

    def __call__(self, store: Path) -> None:
        self.edit(store)

    def __repr__(self) -> str:
        return self.label


ODD_VALUES = st.one_of(
    st.integers(-3, 20),
    st.sampled_from([None, True, "", "x", [], {}, 2**40]),
    st.text(max_size=5),
)
ODD_PATHS = st.sampled_from(
    [
        "../golden/analyses/00.json",
        "analyses/../queries/00.json",
        "analyses/../../other/analyses/00.json",
        "/etc/passwd",
        "../../../../etc/passwd",
        "analyses/99.json",
        "analyses/7.json",
        "queries/00.json",
        "analyses/00.json",
        "analyses",
        "manifest.json",
    ]
)
ODD_TEXT = st.sampled_from(["", " ", "a\x00b", "\u202e", "x" * 300, "é", "\\u0000"])
ODD_URLS = st.sampled_from(
    ["javascript:alert(1)", "https://example.com/a", "https://en.wikipedia.org/wiki/Fine", "not a url", "ftp://x.org/a"]
)


def shard_paths(store: Path) -> list[str]:
    return [s["path"] for s in read_manifest(store)["shards"]]


def reseal(store: Path, relpath: str, data: bytes) -> None:
    """Make the manifest's checksum (and, when the bytes parse as a list, its record count) match ``data``."""
    manifest = read_manifest(store)
    for entry in manifest["shards"]:
        if entry["path"] == relpath:
            entry["sha256"] = sha256_hex(data)
            try:
                records = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(records, list):
                entry["records"] = len(records)
    write_manifest(store, manifest)


@st.composite
def manifest_field(draw: st.DrawFn) -> Mutation:
    key = draw(st.sampled_from(["format_version", "schema_version", "dataset", "counts", "shard_counts", "extra"]))
    sub = draw(st.sampled_from(["analyses", "queries", "chunks", "bogus"]))
    value = draw(ODD_VALUES)

    def mutate(store: Path) -> None:
        manifest = read_manifest(store)
        if key in ("counts", "shard_counts") and isinstance(manifest.get(key), dict):
            manifest[key][sub] = value
        else:
            manifest[key] = value
        write_manifest(store, manifest)

    return Mutation(f"manifest {key}.{sub} = {value!r}", mutate)


@st.composite
def shard_list(draw: st.DrawFn) -> Mutation:
    action = draw(st.sampled_from(["drop", "duplicate", "reverse", "empty", "empty-zero-counts", "swap"]))
    index = draw(st.integers(0, 50))

    def mutate(store: Path) -> None:
        manifest = read_manifest(store)
        shards = manifest["shards"]
        i = index % len(shards)
        if action == "drop":
            del shards[i]
        elif action == "duplicate":
            shards.insert(i, dict(shards[i]))
        elif action == "reverse":
            shards.reverse()
        elif action == "swap":
            j = (i + 1) % len(shards)
            shards[i]["path"], shards[j]["path"] = shards[j]["path"], shards[i]["path"]
        else:
            manifest["shards"] = []
            if action == "empty-zero-counts":
                manifest["counts"] = dict.fromkeys(manifest["counts"], 0)
        write_manifest(store, manifest)

    return Mutation(f"shard list: {action} #{index}", mutate)


@st.composite
def shard_path(draw: st.DrawFn) -> Mutation:
    index, path, seal = draw(st.integers(0, 50)), draw(ODD_PATHS), draw(st.booleans())

    def mutate(store: Path) -> None:
        manifest = read_manifest(store)
        entry = manifest["shards"][index % len(manifest["shards"])]
        if seal:  # the checksum of what the path points at, where that is a file outside or inside the store
            target = (store / path) if not path.startswith("/") else Path(path)
            entry["sha256"] = sha256_hex(target.read_bytes()) if target.is_file() else entry["sha256"]
        entry["path"] = path
        write_manifest(store, manifest)

    return Mutation(f"shard #{index} path = {path!r} (resealed: {seal})", mutate)


@st.composite
def record_edit(draw: st.DrawFn) -> Mutation:
    index, position, seal = draw(st.integers(0, 50)), draw(st.integers(0, 50)), draw(st.booleans())
    edit = draw(
        st.sampled_from(["url", "title", "content", "chunk_index", "id", "drop_key", "extra_key", "text", "expected"])
    )
    text, url, number = draw(ODD_TEXT), draw(ODD_URLS), draw(st.sampled_from([-1, 0, 1, 2**31, 2**63 - 1]))

    def apply(record: dict[str, Any]) -> None:
        chunks = record.get("chunks") or [{}]
        changes: dict[str, Callable[[], None]] = {
            "url": lambda: record.update(url=url),
            "title": lambda: record.update(title=text),
            "content": lambda: chunks[0].update(content=text),
            "chunk_index": lambda: chunks[-1].update(chunk_index=number),
            "id": lambda: record.update(id=str(uuid.UUID(int=number % 2**128)) if "chunks" in record else text),
            "drop_key": lambda: record.pop(sorted(record)[position % len(record)]),
            "extra_key": lambda: record.update(unexpected=1),
            "text": lambda: record.update(text=text),
            "expected": lambda: record.get("expected", {}).get("chunks", []).extend(record["expected"]["chunks"]),
        }
        changes[edit]()

    def mutate(store: Path) -> None:
        paths = shard_paths(store)
        relpath = paths[index % len(paths)]
        records = orjson.loads((store / relpath).read_bytes())
        if records:
            apply(records[position % len(records)])
        data = canonical_bytes(records)
        (store / relpath).write_bytes(data)
        if seal:
            reseal(store, relpath, data)

    return Mutation(
        f"record #{position} of shard #{index}: {edit} (text {text!r}, url {url!r}, number {number}; resealed: {seal})",
        mutate,
    )


@st.composite
def byte_edit(draw: st.DrawFn) -> Mutation:
    index, offset, seal = draw(st.integers(0, 50)), draw(st.integers(0, 10**6)), draw(st.booleans())
    action, byte = (
        draw(st.sampled_from(["flip", "insert", "delete", "truncate"])),
        draw(st.binary(min_size=1, max_size=1)),
    )
    manifest_too = draw(st.booleans())

    def mutate(store: Path) -> None:
        paths = shard_paths(store)
        relpath = "manifest.json" if manifest_too else paths[index % len(paths)]
        data = bytearray((store / relpath).read_bytes())
        at = offset % len(data)
        if action == "flip":
            data[at] ^= byte[0] or 1
        elif action == "insert":
            data[at:at] = byte
        elif action == "delete":
            del data[at]
        else:
            del data[at:]
        (store / relpath).write_bytes(bytes(data))
        if seal and relpath != "manifest.json":
            reseal(store, relpath, bytes(data))

    return Mutation(
        f"bytes of {'manifest' if manifest_too else f'shard #{index}'}: {action} {byte!r} at {offset} (resealed: {seal})",
        mutate,
    )


@st.composite
def file_edit(draw: st.DrawFn) -> Mutation:
    index, action = draw(st.integers(0, 50)), draw(st.sampled_from(["delete", "unlisted", "directory", "symlink"]))

    def mutate(store: Path) -> None:
        paths = shard_paths(store)
        target = store / paths[index % len(paths)]
        if action == "delete":
            target.unlink()
        elif action == "unlisted":
            (store / "queries" / "77.json").write_bytes(canonical_bytes([]))
        elif action == "directory":
            target.unlink()
            target.mkdir()
        else:
            moved = store.parent / f"moved-{uuid.uuid4().hex[:6]}.json"
            target.rename(moved)
            target.symlink_to(moved)

    return Mutation(f"shard #{index}: {action}", mutate)


MUTATIONS = st.lists(
    st.one_of(manifest_field(), shard_list(), shard_path(), record_edit(), byte_edit(), file_edit()),
    min_size=0,
    max_size=2,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder(EmbeddingParams())


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    root = tmp_path_factory.mktemp("property-base")
    return build_store(root, n=3), settings_for(root)


def _accepted(url: str, store: Path, gk_settings: Settings, embedder: Embedder, replace: bool) -> bool:
    try:
        restore_store(url, store, embedder, settings=gk_settings, dry_run=True, replace=replace)
    except GoldkeeperError:
        return False
    return True


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=MUTATIONS, replace=st.booleans())
def test_verify_passes_iff_restore_dry_run_accepts(
    mutations: list[Mutation],
    replace: bool,
    base: tuple[Path, Settings],
    database_url: str,
    embedder: Embedder,
    tmp_path: Path,
) -> None:
    template, gk_settings = base
    if not fingerprint(database_url).get("analyses"):
        restore_store(database_url, template, embedder, settings=gk_settings)  # the database holds the store
    before = fingerprint(database_url)
    work = tmp_path / uuid.uuid4().hex[:8]
    store = work / "golden"
    shutil.copytree(template, store)
    shutil.copytree(template, work / "other")  # the target of "../other/..." paths
    try:
        for mutate in mutations:
            try:
                mutate(store)
            except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, ZeroDivisionError):
                continue  # this mutation does not apply to what the previous one left
        valid = verify_store(store, gk_settings).ok()
        event("verify passes" if valid else "verify rejects")
        assert _accepted(database_url, store, gk_settings, embedder, replace) == valid
        assert fingerprint(database_url) == before
    finally:
        shutil.rmtree(work, ignore_errors=True)
