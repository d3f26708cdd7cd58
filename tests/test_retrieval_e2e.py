"""Retrieval eval end to end on a small slice of the project's real golden dataset, restored into PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from goldkeeper.cli import _register_all
from goldkeeper.cli.main import cli
from goldkeeper.config import EmbeddingParams, RetrievalParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.db.schema import NO_GOLDEN_SCHEMA
from goldkeeper.db.search import Hit, rrf_fuse
from goldkeeper.embed import load_embedder
from goldkeeper.evals.retrieval import run_retrieval, write_outputs
from goldkeeper.evals.trec import evaluate_files
from goldkeeper.store import open_store
from retrieval_support import module_database

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(EmbeddingParams())


@pytest.fixture(scope="module")
def golden_slice():
    """Two real analyses, their answerable queries (first 25) and 5 queries that expect a refusal."""
    store = open_store(REPO / "golden")
    analyses = sorted(store.analyses(), key=lambda a: len(a.chunks))[:2]
    chunk_ids = {c.id for a in analyses for c in a.chunks}
    domains = {a.title for a in analyses}
    answerable, refusals = [], []
    for q in store.queries():
        if q.expected.chunks and all(r.id in chunk_ids for r in q.expected.chunks) and not q.expected.analyses:
            answerable.append(q)
        elif q.expected.chunks or q.expected.analyses:
            continue
        elif q.domain in domains:
            refusals.append(q)
    assert len(answerable) >= 25 and len(refusals) >= 5
    return analyses, answerable[:25] + refusals[:5]


@pytest.fixture(scope="module")
def restored(pg_admin_url, embedder, golden_slice):
    """One database with the slice restored, shared by the read-only tests of this module."""
    analyses, queries = golden_slice
    with module_database(pg_admin_url) as url:
        restore_records(url, analyses, queries, embedder)
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["vector", "fulltext", "hybrid"])
def test_each_mode_scores_the_real_slice(restored, embedder, mode, tmp_path):
    result = run_retrieval(restored, embedder, RetrievalParams(query_batch_size=7), modes=[mode])
    assert result.evaluated == 25
    assert result.excluded_refusal == 5 and result.excluded_no_relevant == 0
    summary = result.modes[0].report.summary
    # SQuAD questions share words with their paragraph: every mode finds most answers in the top 10
    assert summary["success_10"] >= 0.6
    assert 0 < summary["recip_rank"] <= 1
    metrics = result.metrics()
    assert metrics[f"{mode}.pass_rate_10"] == round(summary["success_10"], 6)
    assert metrics["queries.evaluated"] == 25

    written = write_outputs(result, tmp_path / "m.json", tmp_path / "pq.json", tmp_path / "trec")
    # the TREC files give the same numbers through the trec_eval-compatible path
    again = evaluate_files(
        written["qrels"], written[f"run.{mode}"], ["P.10", "ndcg_cut.10", "recip_rank"], complete=True
    )
    for label in ("P_10", "ndcg_cut_10", "recip_rank"):
        assert again.summary[label] == pytest.approx(summary[label], abs=1e-9)
    records = json.loads((tmp_path / "pq.json").read_text())
    assert len(records) == 25 and {r["mode"] for r in records} == {mode}
    for r in records:
        hit = r["first_relevant_rank"]
        assert r["recip_rank"] == (round(1 / hit, 6) if hit else 0.0)
        assert len(r["retrieved"]) <= 10


@pytest.mark.slow
def test_cli_writes_flat_metrics_and_per_query_file(restored, project):
    _register_all()
    result = CliRunner().invoke(
        cli, ["--database-url", restored, "eval", "retrieval", "--k", "5", "--out", "out/m.json", "--json"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    on_disk = json.loads((project / "out" / "m.json").read_text())
    assert printed == on_disk
    for mode in ("vector", "fulltext", "hybrid"):
        for key in ("P_5", "recall_5", "recip_rank", "ndcg_cut_5", "map", "pass_rate_5"):
            assert isinstance(on_disk[f"{mode}.{key}"], float)
    assert all(not isinstance(v, dict) for v in on_disk.values())  # flat for dvc metrics
    assert (project / "reports" / "retrieval-per-query.json").exists()
    assert (project / "reports" / "retrieval-hybrid.run").exists()


def test_eval_on_an_empty_database_is_a_clear_error(database_url, project):
    from goldkeeper.db.schema import init_schema

    init_schema(database_url, 384)
    _register_all()
    result = CliRunner().invoke(cli, ["--database-url", database_url, "eval", "retrieval", "--mode", "fulltext"])
    assert result.exit_code != 0
    assert "no golden queries" in str(result.exception or result.output)


def test_eval_on_a_database_without_the_golden_schema_is_a_clear_error(database_url, project):
    """pgvector there, goldkeeper's schema not yet: `relation "golden.chunks" does not exist` with its SQL."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    _register_all()
    result = CliRunner().invoke(cli, ["--database-url", database_url, "eval", "retrieval", "--mode", "fulltext"])
    assert result.exit_code != 0
    assert str(result.exception) == NO_GOLDEN_SCHEMA


def test_rrf_fuses_by_reciprocal_rank():
    vector = [Hit("a", 0.9, 1), Hit("b", 0.8, 2)]
    text = [Hit("b", 3.0, 1), Hit("c", 2.0, 2)]
    fused = rrf_fuse([vector, text], k=60)
    assert [h.chunk_id for h in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)
    assert [h.rank for h in fused] == [1, 2, 3]
