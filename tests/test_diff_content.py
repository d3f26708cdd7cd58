"""`goldkeeper diff` compares the shards' content: a stale or lying manifest is reported, never trusted."""

from __future__ import annotations

import shutil
from pathlib import Path

import jsonschema
import orjson
import pytest

from cli_support import run_cli as run
from diff_support import commit_all, dataset, init_repo, write
from goldkeeper.config import load_settings
from goldkeeper.dataset.diff import diff, diff_stores
from goldkeeper.dataset.diff.schema import DIFF_JSON_SCHEMA
from goldkeeper.store import open_store
from goldkeeper.store.git_source import GitTreeSource


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """Two stores with the same manifest; in the second, one query's text was edited in its shard by hand."""
    analyses, queries = dataset()
    write(tmp_path / "a", analyses, queries)
    shutil.copytree(tmp_path / "a" / "golden", tmp_path / "b")
    (tmp_path / "a" / "golden").rename(tmp_path / "old")
    shutil.rmtree(tmp_path / "a")
    target = queries[2]
    store = open_store(tmp_path / "b")
    entry = next(e for e in store.shards("queries") if any(q.id == target.id for q in store.read_shard(e)))
    shard = tmp_path / "b" / entry.path
    old_text = orjson.dumps(target.text)
    assert shard.read_bytes().count(old_text) == 1
    shard.write_bytes(shard.read_bytes().replace(old_text, b'"What changed here?"'))
    assert (tmp_path / "old" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    return tmp_path / "old", tmp_path / "b", target.id, entry.path


def test_same_manifest_edited_shard_shows_the_change_and_the_lie(twins: tuple[Path, Path, str, str]) -> None:
    old, new, query_id, relpath = twins
    result = diff_stores(open_store(old), open_store(new))
    assert result.old.version == result.new.version  # the manifests claim the same dataset
    assert result.summary_line() == "queries ~1"
    (modified,) = result.queries_modified
    assert modified.id == query_id
    assert [(c.path, c.new) for c in modified.changes] == [("text", "What changed here?")]
    (problem,) = result.store_problems
    assert (problem.side, problem.file) == ("new", str(new / relpath))
    assert "does not match the shard's bytes" in problem.problem
    assert (result.shards_parsed, result.shards_total) == (1, len(open_store(new).manifest.shards))  # the edited one
    assert diff_stores(open_store(new), open_store(old)).store_problems[0].side == "old"


def test_every_format_reports_the_store_problem(
    twins: tuple[Path, Path, str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new, query_id, relpath = twins
    monkeypatch.chdir(old.parent)
    code, out, err = run(["diff", str(old), str(new), "--exit-code"], capsys)
    assert code == 10, err
    assert f"M query {query_id}" in out
    assert "store problems (1" in out and f"new: {new / relpath}: the manifest's sha256" in out

    code, out, _ = run(["diff", str(old), str(new), "--format", "md"], capsys)
    assert "**Store problems:** 1" in out and "Store problems (the manifest was not trusted) (1)" in out

    code, out, _ = run(["diff", str(old), str(new), "--format", "json"], capsys)
    doc = orjson.loads(out)
    jsonschema.validate(doc, DIFF_JSON_SCHEMA)
    assert doc["summary"]["store_problems"] == 1 and doc["summary"]["queries"]["modified"] == 1
    assert [(p["side"], p["file"]) for p in doc["store_problems"]] == [("new", str(new / relpath))]


def test_an_unlisted_shard_and_a_wrong_record_count_are_reported(twins: tuple[Path, Path, str, str]) -> None:
    old, new, _, relpath = twins
    (new / "queries" / "99.json").write_bytes(b"[]\n")
    shard = new / relpath
    records = orjson.loads(shard.read_bytes())
    shard.write_bytes(orjson.dumps(records[:1], option=orjson.OPT_INDENT_2) + b"\n")
    result = diff_stores(open_store(old), open_store(new))
    problems = {(p.file, p.problem.split(":")[0]) for p in result.store_problems}
    assert (str(new / "queries" / "99.json"), "shard file not listed in manifest.json") in problems
    assert any(p.file == str(shard) and "the shard holds 1" in p.problem for p in result.store_problems)
    assert len(result.queries_removed) == len(records) - 1


def test_honest_identical_stores_have_no_problems_and_parse_nothing(twins: tuple[Path, Path, str, str]) -> None:
    old, _, _, _ = twins
    result = diff_stores(open_store(old), open_store(old))
    assert result.is_empty and result.store_problems == () and result.shards_parsed == 0
    assert result.to_json()["summary"]["store_problems"] == 0 and result.to_json()["store_problems"] == []


def test_between_git_revisions_identical_blobs_are_not_read_and_a_manifest_lie_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_repo(tmp_path)
    analyses, queries = dataset()
    write(tmp_path, analyses, queries)
    commit_all(tmp_path, "golden v1")
    manifest = orjson.loads((tmp_path / "golden" / "manifest.json").read_bytes())
    lied = manifest["shards"][-1]
    lied["sha256"] = "0" * 64  # a commit that changes only the manifest: the shard's blob stays
    (tmp_path / "golden" / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    commit_all(tmp_path, "a lying manifest")

    reads: list[str] = []
    original = GitTreeSource.read_bytes
    monkeypatch.setattr(GitTreeSource, "read_bytes", lambda self, rel: reads.append(rel) or original(self, rel))
    settings = load_settings(tmp_path)
    result = diff("HEAD~1", "HEAD", settings)
    assert result.is_empty and result.shards_parsed == 0
    ((side, file),) = [(p.side, p.file) for p in result.store_problems]
    assert (side, file) == ("new", f"HEAD:golden/{lied['path']}")
    assert [r for r in reads if r != "manifest.json"] == [
        lied["path"],
        lied["path"],
    ]  # only the shard whose entry changed

    reads.clear()
    assert diff("HEAD", "HEAD", settings).store_problems == ()  # same blobs, same entries: nothing read
    assert [r for r in reads if r != "manifest.json"] == []
