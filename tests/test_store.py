"""The canonical sharded store: byte stability, sharding, validation errors, atomic replacement."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import goldkeeper.store as store_package
from goldkeeper.dataset.verify import verify_store
from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.fileio import write_json
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import StoreWriter, canonical_bytes, open_store, write_store
from goldkeeper.store.atomic import recover_interrupted_swap
from goldkeeper.store.sharding import shard_index, shard_path

SHARDS = {"analyses": 4, "queries": 4}


def make_analysis(n: int, chunks: int = 2, url: str | None = None) -> Analysis:
    aid = uuid.uuid5(uuid.NAMESPACE_URL, f"analysis-{n}")
    return Analysis(
        id=aid,
        url=url or f"https://docs.acme.test/a/{n}",
        title=f"Analysis {n} – ünïcödé",
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        chunks=[
            Chunk(id=uuid.uuid5(aid, f"c{i}"), content=f'chunk {i} of {n}\nline two "quoted"', chunk_index=i)
            for i in reversed(range(chunks))  # deliberately out of order: the store sorts them
        ],
    )


def make_query(n: int, analysis: Analysis) -> Query:
    return Query(
        id=f"q{n:04d}",
        text=f"What is in analysis {n}?",
        domain="test",
        expected=Expected(chunks=[Relevance(id=c.id) for c in analysis.chunks]),
        expected_behavior=ExpectedBehavior(behavior="answer"),
    )


def sample(n: int = 10) -> tuple[list[Analysis], list[Query]]:
    analyses = [make_analysis(i) for i in range(n)]
    return analyses, [make_query(i, a) for i, a in enumerate(analyses)]


def test_streamed_shards_equal_canonical_bytes_of_the_whole_list(tmp_path: Path) -> None:
    analyses, queries = sample()
    manifest = write_store(tmp_path / "golden", "t", analyses, queries, SHARDS)
    store = open_store(tmp_path / "golden")
    for entry in manifest.shards:
        records = store.read_shard(entry)
        assert (tmp_path / "golden" / entry.path).read_bytes() == canonical_bytes(records)
        assert [str(r.id) for r in records] == sorted(str(r.id) for r in records)
        for record in records:
            assert shard_path(entry.entity, str(record.id), SHARDS[entry.entity]) == entry.path
    assert (tmp_path / "golden" / "manifest.json").read_bytes() == canonical_bytes(manifest)


def test_same_data_gives_identical_bytes_and_version(tmp_path: Path) -> None:
    analyses, queries = sample()
    write_store(tmp_path / "a", "t", analyses, queries, SHARDS)
    write_store(tmp_path / "b", "t", list(reversed(analyses)), list(reversed(queries)), SHARDS)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert open_store(tmp_path / "a").version == open_store(tmp_path / "b").version


def test_round_trip_preserves_records_with_chunks_sorted(tmp_path: Path) -> None:
    analyses, queries = sample(3)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    store = open_store(tmp_path / "g")
    got = {a.id: a for a in store.analyses()}
    for analysis in analyses:
        assert got[analysis.id] == analysis.canonical()
        assert [c.chunk_index for c in got[analysis.id].chunks] == [0, 1]
    assert sorted(q.id for q in store.queries()) == sorted(q.id for q in queries)
    assert store.manifest.counts == {"analyses": 3, "chunks": 6, "findings": 0, "artifacts": 0, "queries": 3}


def test_canonical_json_format() -> None:
    data = canonical_bytes({"b": [1, {"y": "é", "x": None}], "a": 1.5})
    assert data == b'{\n  "a": 1.5,\n  "b": [\n    1,\n    {\n      "x": null,\n      "y": "\xc3\xa9"\n    }\n  ]\n}\n'


def test_shard_index_is_stable_across_processes() -> None:
    # sha256-based: these values must never change, or every store would be reshuffled
    assert shard_index("q0001", 16) == shard_index("q0001", 16)
    assert [shard_index(f"id-{i}", 8) for i in range(5)] == [
        int.from_bytes(__import__("hashlib").sha256(f"id-{i}".encode()).digest()[:8], "big") % 8 for i in range(5)
    ]


def _hand_edited_shard(
    root: Path, entity: str, n: int, edit: Callable[[list[Any]], None]
) -> tuple[Any, Any, list[Any]]:
    """A store of ``n`` analyses whose first ``entity`` shard was edited by hand: (store, shard entry, edited records)."""
    analyses, queries = sample(n)
    write_store(root, "t", analyses, queries, SHARDS)
    store = open_store(root)
    entry = store.shards(entity)[0]
    raw = orjson.loads((root / entry.path).read_bytes())
    edit(raw)
    (root / entry.path).write_bytes(canonical_bytes(raw))
    return store, entry, raw


def test_unknown_field_names_file_record_and_field(tmp_path: Path) -> None:
    store, entry, raw = _hand_edited_shard(tmp_path / "g", "queries", 2, lambda raw: raw[0].update(surprise=1))
    with pytest.raises(RecordValidationError) as info:
        store.read_shard(entry, check=False)
    assert info.value.file.endswith(entry.path)
    assert info.value.record_id == raw[0]["id"]
    assert info.value.field == "surprise"


def test_wrong_type_is_rejected_with_nested_field_path(tmp_path: Path) -> None:
    def edit(raw: list[Any]) -> None:
        raw[0]["chunks"][1]["chunk_index"] = "two"

    store, entry, _ = _hand_edited_shard(tmp_path / "g", "analyses", 1, edit)
    with pytest.raises(RecordValidationError, match=r"field chunks\.1\.chunk_index"):
        store.read_shard(entry, check=False)


def test_a_duplicate_chunk_index_names_the_first_repeat(tmp_path: Path) -> None:
    def edit(raw: list[Any]) -> None:
        chunk = dict(raw[0]["chunks"][0])
        raw[0]["chunks"] += [{**chunk, "id": str(uuid.uuid4()), "chunk_index": 5}, {**chunk, "id": str(uuid.uuid4())}]

    store, entry, raw = _hand_edited_shard(tmp_path / "g", "analyses", 1, edit)
    with pytest.raises(RecordValidationError, match=rf"duplicate chunk_index 0 \(chunk {raw[0]['chunks'][3]['id']}\)"):
        store.read_shard(entry, check=False)


def test_checksum_mismatch_is_detected(tmp_path: Path) -> None:
    analyses, queries = sample(2)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    entry = open_store(tmp_path / "g").shards("analyses")[0]
    path = tmp_path / "g" / entry.path
    path.write_bytes(path.read_bytes().replace(b"chunk 0", b"chunk X"))
    with pytest.raises(DataIntegrityError, match="does not match the manifest"):
        list(open_store(tmp_path / "g").analyses())


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataIntegrityError, match="not a golden store"):
        open_store(tmp_path)


def test_duplicate_or_unsorted_ids_are_refused(tmp_path: Path) -> None:
    analyses, _ = sample(2)
    first, second = sorted(analyses, key=lambda a: str(a.id))
    with pytest.raises(DataIntegrityError, match="out of order"):
        with StoreWriter(tmp_path / "g", "t", SHARDS) as writer:
            writer.add_analysis(second)
            writer.add_analysis(first)
    assert not (tmp_path / "g").exists()


def test_failed_write_leaves_previous_store_intact(tmp_path: Path) -> None:
    analyses, queries = sample(4)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    (tmp_path / "g" / "CHANGELOG.json").write_text("[]\n")
    before = {p: p.read_bytes() for p in (tmp_path / "g").rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path / "g", "t", SHARDS) as writer:
            writer.add_analysis(make_analysis(99))
            raise RuntimeError("crash mid-dump")
    after = {p: p.read_bytes() for p in (tmp_path / "g").rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["g"]  # staging removed


def test_unmanaged_files_are_carried_over(tmp_path: Path) -> None:
    analyses, queries = sample(2)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    (tmp_path / "g" / "CHANGELOG.json").write_text('[{"x": 1}]\n')
    write_store(tmp_path / "g", "t", analyses[:1], queries[:1], SHARDS)
    assert (tmp_path / "g" / "CHANGELOG.json").read_text() == '[{"x": 1}]\n'
    assert open_store(tmp_path / "g").manifest.counts["analyses"] == 1


def killed_write(path: Path) -> Path:
    """SIGKILL a real process in the middle of an atomic write of ``path``; returns the temporary file it left."""
    code = (
        "import sys; from goldkeeper.fileio import atomic_write_bytes; atomic_write_bytes(sys.argv[1], bytes(1 << 29))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)])
    deadline = time.monotonic() + 60
    while not (leftovers := list(path.parent.glob(f".{path.name}.tmp-*"))):
        assert proc.poll() is None and time.monotonic() < deadline, "the writer finished before it was killed"
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert not path.exists() or path.stat().st_size < 1 << 29  # killed before its rename
    return leftovers[0]


def test_what_a_killed_write_leaves_is_removed_by_the_next_write_and_not_carried_over(tmp_path: Path) -> None:
    analyses, queries = sample(2)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    leftover = killed_write(tmp_path / "g" / "CHANGELOG.json")
    (tmp_path / "g" / ".notes.tmp-1-keep").write_text("the user's")  # not an atomic write's name: carried over
    write_store(tmp_path / "g", "t", analyses[:1], queries[:1], SHARDS)
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        ".notes.tmp-1-keep",
        "analyses",
        "manifest.json",
        "queries",
    ]
    leftover = killed_write(tmp_path / "metrics.json")
    write_json(tmp_path / "metrics.json", {"a": 1})
    assert not leftover.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["g", "metrics.json"]


@contextmanager
def undeletable(path: Path, root: Path) -> Iterator[None]:
    """``path`` (a file) cannot be deleted: its folder read-only, or for root (whom permissions do not stop)
    the file immutable (``chattr +i``); undone after for everything under ``root``, wherever it moved to."""
    if os.geteuid() != 0:
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
                folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("running as root on a file system without chattr +i: nothing here cannot be deleted")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", str(root)], check=True)


def test_an_old_store_that_cannot_be_removed_does_not_fail_the_write_that_replaced_it(tmp_path: Path) -> None:
    # the new store is in place once the directories are exchanged: reporting "nothing was written
    # (g is unchanged)" with exit 7 then would be false
    analyses, queries = sample(2)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    shard = next((tmp_path / "g" / "queries").iterdir())
    with undeletable(shard, tmp_path):
        write_store(tmp_path / "g", "t", analyses[:1], queries[:1], SHARDS)
        assert open_store(tmp_path / "g").manifest.counts["analyses"] == 1
        (left,) = [p for p in tmp_path.iterdir() if p.name != "g"]  # the old store, as much as is left of it
        assert left.name.startswith(".g.staging-")  # removed by a later write once its writer is gone


_REPLACER = """
import sys, time
from goldkeeper.store import open_store, write_store
target, end = sys.argv[1], time.monotonic() + float(sys.argv[4])
stores = [(list(s.analyses()), list(s.queries())) for s in map(open_store, sys.argv[2:4])]
while time.monotonic() < end:
    for analyses, queries in stores:
        write_store(target, "t", analyses, queries, {"analyses": 4, "queries": 4})
        time.sleep(0.05)  # a dump takes seconds: a store read again is read whole
