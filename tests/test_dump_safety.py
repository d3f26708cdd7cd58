"""dump never deletes what it did not write, writes through a symlinked store, and a full disk is a clean error.

Real files, the real embedded PostgreSQL, real `goldkeeper` processes; the full disk is a real write
limit (RLIMIT_FSIZE: the kernel refuses the write with EFBIG), not a mock.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from golden_support import make_records, store_bytes
from goldkeeper.errors import DataIntegrityError
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")
SHARDS = {"analyses": 2, "queries": 2}


def gk(project: Path, url: str, *args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": url, "PYTHONDONTWRITEBYTECODE": "1"}

    def limit_file_size() -> None:  # in the child only: files it writes may not grow past limit_bytes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed by the signal
        assert limit_bytes is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [GOLDKEEPER, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size if limit_bytes is not None else None,
    )


@pytest.fixture
def loaded(database_url: str, project: Path) -> str:
    """The database holds 3 analyses and their queries (restored from a store that is then removed)."""
    analyses, queries = make_records(3)
    write_store(project / "seed", "t", analyses, queries, SHARDS)
    run = gk(project, database_url, "restore", "--from", "seed")
    assert run.returncode == 0, run.stderr
    return database_url


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- nothing of yours is deleted


def test_dump_refuses_a_non_empty_directory_without_a_manifest(loaded, project):
    mine = project / "mine"
    (mine / "analyses").mkdir(parents=True)
    (mine / "analyses" / "thesis.txt").write_text("two years of work")
    (mine / "queries").mkdir()
    (mine / "queries" / "todo.md").write_text("- x")
    (mine / "photo.jpg").write_bytes(b"\xff\xd8")
    before = tree(mine)
    run = gk(project, loaded, "dump", "--out", "mine")
    assert run.returncode == 5, run.stderr
    assert run.stderr.count("\n") == 1 and "mine is not empty and has no manifest.json" in run.stderr
    assert tree(mine) == before
    assert [p.name for p in project.iterdir() if ".staging-" in p.name] == []


def test_dump_into_an_empty_or_new_directory_works(loaded, project):
    (project / "empty").mkdir()
    for out in ("empty", "new/deeper"):
        run = gk(project, loaded, "dump", "--out", out)
        assert run.returncode == 0, run.stderr
        assert (project / out / "manifest.json").is_file()


def test_a_stray_file_inside_a_store_stops_the_dump_and_is_kept(loaded, project):
    assert gk(project, loaded, "dump").returncode == 0
    store = project / "golden"
    (store / "analyses" / "notes.txt").write_text("mine")
    (store / "queries" / "extra").mkdir()
    (store / "queries" / "extra" / "99.json").write_text("[]")
    (store / "CHANGELOG.json").write_text("[]\n")  # a top-level file of the user's: carried over, as always
    before = tree(store)
    run = gk(project, loaded, "dump")
    assert run.returncode == 5, run.stderr
    assert "analyses/notes.txt, queries/extra/99.json not listed in manifest.json" in run.stderr
    assert run.stderr.count("\n") == 1
    assert tree(store) == before
    (store / "analyses" / "notes.txt").unlink()
    (store / "queries" / "extra" / "99.json").unlink()
    run = gk(project, loaded, "dump")
    assert run.returncode == 0, run.stderr
    assert (store / "CHANGELOG.json").read_text() == "[]\n"


def test_shards_listed_in_the_old_manifest_are_replaced(tmp_path):
    """A store dump wrote (more shards than now): its shard files are its own, replaced without a word."""
    analyses, queries = make_records(6)
    write_store(tmp_path / "g", "t", analyses, queries, {"analyses": 8, "queries": 8})
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    assert sorted(p.name for p in (tmp_path / "g" / "analyses").iterdir()) == ["00.json", "01.json"]


def test_listed_shards_that_are_links_are_replaced_and_their_targets_kept(tmp_path):
    """DVC's symlink cache makes each shard a link: the dump replaces the link, never the cached file."""
    analyses, queries = make_records(4)
    write_store(tmp_path / "g", "t", analyses, queries, SHARDS)
    cache = tmp_path / "cache"
    cache.mkdir()
    shard = tmp_path / "g" / "analyses" / "00.json"
    shutil.move(shard, cache / "00.json")
    shard.symlink_to(cache / "00.json")
    cached = (cache / "00.json").read_bytes()
    write_store(tmp_path / "g", "t", analyses[:2], queries[:1], SHARDS)
    assert not shard.is_symlink() and (cache / "00.json").read_bytes() == cached


