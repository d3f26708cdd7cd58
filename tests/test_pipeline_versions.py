"""Older dataset versions: `restore --rev v1.0` and `git checkout v1.0 && dvc checkout && restore --replace`
both give the database of that version, on a real repository with three tagged dataset versions.

"The database of that version" is checked by dumping the database back into a new store and comparing
its dataset version (the sha256 of the manifest, a content address) with the version committed at the tag.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import pytest

from goldkeeper.config import load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import open_store, write_store

BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def records(version: int) -> tuple[list[Analysis], list[Query]]:
    """A small dataset; each version adds an analysis, edits a chunk and drops a query."""
    analyses, queries = [], []
    for i in range(1 + version):
        aid = uuid5(NAMESPACE_URL, f"https://docs.acme-research.org/report/{i}")
        chunks = [
            Chunk(
                id=uuid5(aid, f"chunk-{j}"),
                content=f"Report {i} section {j}: turbine blade fatigue measured at {10 * i + j} kilocycles"
                + (f" (revised in v{version})" if j == 0 and i == 0 else ""),
                section_title=f"Section {j}",
                chunk_index=j,
            )
            for j in range(3)
        ]
        analyses.append(
            Analysis(
                id=aid,
                url=f"https://docs.acme-research.org/report/{i}",
                title=f"Fatigue report {i}",
                created_at=datetime(2024, 1, 1 + i, tzinfo=UTC),
                chunks=chunks,
            )
        )
        for k in range(3):
            if k == version - 1:
                continue  # a query removed in this version
            queries.append(
                Query(
                    id=f"q-{i}-{k}",
                    text=f"At how many kilocycles did report {i} section {k} measure fatigue?",
                    domain="engineering",
                    expected=Expected(chunks=[Relevance(id=chunks[k].id)]),
                    reference_answers=[f"{10 * i + k} kilocycles"],
                    expected_behavior=ExpectedBehavior(behavior="answer", must_not=["fabricate_citation"]),
                )
            )
    return analyses, queries


def commit_version(repo: Path, version: int, dvc_tracked: bool) -> str:
    analyses, queries = records(version)
    settings = load_settings(root=repo, env={})  # dump writes with these: same name and shards
    write_store(repo / "golden", settings.dataset.name, analyses, queries, dict(settings.store.shards))
    if dvc_tracked:
        run([str(BIN / "dvc"), "add", "golden"], repo)
        run(["git", "add", "golden.dvc", ".gitignore"], repo)
    else:
        run(["git", "add", "golden"], repo)
    run(["git", "commit", "-q", "-m", f"dataset v{version}.0"], repo)
    run(["git", "tag", f"v{version}.0"], repo)
    return open_store(repo / "golden").version


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GOLDKEEPER_HOME")}
    return {**clean, "GOLDKEEPER_DATABASE_URL": database_url, "DVC_NO_ANALYTICS": "1"}


def make_repo(tmp_path: Path, dvc_tracked: bool) -> tuple[Path, dict[int, str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "test@goldkeeper.invalid"], repo)
    run(["git", "config", "user.name", "test"], repo)
    run([str(BIN / "goldkeeper"), "init"] + (["--dvc-tracked-store"] if dvc_tracked else []), repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "goldkeeper init"], repo)
    versions = {v: commit_version(repo, v, dvc_tracked) for v in (1, 2, 3)}
    assert len(set(versions.values())) == 3
    return repo, versions


def database_version(repo: Path, env: dict[str, str], out: Path) -> str:
    """Dump the database into a new store (the dump library, in process) and return its dataset version."""
    settings = load_settings(root=repo, env=env)
    return dump(env["GOLDKEEPER_DATABASE_URL"], settings, out).version


def checkout(repo: Path, rev: str, env: dict[str, str]) -> None:
    """git checkout + dvc checkout; --allow-missing: this repository never ran the pipeline, so the
    pipeline's cached outputs (per-query results) have nothing to check out."""
    run(["git", "checkout", "-q", rev], repo)
    run([str(BIN / "dvc"), "checkout", "--allow-missing"], repo, env)


@pytest.mark.slow
def test_older_versions_of_a_git_tracked_store(tmp_path: Path, env: dict[str, str]) -> None:
    repo, versions = make_repo(tmp_path, dvc_tracked=False)
    gk = str(BIN / "goldkeeper")
    # the database holds the newest version first
    run([gk, "restore", "--replace"], repo, env)
    assert database_version(repo, env, tmp_path / "now") == versions[3]
    # --rev reads the tagged store from git objects, without touching the working tree
    run([gk, "restore", "--rev", "v1.0", "--replace"], repo, env)
    assert database_version(repo, env, tmp_path / "v1") == versions[1]
    assert open_store(repo / "golden").version == versions[3]
    # git checkout + dvc checkout + restore --replace
    checkout(repo, "v2.0", env)
    assert open_store(repo / "golden").version == versions[2]
    run([gk, "restore", "--replace"], repo, env)
    assert database_version(repo, env, tmp_path / "v2") == versions[2]


@pytest.mark.slow
def test_older_versions_of_a_dvc_tracked_store(tmp_path: Path, env: dict[str, str]) -> None:
    repo, versions = make_repo(tmp_path, dvc_tracked=True)
    gk = str(BIN / "goldkeeper")
    for rev, version in (("v1.0", 1), ("v2.0", 2), ("main", 3)):
        checkout(repo, rev, env)
        assert open_store(repo / "golden").version == versions[version]
        run([gk, "restore", "--replace"], repo, env)
        assert database_version(repo, env, tmp_path / rev) == versions[version]