"""


def test_a_store_replaced_while_it_is_read_is_never_reported_corrupted(tmp_path: Path) -> None:
    # a dump or fmt in another process replaces the directory between two reads: verify reads it again,
    # a reader says the store was replaced (never "corrupted", "a hand edit: run fmt")
    analyses, queries = sample(40)
    write_store(tmp_path / "a", "t", analyses, queries, SHARDS)
    write_store(tmp_path / "b", "t", analyses[:-1], queries[:-1], SHARDS)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    replacer = subprocess.Popen([sys.executable, "-c", _REPLACER, str(tmp_path / "g"), str(tmp_path / "a"),
                                 str(tmp_path / "b"), "4"])  # fmt: skip
    mixed: set[str] = set()
    reads = 0
    settled = verify_store(tmp_path / "a").codes()  # the default params' shard counts are not these: the same
    try:
        while replacer.poll() is None:
            reads += 1
            mixed |= verify_store(tmp_path / "g").codes() - settled
            try:
                for _ in open_store(tmp_path / "g").analyses():
                    pass
            except DataIntegrityError as exc:
                assert "replaced while it was read" in str(exc), exc
    finally:
        replacer.wait()
    assert replacer.returncode == 0 and reads > 5
    assert not mixed


def test_recover_puts_back_a_store_lost_between_fallback_renames(tmp_path: Path) -> None:
    analyses, queries = sample(2)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    version = open_store(tmp_path / "g").version
    os.rename(tmp_path / "g", tmp_path / ".g.old-abcd1234")  # crash after the first rename
    (tmp_path / ".g.staging-999999999-dead").mkdir()  # a dead writer's staging dir
    recover_interrupted_swap(tmp_path / "g")
    assert open_store(tmp_path / "g").version == version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]


def test_record_count_mismatch_with_the_manifest_is_detected(tmp_path: Path) -> None:
    analyses, queries = sample(4)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    manifest = orjson.loads((tmp_path / "g" / "manifest.json").read_bytes())
    manifest["shards"][0]["records"] += 1
    (tmp_path / "g" / "manifest.json").write_bytes(canonical_bytes(manifest))
    store = open_store(tmp_path / "g")
    with pytest.raises(DataIntegrityError, match="the manifest says"):
        store.read_shard(store.shards()[0])
    assert len(store.read_shard(store.shards()[0], check=False)) == manifest["shards"][0]["records"] - 1


def test_the_package_exports_each_name_of_its_modules_when_first_used() -> None:
    """goldkeeper.store imports its modules lazily (start-up); every name of __all__ is still there."""
    for name in store_package.__all__:
        home = importlib.import_module(f"goldkeeper.store.{store_package._HOMES[name]}")
        assert getattr(store_package, name) is getattr(home, name), name
    with pytest.raises(AttributeError, match="no attribute 'reader_of'"):
        _ = store_package.reader_of  # type: ignore[attr-defined]