def test_a_foreign_manifest_or_a_file_target_is_refused(tmp_path):
    analyses, queries = make_records(2)
    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "my web app", "icons": []}')
    (web / "analyses").mkdir()
    (web / "analyses" / "a.png").write_bytes(b"png")
    with pytest.raises(DataIntegrityError, match="is not a goldkeeper manifest"):
        write_store(web, "t", analyses, queries, SHARDS)
    assert (web / "analyses" / "a.png").read_bytes() == b"png"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataIntegrityError, match="exists and is not a directory"):
        write_store(tmp_path / "file", "t", analyses, queries, SHARDS)
    assert (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "web"]


def test_a_symlinked_store_is_written_through_and_stays_a_link(loaded, project, tmp_path):
    real = tmp_path / "elsewhere" / "golden-data"
    real.mkdir(parents=True)
    (project / "golden").symlink_to(real)
    for _ in range(2):  # a first dump into the empty target, then a replacement of a store
        run = gk(project, loaded, "dump")
        assert run.returncode == 0, run.stderr
        assert (project / "golden").is_symlink() and os.readlink(project / "golden") == str(real)
        assert (real / "manifest.json").is_file() and len(list((real / "analyses").iterdir())) == 2
    leftovers = [p.name for d in (project, real.parent) for p in d.iterdir() if p.name.startswith(".golden")]
    assert leftovers == []
    run = gk(project, loaded, "restore", "--dry-run")  # the store reads back through the link
    assert run.returncode == 0, run.stderr
    assert "analyses: 0 added, 3 unchanged (skipped)" in run.stdout


# --------------------------------------------------------------------------- a full disk


def test_a_full_disk_is_a_one_line_error_and_the_old_store_stays(loaded, project):
    assert gk(project, loaded, "dump").returncode == 0
    store = project / "golden"
    before = store_bytes(store)
    more, more_queries = make_records(6, chunks=2, words=300)  # analyses shards of ~13 KB: over the limit
    seed = project / "seed"
    shutil.rmtree(seed)
    write_store(seed, "t", more, more_queries, SHARDS)
    assert gk(project, loaded, "restore", "--from", "seed", "--replace").returncode == 0

    run = gk(project, loaded, "dump", limit_bytes=8_000)
    assert run.returncode == 7, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and "golden/analyses/" in line and "cannot write: File too large" in line
    assert "golden is unchanged" in line and "Traceback" not in run.stderr
    assert store_bytes(store) == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".golden")] == []
    run = gk(project, loaded, "dump")  # with room again, the same command succeeds
    assert run.returncode == 0, run.stderr
    assert store_bytes(store) != before


# --------------------------------------------------------------------------- a number JSON cannot hold


def test_a_number_the_store_cannot_hold_stops_the_dump_and_the_old_store_stays(loaded, project):
    """orjson holds 64-bit integers and doubles: 1e400, 22 significant digits, a 30-digit integer would be
    written as null / 0.1 / a float (and restored so): the dump names the record, the field and the number."""
    assert gk(project, loaded, "dump").returncode == 0
    store = project / "golden"
    before = store_bytes(store)
    metadata = '{"a": 1e400, "b": 0.1000000000000000000001, "c": 123456789012345678901234567890}'
    with psycopg.connect(loaded) as conn:
        artifact = conn.execute("SELECT id::text FROM golden.artifacts ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE golden.artifacts SET metadata = %s::jsonb WHERE id = %s", (metadata, artifact))
    run = gk(project, loaded, "dump")
    assert run.returncode == 5, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"error: golden.artifacts: record {artifact}: field metadata: the number "), line
    assert "Traceback" not in run.stderr
    assert store_bytes(store) == before
    for value in ("0.1000000000000000000001", "123456789012345678901234567890"):
        with psycopg.connect(loaded) as conn:
            conn.execute(
                "UPDATE golden.artifacts SET metadata = %s::jsonb WHERE id = %s", (f'{{"x": {value}}}', artifact)
            )
        run = gk(project, loaded, "dump")
        assert run.returncode == 5 and f"the number {value} is neither" in run.stderr, run.stderr
        assert store_bytes(store) == before
