"""`restore --replace` replaces only the scope the store represents (the manifest's scope.statuses).

A dump writes the analyses whose status is in dump.statuses (default: completed) and records those
statuses in manifest.json; a replace restore of that store must not delete the drafts it never held.
Real `goldkeeper` processes against the real embedded PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest

from golden_support import make_analysis, make_query
from goldkeeper.config import EmbeddingParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.embed import load_embedder
from goldkeeper.models import Manifest, StoreScope
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")


def gk(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": url}
    return subprocess.run([GOLDKEEPER, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(EmbeddingParams())


def statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {str(i): s for i, s in conn.execute("SELECT id, status FROM golden.analyses").fetchall()}


@pytest.fixture
def drafts_and_dump(database_url, embedder, project):
    """3 completed analyses (with queries) and 2 drafts in the database; golden/ dumped from it."""
    completed = [make_analysis(i) for i in range(3)]
    drafts = [make_analysis(i).model_copy(update={"status": "draft"}) for i in range(3, 5)]
    restore_records(database_url, completed + drafts, [make_query(i, a) for i, a in enumerate(completed)], embedder)
    run = gk(project, database_url, "dump")
    assert run.returncode == 0, run.stderr
    manifest = orjson.loads((project / "golden" / "manifest.json").read_bytes())
    assert "scope" not in manifest and manifest["counts"]["analyses"] == 3  # the default scope is not written
    extra = make_analysis(7)  # a completed analysis added after the dump: not in the store, in its scope
    restore_records(database_url, [extra], [], embedder)
    return {str(a.id) for a in drafts}, str(extra.id)


def test_replace_keeps_analyses_outside_the_stores_scope(database_url, project, drafts_and_dump):
    draft_ids, extra_id = drafts_and_dump
    run = gk(project, database_url, "restore", "--replace", "--dry-run")
    assert run.returncode == 0, run.stderr
    assert f"would remove analyses: {extra_id}\n" in run.stdout
    assert "analyses: 0 added, 3 unchanged (skipped), 0 replaced, 1 removed" in run.stdout
    assert "scope: analyses with status completed" in run.stdout
    assert not any(d in run.stdout for d in draft_ids)
    assert extra_id in statuses(database_url)  # a dry run changes nothing

    run = gk(project, database_url, "restore", "--replace", "--json")
    assert run.returncode == 0, run.stderr
    report = orjson.loads(run.stdout)
    assert report["analyses"]["removed"] == [extra_id] and report["scope"] == {"statuses": ["completed"]}
    after = statuses(database_url)
    assert {i for i, s in after.items() if s == "draft"} == draft_ids and extra_id not in after
    assert len(after) == 5


def test_a_dump_of_more_statuses_records_them_and_replaces_them(database_url, embedder, project, drafts_and_dump):
    (project / "params.yaml").write_text("dump:\n  statuses: [draft, completed]\n")
    run = gk(project, database_url, "dump")
    assert run.returncode == 0, run.stderr
    manifest = Manifest.model_validate_json((project / "golden" / "manifest.json").read_bytes())
    assert manifest.scope == StoreScope(statuses=["completed", "draft"]) and manifest.counts["analyses"] == 6
    new_draft = make_analysis(8).model_copy(update={"status": "draft"})  # added after the dump: in scope
    in_review = make_analysis(9).model_copy(update={"status": "review"})  # outside the scope
    restore_records(database_url, [new_draft, in_review], [], embedder)
    run = gk(project, database_url, "restore", "--replace", "--dry-run", "--json")
    assert run.returncode == 0, run.stderr
    report = orjson.loads(run.stdout)
    assert report["analyses"]["removed"] == [str(new_draft.id)]
    assert report["scope"] == {"statuses": ["completed", "draft"]}


def test_the_scope_is_in_the_manifest_and_sorted(tmp_path):
    manifest = write_store(
        tmp_path / "g", "t", [], [], {"analyses": 1, "queries": 1}, StoreScope(statuses=["b", "a", "b"])
    )
    assert manifest.scope == StoreScope(statuses=["a", "b"])
    assert orjson.loads((tmp_path / "g" / "manifest.json").read_bytes())["scope"] == {"statuses": ["a", "b"]}
