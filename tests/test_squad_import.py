"""SQuAD 2.0 import: the pure mapping, determinism, errors, the committed golden/ and the database round trip."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import psycopg
import pytest

from cli_support import run_cli as run
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.embed import load_embedder
from goldkeeper.embed.fill import embed_chunks
from goldkeeper.errors import RecordValidationError
from goldkeeper.importers.squad import (
    SQUAD_NAMESPACE,
    article_url,
    load_squad,
    parse_squad,
    sample_path,
)
from goldkeeper.store import open_store, write_store

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "golden"

TINY = {
    "version": "v2.0",
    "data": [
        {
            "title": "Côte_d'Ivoire",
            "paragraphs": [
                {
                    "context": "Yamoussoukro is the political capital of Côte d'Ivoire; Abidjan is its largest city.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "What is the political capital of Côte d'Ivoire?",
                            "answers": [
                                {"text": "Yamoussoukro", "answer_start": 0},
                                {"text": "Yamoussoukro", "answer_start": 0},
                                {"text": "Yamoussoukro is the political capital", "answer_start": 0},
                            ],
                            "is_impossible": False,
                        },
                        {
                            "id": "q2",
                            "question": "Who founded Abidjan in 1066?",
                            "answers": [],
                            "plausible_answers": [{"text": "Abidjan", "answer_start": 57}],
                            "is_impossible": True,
                        },
                    ],
                },
                {"context": "A second paragraph without questions.", "qas": []},
            ],
        }
    ],
}


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_mapping_of_a_small_file() -> None:
    records = parse_squad(TINY, file="tiny.json")
    assert len(records.analyses) == 1 and len(records.queries) == 2
    analysis = records.analyses[0]
    assert analysis.id == uuid.uuid5(SQUAD_NAMESPACE, "article:Côte_d'Ivoire")
    assert analysis.url == "https://en.wikipedia.org/wiki/C%C3%B4te_d'Ivoire"
    assert analysis.title == "Côte d'Ivoire" and analysis.status == "completed"
    assert analysis.created_at.isoformat() == "2018-06-11T00:00:00+00:00"
    assert [(c.chunk_index, c.section_title, c.section_path) for c in analysis.chunks] == [
        (0, "Côte d'Ivoire", ["Côte d'Ivoire"]),
        (1, "Côte d'Ivoire", ["Côte d'Ivoire"]),
    ]
    answerable, unanswerable = records.queries
    assert answerable.id == "q1" and answerable.domain == "Côte d'Ivoire"
    assert [r.id for r in answerable.expected.chunks] == [analysis.chunks[0].id]
    assert answerable.expected.chunks[0].relevance == 1 and answerable.expected.analyses == []
    assert answerable.reference_answers == ["Yamoussoukro", "Yamoussoukro is the political capital"]
    assert answerable.expected_behavior.behavior == "answer"
    assert answerable.tags == ["squad-v2", "answerable", "wh:what"]
    assert answerable.difficulty == "easy"  # political, capital, côte, ivoire all in the paragraph
    assert unanswerable.expected.is_empty() and unanswerable.reference_answers == []
    assert unanswerable.expected_behavior.behavior == "refuse"
    assert unanswerable.difficulty == "hard" and unanswerable.tags[1:] == ["unanswerable", "wh:who"]


def test_importing_twice_gives_identical_records() -> None:
    first = load_squad(sample_path())
    second = load_squad(sample_path())
    assert first == second
    assert article_url("Yuan_dynasty") == "https://en.wikipedia.org/wiki/Yuan_dynasty"


def test_sample_counts() -> None:
    records = load_squad(sample_path())
    assert records.counts == {"analyses": 12, "chunks": 468, "queries": 4449, "refuse": 2342}
    assert len({q.id for q in records.queries}) == 4449
    assert len({c.id for a in records.analyses for c in a.chunks}) == 468
    assert all(a.url.startswith("https://en.wikipedia.org/wiki/") for a in records.analyses)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["data"][0].pop("title"), "bad.json: record data[0]: field title: missing"),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(question=7),
            "bad.json: record q1: field question: must be str, got int",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(answers=[]),
            "bad.json: record q1: field answers: an answerable question without answers",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(id="q1"),
            "bad.json: record q1: field id: duplicate question id",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(id="has space"),
            "bad.json: record has space: field id: String should match pattern",
        ),
    ],
)
def test_errors_name_the_file_record_and_field(mutate, expected: str) -> None:
    data = orjson.loads(orjson.dumps(TINY))
    mutate(data)
    with pytest.raises(RecordValidationError) as info:
        parse_squad(data, file="bad.json")
    assert str(info.value).startswith(expected), str(info.value)


def test_the_committed_golden_store_is_the_sample_imported() -> None:
    """golden/ is exactly the packaged sample through the importer and the canonical writer."""
    store = open_store(GOLDEN)
    assert store.manifest.counts == {"analyses": 12, "chunks": 468, "findings": 0, "artifacts": 0, "queries": 4449}
    assert store.manifest.dataset == "squad-v2-dev-12"
    refuse = sum(1 for q in store.queries() if q.expected_behavior.behavior == "refuse")
    assert refuse == 2342


def test_writing_the_parsed_sample_reproduces_golden_bytes(tmp_path: Path) -> None:
    settings = load_settings(root=REPO, env={})
    records = load_squad(sample_path())
    write_store(
        tmp_path / "golden", settings.dataset.name, records.analyses, records.queries, dict(settings.store.shards)
    )
    assert files_of(tmp_path / "golden") == files_of(GOLDEN)


def test_cli_usage_and_data_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["import", "squad"], capsys)
    assert code == 2 and err.strip() == "error: give a SQuAD FILE or --sample (not both)"
    (project / "broken.json").write_text('{"data": [', encoding="utf-8")
    code, _, err = run(
        ["--database-url", "postgresql://nobody@127.0.0.1:1/x", "import", "squad", "broken.json"], capsys
    )
    assert code == 5 and err.startswith(f"error: {project / 'broken.json'}: not valid JSON") and "Traceback" not in err


@pytest.mark.slow
def test_restoring_golden_embeds_every_chunk_and_equals_the_imported_sample(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = load_embedder(EmbeddingParams())
    report = restore_store(database_url, GOLDEN, embedder)
    assert report.analyses.counts()["added"] == 12 and report.queries.counts()["added"] == 4449
    assert (report.chunks_embedded, report.embeddings_computed, report.embeddings_cached) == (468, 468, 0)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(embedding), count(DISTINCT embedding_model), min(embedding_model), "
            "min(vector_dims(embedding)), max(vector_dims(embedding)) FROM golden.chunks"
        ).fetchone()
        assert row == (468, 468, 1, embedder.model_id, 384, 384)
        assert embedder.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2@sha256:")

    # dump -> byte-identical to the committed golden/
    settings = load_settings(root=REPO, env={})
    dump(database_url, settings, out=tmp_path / "golden")
    assert files_of(tmp_path / "golden") == files_of(GOLDEN)

    # importing the sample (through the CLI) finds every record identical: nothing added, nothing embedded
    monkeypatch.chdir(REPO)
    code, out, err = run(["--database-url", database_url, "import", "squad", "--sample", "--json"], capsys)
    assert code == 0, err
    again = orjson.loads(out)
    assert again["analyses"]["counts"]["skipped"] == 12 and again["analyses"]["counts"]["added"] == 0
    assert again["queries"]["counts"]["skipped"] == 4449 and again["queries"]["counts"]["added"] == 0
    assert again["embeddings"]["chunks_embedded"] == 0

    # vectors lost: all 468 come back from the embedding cache, none computed
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT id, embedding::text FROM golden.chunks ORDER BY id").fetchall()
        conn.execute("UPDATE golden.chunks SET embedding = NULL, embedding_model = NULL")
        stats = embed_chunks(conn, embedder)
        assert (stats.total, stats.cached, stats.computed) == (468, 468, 0)
        assert conn.execute("SELECT id, embedding::text FROM golden.chunks ORDER BY id").fetchall() == before
