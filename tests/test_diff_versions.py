"""versions.py against real git repositories: stores read from git objects, history."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import pytest

from goldkeeper.errors import DataIntegrityError, UsageError
from goldkeeper.models import Analysis, Chunk, ExpectedBehavior, Query
from goldkeeper.store import open_store, write_store
from goldkeeper.store.git_source import git_store_source, has_store, store_history


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.net",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.net",
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def analysis(n: int, chunks: int = 2, url: str | None = None) -> Analysis:
    aid = uuid5(NAMESPACE_URL, f"a{n}")
    return Analysis(
        id=aid,
        url=url or f"https://docs.test/{n}",
        title=f"Title {n}",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        chunks=[
            Chunk(id=uuid5(aid, str(i)), content=f"chunk {i} of analysis {n}", chunk_index=i) for i in range(chunks)
        ],
    )


def query(n: int) -> Query:
    return Query(id=f"q{n}", text=f"question {n}?", domain="d", expected_behavior=ExpectedBehavior(behavior="refuse"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README").write_text("x\n")
    git(tmp_path, "add", "README")
    git(tmp_path, "commit", "-q", "-m", "no store yet")
    write_store(
        tmp_path / "golden",
        "t",
        [analysis(i) for i in range(3)],
        [query(i) for i in range(4)],
        {"analyses": 2, "queries": 2},
    )
    git(tmp_path, "add", "golden")
    git(tmp_path, "commit", "-q", "-m", "first store")
    write_store(
        tmp_path / "golden",
        "t",
        [analysis(i) for i in range(4)],
        [query(i) for i in range(4)],
        {"analyses": 2, "queries": 2},
    )
    git(tmp_path, "add", "golden")
    git(tmp_path, "commit", "-q", "-m", "add analysis 3")
    return tmp_path


def test_store_read_from_git_objects_matches_the_committed_files(repo: Path) -> None:
    old = open_store(git_store_source(repo, "HEAD~1", "golden"))
    new = open_store(git_store_source(repo, "HEAD", "golden"))
    assert old.manifest.counts["analyses"] == 3
    assert new.manifest.counts["analyses"] == 4
    assert new.manifest_bytes == (repo / "golden" / "manifest.json").read_bytes()
    assert sorted(str(a.id) for a in new.analyses()) == sorted(str(analysis(i).id) for i in range(4))
    source = git_store_source(repo, "HEAD", "golden")
    assert source.list_files("analyses") == ["analyses/00.json", "analyses/01.json"]
    assert source.describe("analyses/00.json") == "HEAD:golden/analyses/00.json"
    with pytest.raises(FileNotFoundError):
        source.read_bytes("analyses/99.json")


def test_a_subdirectory_finds_the_repository_and_resolves_the_store_relative_to_it(repo: Path) -> None:
    sub = repo / "golden"
    source = git_store_source(sub, "HEAD", ".")
    assert source.store_path == "golden"
    assert open_store(source).manifest.counts["queries"] == 4


def test_unknown_revision_missing_store_and_no_repository_are_clear_errors(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pytest.raises(UsageError, match="unknown git revision 'nope'"):
        git_store_source(repo, "nope", "golden")
    with pytest.raises(DataIntegrityError, match="no golden store at revision HEAD~2"):
        git_store_source(repo, "HEAD~2", "golden")
    assert not has_store(repo, "HEAD~2", "golden")
    assert has_store(repo, "HEAD", "golden")
    outside = tmp_path_factory.mktemp("nogit")
    with pytest.raises(UsageError, match="not inside a git repository"):
        git_store_source(outside, "HEAD", "golden")


def test_history_lists_the_commits_that_changed_the_store(repo: Path) -> None:
    history = store_history(repo, "golden")
    assert [c.summary for c in history] == ["add analysis 3", "first store"]
    assert history[0].author == "Ada"
    assert history[0].parents == (history[1].sha,)
    assert history[0].to_json()["date"].endswith("Z")
