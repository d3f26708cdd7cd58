"""The diff's cache of shard hashes (store/hash_cache.py): it saves reading, never hides an edit."""

from __future__ import annotations

import os
import time
from pathlib import Path

from diff_support import analysis_id, dataset, write
from goldkeeper.config import load_settings
from goldkeeper.dataset.diff import diff
from goldkeeper.dataset.diff.sides import shard_hashes
from goldkeeper.store import open_store, sha256_hex
from goldkeeper.store.hash_cache import RACY_SECONDS, ShardHashes, read_with_status


def _two_equal_stores(tmp_path: Path) -> tuple[Path, Path]:
    analyses, queries = dataset()
    write(tmp_path / "old", analyses, queries)
    write(tmp_path / "new", analyses, queries)
    time.sleep(RACY_SECONDS + 0.2)  # older than the racy window: the first diff may remember them
    return tmp_path / "old" / "golden", tmp_path / "new" / "golden"


def test_a_shard_edited_in_place_after_a_cached_diff_is_found(tmp_path: Path) -> None:
    old, new = _two_equal_stores(tmp_path)
    settings = load_settings(tmp_path)
    assert diff(str(old), str(new), settings).is_empty
    cache = shard_hashes(settings)
    assert cache.path is not None
    written = os.stat(cache.path)
    assert diff(str(old), str(new), settings).is_empty
    assert os.stat(cache.path).st_ino == written.st_ino  # nothing new to remember: the cache is not rewritten
    for store_dir in (old, new):
        for entry in open_store(store_dir).manifest.shards:
            assert cache.known((store_dir / entry.path).resolve()) == entry.sha256, entry.path
    # a hand edit of the same length, the modification time put back: only the status-change time moves
    store = open_store(new)
    shard = next(s for s in store.shards("analyses") if any(a.id == analysis_id(0) for a in store.read_shard(s)))
    path = new / shard.path
    before = os.stat(path)
    with open(path, "r+b") as handle:
        data = handle.read()
        handle.seek(0)
        handle.write(data.replace(b'"Article 0"', b'"ARTICLE 0"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    for _ in range(2):  # the second run: the edit is too recent to be remembered, so it is hashed again
        result = diff(str(old), str(new), settings)
        (modified,) = result.analyses_modified
        assert [(c.path, c.old, c.new) for c in modified.changes] == [("title", "Article 0", "ARTICLE 0")]
        (problem,) = result.store_problems
        assert problem.side == "new" and "does not match the shard's bytes" in problem.problem
    assert shard_hashes(settings).known(path.resolve()) != shard.sha256


def test_a_file_changed_within_the_racy_window_is_not_remembered(tmp_path: Path) -> None:
    path = tmp_path / "shard.json"
    path.write_bytes(b"[]")
    data, st, read_at = read_with_status(path)
    cache = ShardHashes(tmp_path / "cache.json")
    cache.remember(path, st, read_at, sha256_hex(data))
    assert cache.known(path) is None
    cache.remember(path, st, read_at + int(RACY_SECONDS * 1e9) + 1, sha256_hex(data))
    assert cache.known(path) == sha256_hex(b"[]")
    cache.save()
    assert ShardHashes.load(tmp_path / "cache.json").known(path) == sha256_hex(b"[]")
    path.write_bytes(b"{}")  # same size, new bytes
    assert ShardHashes.load(tmp_path / "cache.json").known(path) is None


def test_a_corrupt_or_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    (tmp_path / "cache.json").write_bytes(b"{not json")
    assert ShardHashes.load(tmp_path / "cache.json").known(tmp_path / "cache.json") is None
    (tmp_path / "a-file").write_bytes(b"x")
    cache = ShardHashes(tmp_path / "a-file" / "cache.json")  # its directory is a file: the write fails
    data, st, read_at = read_with_status(tmp_path / "a-file")
    cache.remember(tmp_path / "a-file", st, read_at + 10**10, sha256_hex(data))
    cache.save()  # no error
    assert (tmp_path / "a-file").read_bytes() == b"x"
