"""goldkeeper diff on real git repositories holding generated stores."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from diff_support import analysis_id, chunk_id, commit_all, dataset, init_repo, make_analysis, text, write
from goldkeeper.config import load_settings
from goldkeeper.dataset.diff import diff, diff_stores, word_diff
from goldkeeper.dataset.diff.schema import DIFF_JSON_SCHEMA
from goldkeeper.errors import UsageError
from goldkeeper.store import open_store, write_store


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    init_repo(tmp_path)
    analyses, queries = dataset()
    write(tmp_path, analyses, queries)
    commit_all(tmp_path, "golden v1")
    return tmp_path


def test_identical_stores_read_no_shard(repo: Path) -> None:
    result = diff("HEAD", None, load_settings(repo))
    assert result.is_empty
    assert result.shards_parsed == 0
    assert result.shards_total == len(open_store(repo / "golden").manifest.shards) > 0
    assert result.old.version == result.new.version


def test_a_reshard_counts_parsed_shards_as_total_counts_them(repo: Path) -> None:
    # both stats count shard paths (analyses/03.json once, whichever sides hold it): a reshard, where every
    # path differs, is every path parsed, never more parsed than there are
    analyses, queries = dataset()
    write_store(repo / "resharded", "test-set", analyses, queries, {"analyses": 2, "queries": 3})
    old, new = open_store(repo / "golden"), open_store(repo / "resharded")
    result = diff_stores(old, new)
    assert result.is_empty
    paths = {e.path for e in old.manifest.shards} | {e.path for e in new.manifest.shards}
    assert result.shards_total == len(paths) < len(old.manifest.shards) + len(new.manifest.shards)
    assert result.shards_parsed == result.shards_total
    assert result.to_json()["stats"] == {"shards_total": len(paths), "shards_parsed": len(paths)}


def test_record_and_field_level_changes_with_impact(repo: Path) -> None:
    analyses, queries = dataset()
    a1 = analyses[1]
    new_chunk = a1.chunks[0].model_copy(update={"content": a1.chunks[0].content.replace("lazy", "sleepy", 1)})
    analyses[1] = a1.model_copy(update={"chunks": [new_chunk, *a1.chunks[1:]], "title": "Article one"})
    analyses.append(make_analysis(50, chunks=2))
    removed_query = queries.pop(3)
    queries[0] = queries[0].model_copy(update={"tags": ["gen", "new-tag"]})
    write(repo, analyses, queries)

    result = diff("HEAD", None, load_settings(repo))
    assert [a.id for a in result.analyses_added] == [str(analysis_id(50))]
    assert sorted(c.id for c in result.chunks_added) == sorted(str(chunk_id(50, i)) for i in range(2))
    assert [a.id for a in result.analyses_modified] == [str(analysis_id(1))]
    assert [(c.path, c.old, c.new) for c in result.analyses_modified[0].changes] == [
        ("title", "Article 1", "Article one")
    ]
    (chunk_change,) = result.chunks_modified
    assert chunk_change.id == str(new_chunk.id) and chunk_change.analysis_id == str(analysis_id(1))
    (content,) = chunk_change.changes
    assert content.path == "content"
    assert "[-lazy-]" in content.text_diff and "{+sleepy+}" in content.text_diff
    assert len(content.text_diff) < len(new_chunk.content)
    assert [q.id for q in result.queries_removed] == [removed_query.id]
    (tags,) = result.queries_modified[0].changes
    assert (result.queries_modified[0].id, tags.path, tags.action, tags.new) == ("q0000", "tags[1]", "added", "new-tag")
    assert result.analyses_removed == result.chunks_removed == result.queries_added == ()
    # impact: queries expecting the edited chunk, or analysis 1 (modified)
    expected_impacted = sorted(
        q.id
        for q in queries
        if any(r.id == new_chunk.id for r in q.expected.chunks)
        or any(r.id == analysis_id(1) for r in q.expected.analyses)
    )
    assert [i.query_id for i in result.impacted_queries] == expected_impacted
    assert expected_impacted
    assert result.url_violations == ()
    assert 0 < result.shards_parsed < result.shards_total
    jsonschema.validate(result.to_json(), DIFF_JSON_SCHEMA)


def test_url_violations_are_only_those_introduced(repo: Path) -> None:
    analyses, queries = dataset()
    analyses[2] = analyses[2].model_copy(update={"url": "https://placeholder.invalid/doc"})
    write(repo, analyses, queries)
    commit_all(repo, "placeholder url")
    analyses.append(make_analysis(60, url="ftp://files.acme-corp.io/x"))
    write(repo, analyses, queries)
    settings = load_settings(repo)
    first = diff("HEAD~1", "HEAD", settings)
    assert [(v.analysis_id, v.old_url) for v in first.url_violations] == [
        (str(analysis_id(2)), "https://docs.acme-corp.io/articles/2")
    ]
    assert "placeholder" in first.url_violations[0].problem
    second = diff("HEAD", None, settings)  # the placeholder is old now: only the new ftp URL is flagged
    assert [(v.analysis_id, v.url) for v in second.url_violations] == [
        (str(analysis_id(60)), "ftp://files.acme-corp.io/x")
    ]


def test_store_directories_and_a_revision_without_store(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    analyses, queries = dataset()
    write(other, analyses[:4], queries)
    result = diff(str(repo / "golden"), str(other / "golden"), load_settings(repo))
    assert sorted(a.id for a in result.analyses_removed) == sorted(str(a.id) for a in analyses[4:])
    assert len(result.chunks_removed) == 6
    (repo / "notes.txt").write_text("x\n")
    commit_all(repo, "notes", "notes.txt")
    init = diff("HEAD~1", "HEAD", load_settings(repo))
    assert init.is_empty
    with pytest.raises(UsageError, match="unknown git revision 'nope'"):
        diff("nope", None, load_settings(repo))


def test_first_commit_of_the_store_shows_everything_added(tmp_path: Path) -> None:
    init_repo(tmp_path)
    (tmp_path / "README").write_text("x\n")
    commit_all(tmp_path, "init", "README")
    analyses, queries = dataset(3, 5)
    write(tmp_path, analyses, queries)
    commit_all(tmp_path, "store")
    result = diff("HEAD~1", "HEAD", load_settings(tmp_path))
    assert (len(result.analyses_added), len(result.chunks_added), len(result.queries_added)) == (3, 9, 5)
    assert result.old.version is None and result.new.version is not None
    jsonschema.validate(result.to_json(), DIFF_JSON_SCHEMA)


def test_a_shard_edited_after_the_dump_is_compared_by_content_and_reported(repo: Path) -> None:
    analyses, queries = dataset()
    analyses[0] = analyses[0].model_copy(update={"title": "changed"})
    write(repo, analyses, queries)
    store = open_store(repo / "golden")
    changed = next(
        s for s in store.shards("analyses") if any(str(a.id) == str(analysis_id(0)) for a in store.read_shard(s))
    )
    path = repo / "golden" / changed.path
    path.write_bytes(path.read_bytes().replace(b"changed", b"CHANGED"))
    result = diff("HEAD", None, load_settings(repo))
    (modified,) = result.analyses_modified
    assert [(c.path, c.old, c.new) for c in modified.changes] == [("title", "Article 0", "CHANGED")]
    (problem,) = result.store_problems
    assert (problem.side, problem.file) == ("new", str(path)) and "does not match the shard's bytes" in problem.problem


def test_moved_chunk_is_a_modification_of_its_analysis_id(tmp_path: Path) -> None:
    analyses, queries = dataset()
    write(tmp_path / "a", analyses, queries)
    moved = analyses[0].chunks[2]
    analyses[0] = analyses[0].model_copy(update={"chunks": analyses[0].chunks[:2]})
    analyses[1] = analyses[1].model_copy(
        update={"chunks": [*analyses[1].chunks, moved.model_copy(update={"chunk_index": 3})]}
    )
    write(tmp_path / "b", analyses, queries)
    result = diff_stores(open_store(tmp_path / "a" / "golden"), open_store(tmp_path / "b" / "golden"))
    (change,) = result.chunks_modified
    assert [(c.path, c.old, c.new) for c in change.changes] == [
        ("analysis_id", str(analysis_id(0)), str(analysis_id(1))),
        ("chunk_index", 2, 3),
    ]
    assert result.chunks_added == result.chunks_removed == ()


def test_word_diff_shows_only_the_changed_region() -> None:
    old = text(1, 300)
    new = old.replace("patient reviewer", "tired reviewer", 1)
    shown = word_diff(old, new, context=3)
    assert "[-patient-]" in shown and "{+tired+}" in shown
    assert shown.startswith("…") and shown.endswith("…")
    assert len(shown.split()) < 15
    assert word_diff("a  b", "a b") == "(whitespace only)"
    long_insert = word_diff("start end", "start " + " ".join(["w"] * 500) + " end", max_chars=200)
    assert len(long_insert) <= 200


def test_swapping_the_sides_swaps_added_and_removed(tmp_path: Path) -> None:
    analyses, queries = dataset(8, 20)
    write(tmp_path / "a", analyses, queries)
    changed = [a.model_copy(update={"status": "archived"}) if i % 3 == 0 else a for i, a in enumerate(analyses[2:])]
    write(tmp_path / "b", [*changed, make_analysis(40)], queries[5:])
    a, b = open_store(tmp_path / "a" / "golden"), open_store(tmp_path / "b" / "golden")
    forward, backward = diff_stores(a, b), diff_stores(b, a)
    for kind in ("analyses", "chunks", "queries"):
        assert [r.id for r in forward.changes(kind, "added")] == [r.id for r in backward.changes(kind, "removed")]
        assert [r.id for r in forward.changes(kind, "removed")] == [r.id for r in backward.changes(kind, "added")]
        assert [[(c.path, c.old, c.new) for c in r.changes] for r in forward.changes(kind, "modified")] == [
            [(c.path, c.new, c.old) for c in r.changes] for r in backward.changes(kind, "modified")
        ]
    assert forward.counts()["analyses"] == {"added": 1, "removed": 2, "modified": 2}
    assert forward.counts()["queries"] == {"added": 0, "removed": 5, "modified": 0}
    assert diff_stores(a, a).is_empty and diff_stores(a, a).shards_parsed == 0
