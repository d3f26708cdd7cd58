"""End to end on the project's sample (golden/: 12 SQuAD analyses, 468 chunks, 4,449 queries):
restore it into the real database, change data there, dump, commit, and diff the commits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import jsonschema
import psycopg
import pytest

from diff_support import commit_all, init_repo
from goldkeeper.cli import main
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.dataset.diff.schema import DIFF_JSON_SCHEMA
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.embed import load_embedder
from goldkeeper.store import open_store

REPO = Path(__file__).resolve().parent.parent


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0), capsys.readouterr().out


@pytest.mark.slow
def test_diff_of_database_edits_reports_exactly_those_changes(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init_repo(tmp_path)
    shutil.copy(REPO / "params.yaml", repo / "params.yaml")
    commit_all(repo, "project without a store", "params.yaml")
    shutil.copytree(REPO / "golden", repo / "golden")
    settings = load_settings(root=repo, env={})
    sample = open_store(settings.store_path)
    analyses, queries = list(sample.analyses()), list(sample.queries())
    restore_store(database_url, sample, load_embedder(EmbeddingParams()))
    assert not dump(database_url, settings).changed  # the sample comes back byte for byte
    commit_all(repo, "the sample")

    edited_chunk = analyses[1].chunks[2]
    placeholder_analysis = analyses[4]
    deleted_query = next(q for q in queries if q.expected.chunks)
    new_id = uuid5(NAMESPACE_URL, "https://en.wikipedia.org/wiki/Golden_ratio")
    new_chunks = [uuid5(new_id, f"c{i}") for i in range(3)]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE golden.chunks SET content = content || ' Revised by an editor.' WHERE id = %s", (edited_chunk.id,)
        )
        conn.execute("DELETE FROM golden.queries WHERE id = %s", (deleted_query.id,))
        conn.execute(
            "INSERT INTO golden.analyses (id, url, title, content_type, status, created_at) "
            "VALUES (%s, 'https://en.wikipedia.org/wiki/Golden_ratio', 'Golden ratio', 'text', 'completed', now())",
            (new_id,),
        )
        for index, chunk in enumerate(new_chunks):
            conn.execute(
                "INSERT INTO golden.chunks (id, analysis_id, content, section_title, section_path, content_type, chunk_index) "
                "VALUES (%s, %s, %s, NULL, '{}', 'text', %s)",
                (chunk, new_id, f"The golden ratio, passage {index}.", index),
            )
        conn.execute(
            "UPDATE golden.analyses SET url = 'https://example.com/placeholder' WHERE id = %s",
            (placeholder_analysis.id,),
        )
    assert dump(database_url, settings).changed
    commit_all(repo, "edits made in the database")

    code, out = run_json(capsys, "-C", str(repo), "diff", "HEAD~1", "HEAD", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, DIFF_JSON_SCHEMA)

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
    assert len(content_change["text_diff"]) < len(edited_chunk.content)
    assert ids("queries", "added") == [] and ids("queries", "modified") == []
    assert ids("queries", "removed") == [deleted_query.id]
    assert [(v["analysis_id"], v["url"]) for v in doc["url_violations"]] == [
        (str(placeholder_analysis.id), "https://example.com/placeholder")
    ]
    expected_impact = sorted(
        q.id for q in queries if q.id != deleted_query.id and any(r.id == edited_chunk.id for r in q.expected.chunks)
    )
    assert expected_impact
    assert [i["query_id"] for i in doc["impact"]] == expected_impact
    assert {k: doc["summary"][k] for k in ("analyses", "chunks", "queries")} == {
        "analyses": {"added": 1, "removed": 0, "modified": 1},
        "chunks": {"added": 3, "removed": 0, "modified": 1},
        "queries": {"added": 0, "removed": 1, "modified": 0},
    }
    assert 0 < doc["stats"]["shards_parsed"] < doc["stats"]["shards_total"]

    # every record of the sample at once (the store appears): the PR comment stays under GitHub's limit
    code, md = run_json(capsys, "-C", str(repo), "diff", "HEAD~2", "HEAD", "--format", "md", "--exit-code")
    assert code == 10
    assert len(md) <= 60_000
    assert "| chunks | 471 | 0 | 0 |" in md and "| queries | 4448 | 0 | 0 |" in md
    assert "more (left out to keep the comment under the size limit)" in md
