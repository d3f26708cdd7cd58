"""End to end: restore into the real database, change data there, dump, commit, and diff the commits."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import psycopg
import pytest

from diff_support import commit_all, dataset, init_repo
from goldkeeper.cli import main
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.dump import dump
from goldkeeper.embed import load_embedder
from goldkeeper.restore import restore_store
from goldkeeper.store import write_store


@pytest.mark.slow
def test_diff_of_database_edits_reports_exactly_those_changes(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_repo(tmp_path)
    analyses, queries = dataset(analyses=6, queries=12)
    settings = load_settings(root=repo, env={})
    write_store(settings.store_path, settings.dataset.name, analyses, queries, dict(settings.store.shards))
    restore_store(database_url, settings.store_path, load_embedder(EmbeddingParams()))
    first = dump(database_url, settings)  # the store as the database gives it back
    commit_all(repo, "golden from the database")
    assert not first.changed

    edited_chunk = analyses[1].chunks[2]
    placeholder_analysis = analyses[4]
    deleted_query = queries[5]
    new_id = uuid5(NAMESPACE_URL, "brand-new-analysis")
    new_chunks = [uuid5(new_id, f"c{i}") for i in range(3)]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE golden.chunks SET content = content || ' Revised by an editor.' WHERE id = %s", (edited_chunk.id,)
        )
        conn.execute("DELETE FROM golden.queries WHERE id = %s", (deleted_query.id,))
        conn.execute(
            "INSERT INTO golden.analyses (id, url, title, content_type, status, created_at) "
            "VALUES (%s, 'https://docs.acme-corp.io/articles/new', 'A new article', 'text', 'completed', now())",
            (new_id,),
        )
        for index, chunk in enumerate(new_chunks):
            conn.execute(
                "INSERT INTO golden.chunks (id, analysis_id, content, section_title, section_path, content_type, chunk_index) "
                "VALUES (%s, %s, %s, NULL, '{}', 'text', %s)",
                (chunk, new_id, f"new passage number {index}", index),
            )
        conn.execute(
            "UPDATE golden.analyses SET url = 'https://example.com/placeholder' WHERE id = %s", (placeholder_analysis.id,)
        )
    second = dump(database_url, settings)
    assert second.changed
    commit_all(repo, "edits made in the database")

    with pytest.raises(SystemExit) as exit_info:
        main(["-C", str(repo), "diff", "HEAD~1", "HEAD", "--format", "json"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    doc = json.loads(out)

    def ids(kind: str, action: str) -> list[str]:
        return [item["id"] for item in doc[kind][action]]

    assert ids("analyses", "added") == [str(new_id)]
    assert ids("analyses", "removed") == []
    assert ids("analyses", "modified") == [str(placeholder_analysis.id)]
    assert doc["analyses"]["modified"][0]["changes"] == [
        {
            "path": "url",
            "action": "changed",
            "old": placeholder_analysis.url,
            "new": "https://example.com/placeholder",
            "text_diff": None,
        }
    ]
    assert ids("chunks", "added") == sorted(str(c) for c in new_chunks)
    assert {c["analysis_id"] for c in doc["chunks"]["added"]} == {str(new_id)}
    assert ids("chunks", "removed") == []
    assert ids("chunks", "modified") == [str(edited_chunk.id)]
    (content_change,) = doc["chunks"]["modified"][0]["changes"]
    assert content_change["path"] == "content"
    assert content_change["text_diff"].endswith("{+Revised by an editor.+}")
    assert ids("queries", "added") == [] and ids("queries", "modified") == []
    assert ids("queries", "removed") == [deleted_query.id]
    assert [(v["analysis_id"], v["url"]) for v in doc["url_violations"]] == [
        (str(placeholder_analysis.id), "https://example.com/placeholder")
    ]
    expected_impact = sorted(
        q.id
        for q in queries
        if q.id != deleted_query.id
        and (
            any(r.id == edited_chunk.id for r in q.expected.chunks)
            or any(r.id in (placeholder_analysis.id, analyses[1].id) for r in q.expected.analyses)
        )
    )
    assert expected_impact
    assert [i["query_id"] for i in doc["impact"]] == expected_impact
    summary = doc["summary"]
    assert (summary["analyses"], summary["chunks"], summary["queries"]) == (
        {"added": 1, "removed": 0, "modified": 1},
        {"added": 3, "removed": 0, "modified": 1},
        {"added": 0, "removed": 1, "modified": 0},
    )
    assert doc["new"]["counts"]["chunks"] == doc["old"]["counts"]["chunks"] + 3
