"""`eval grounded` progress moves during retrieval and sentence embedding (issue 14, point 5): per batch,
on a restored database with the real embedder; without a terminal the CLI prints a line every
GOLDKEEPER_PROGRESS_SECONDS for these phases."""

from __future__ import annotations

from pathlib import Path

import pytest

import goldkeeper.cli.output as output
import goldkeeper.evals.answerers.extractive as extractive
from cli_support import run_cli as run
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.embed import load_embedder
from goldkeeper.evals.grounded.run import run_grounded
from goldkeeper.importers.squad import load_squad, sample_path
from goldkeeper.store import write_store
from progress_support import RecordingProgress, SteppingClock

PARAMS = """\
store:
  path: golden
retrieval:
  query_batch_size: {batch}
grounded:
  as_of: "2026-11-01T00:00:00Z"
"""


@pytest.fixture(scope="module")
def squad_slice():
    records = load_squad(sample_path())
    analysis = records.analyses[0]
    analysis = analysis.model_copy(update={"chunks": analysis.chunks[:3]})
    chunk_ids = {c.id for c in analysis.chunks}
    keep = [q for q in records.queries if q.domain == analysis.title][:40]
    keep = [q for q in keep if not q.expected.chunks or q.expected.chunks[0].id in chunk_ids]
    return analysis, keep


@pytest.fixture
def restored(project: Path, squad_slice, database_url: str) -> str:
    analysis, queries = squad_slice
    (project / "params.yaml").write_text(PARAMS.format(batch=8))
    write_store(project / "golden", "slice", [analysis], queries, {"analyses": 1, "queries": 2})
    restore_store(database_url, project / "golden", load_embedder(EmbeddingParams()))
    return database_url


def test_retrieval_and_sentence_embedding_advance_per_batch(
    project: Path, squad_slice, restored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extractive, "EMBED_BATCH", 16)
    progress = RecordingProgress()
    report = run_grounded(load_settings(project, env={}), progress=progress, database_url=restored)
    n = len(squad_slice[1])
    assert report.metrics["cases"] == n
    retrieving = progress.named("retrieving")
    assert retrieving.total == n and sum(retrieving.advances) == n
    assert retrieving.advances[:-1] == [8] * (len(retrieving.advances) - 1) and len(retrieving.advances) > 2
    embedding = progress.named("embedding sentences")
    assert sum(embedding.advances) == embedding.total
    moving = [a for a in embedding.advances if a]
    assert len(moving) >= 3 and max(moving) <= 16  # one step per batch of 16, not one step at the end
    # before any answer: the store read whole and every chunk's words indexed (seconds on a large dataset)
    assert [t.description for t in progress.tasks][:2] == ["reading the store", "indexing the chunks' words"]
    indexing = progress.named("indexing the chunks' words")
    assert indexing.total == 3 and sum(indexing.advances) == 3


def test_cli_without_a_terminal_prints_lines_for_both_phases(
    project: Path, restored: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain progress (stderr is no terminal) prints when GOLDKEEPER_PROGRESS_SECONDS passed at an advance: with a
    clock that moves a second per reading, every per-batch advance of both phases is a line."""
    (project / "params.yaml").write_text(PARAMS.format(batch=8))
    monkeypatch.setattr(extractive, "EMBED_BATCH", 16)
    monkeypatch.setattr(output, "time", SteppingClock())
    monkeypatch.setenv("GOLDKEEPER_PROGRESS_SECONDS", "1")
    code, _, err = run(["--database-url", restored, "eval", "grounded"], capsys)
    assert code == 0, err
    lines = err.splitlines()
    retrieving = [line for line in lines if line.startswith("retrieving: ") and " ... " in line]
    embedding = [line for line in lines if line.startswith("embedding sentences: ") and " ... " in line]
    assert retrieving[0].startswith("retrieving: 8/") and len(retrieving) >= 4, err
    assert len(embedding) >= 3, err
    assert any(line.startswith("retrieving: ") and "done" in line for line in lines), err
