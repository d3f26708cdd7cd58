"""The project's own golden/ (12 SQuAD analyses, 468 chunks, 4,449 queries): restore -> dump is byte-identical,
and so is dump -> restore --replace -> dump after the database was damaged by hand."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from golden_support import store_bytes
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.dataset.restore import restore_store
from goldkeeper.embed import load_embedder

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "golden"


@pytest.mark.slow
def test_sample_round_trip_is_byte_identical(database_url: str, tmp_path: Path) -> None:
    embedder = load_embedder(EmbeddingParams())
    settings = load_settings(root=REPO, env={})
    golden = store_bytes(GOLDEN)

    report = restore_store(database_url, GOLDEN, embedder)
    assert (len(report.analyses.added), len(report.queries.added), report.chunks_embedded) == (12, 4449, 468)
    first = dump(database_url, settings, tmp_path / "dumped")
    assert store_bytes(tmp_path / "dumped") == golden

    with psycopg.connect(database_url) as conn:  # a bad migration / a careless DELETE
        conn.execute("DELETE FROM golden.analyses WHERE id = (SELECT id FROM golden.analyses ORDER BY id LIMIT 1)")
        conn.execute("UPDATE golden.queries SET tags = '{damaged}' WHERE id IN (SELECT id FROM golden.queries LIMIT 7)")
        conn.execute(
            "DELETE FROM golden.query_expected WHERE query_id IN (SELECT id FROM golden.queries LIMIT 3 OFFSET 100)"
        )
    report = restore_store(database_url, tmp_path / "dumped", embedder, replace=True)
    assert len(report.analyses.added) == 1 and len(report.queries.replaced) >= 7
    assert report.embeddings_computed == 0  # the deleted analysis's vectors come back from the embedding cache
    second = dump(database_url, settings, tmp_path / "dumped")
    assert store_bytes(tmp_path / "dumped") == golden
    assert second.version == first.version and not second.changed
