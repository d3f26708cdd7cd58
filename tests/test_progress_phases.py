"""Long phases that advance nothing (one SQL statement, a whole-store verify) still show progress: the plain
progress's ticker prints a line while a task is open, and verify, fmt and restore wrap each phase in a task.
Without a terminal the lines go to stderr only: ``--json`` keeps stdout one document."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import goldkeeper.cli.output as output
from cli_support import run_cli as run
from goldkeeper.config import EmbeddingParams, RetrievalParams, load_settings
from goldkeeper.dataset.restore import restore_store
from goldkeeper.dataset.verify import verify_database
from goldkeeper.embed import load_embedder
from goldkeeper.evals.retrieval import run_retrieval, write_outputs
from goldkeeper.importers.registry import export_file, read_file
from goldkeeper.importers.squad import load_squad, read_squad, sample_path
from goldkeeper.quality.report import write_report
from goldkeeper.quality.trend import TrendStore
from goldkeeper.store import open_store, write_store
from progress_support import RecordingProgress, SteppingClock


@pytest.fixture
def small_store(project: Path) -> Path:
    records = load_squad(sample_path())
    analysis = records.analyses[0]
    analysis = analysis.model_copy(update={"chunks": analysis.chunks[:3]})
    chunk_ids = {c.id for c in analysis.chunks}
    queries = [q for q in records.queries if q.domain == analysis.title][:10]
    queries = [q for q in queries if not q.expected.chunks or q.expected.chunks[0].id in chunk_ids]
    (project / "params.yaml").write_text("store:\n  path: golden\n")
    write_store(project / "golden", "slice", [analysis], queries, {"analyses": 2, "queries": 2})
    return project / "golden"


def test_a_step_that_advances_nothing_gets_a_line_from_the_ticker(capsys: pytest.CaptureFixture[str]) -> None:
    with output.PlainProgress(0.1).task("building the vector index (HNSW)", None):
        time.sleep(0.5)  # one long statement: no advance at all
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("building the vector index (HNSW) ... ("), lines
    assert lines[-1].startswith("building the vector index (HNSW) done ("), lines


def test_quick_step_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with output.PlainProgress(5).task("comparing with the database", None):
        pass
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("argv", "phase"), [(["verify"], "verifying shards: 1/"), (["fmt"], "rewriting shards: 1 ")])
def test_verify_and_fmt_progress_on_stderr_with_json_on_stdout(
    small_store: Path,
    argv: list[str],
    phase: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(output, "time", SteppingClock())
    monkeypatch.setenv("GOLDKEEPER_PROGRESS_SECONDS", "1")
    if argv == ["fmt"]:  # a hand edit for fmt to rewrite
        shard = next(small_store.glob("queries/*.json"))
        shard.write_text(json.dumps(json.loads(shard.read_text())))
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    json.loads(out)  # stdout: one JSON document, no progress in it
    assert any(line.startswith(phase) for line in err.splitlines()), err
    assert "\x1b" not in err


def test_restore_and_verify_db_wrap_each_phase_in_a_task(
    small_store: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("goldkeeper.db.schema.HNSW_REBUILD_MIN_ROWS", 1)  # these 3 chunks count as a large load
    embedder = load_embedder(EmbeddingParams())
    progress = RecordingProgress()
    restore_store(database_url, small_store, embedder, progress=progress)
    report = verify_database(
        database_url, small_store, load_settings(small_store.parent, env={}), embedder, progress=progress
    )
    assert report.ok(), report
    for phase in (
        "verifying shards",
        "comparing with the database",
        "writing the database",
        "building the vector index (HNSW)",
        "checking the database",
        "comparing the database's records with the store",
    ):
        assert phase in progress.names, progress.names


def test_diff_of_a_large_change_reports_per_record_progress_on_stderr(
    small_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    new = small_store.parent / "new"
    shutil.copytree(small_store, new)
    for shard in new.glob("queries/*.json"):  # every query modified: field by field costs seconds at scale
        records = json.loads(shard.read_text())
        shard.write_text(json.dumps([{**r, "text": r["text"] + " (edited)"} for r in records]))
    monkeypatch.setattr(output, "time", SteppingClock())
    monkeypatch.setenv("GOLDKEEPER_PROGRESS_SECONDS", "1")
    code, out, err = run(["diff", str(small_store), str(new), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["queries"]["modified"], out[:300]
    assert any(line.startswith("comparing queries: 1/") for line in err.splitlines()), err


def test_eval_retrieval_scores_and_writes_in_tasks(small_store: Path, database_url: str, tmp_path: Path) -> None:
    embedder = load_embedder(EmbeddingParams())
    restore_store(database_url, small_store, embedder)
    progress = RecordingProgress()
    result = run_retrieval(database_url, embedder, RetrievalParams(), progress=progress)
    assert result.modes, result
    written = write_outputs(result, tmp_path / "m.json", tmp_path / "pq.json", tmp_path / "trec", progress=progress)
    assert "run.hybrid" in written, written
    assert progress.names == ["searching", "scoring", "writing the results"], progress.names


def test_whole_file_exports_and_imports_in_a_task(small_store: Path, tmp_path: Path) -> None:
    """A backup or SQuAD file is parsed whole before the database is touched: seconds for a large one."""
    backup = tmp_path / "backup.json"
    progress = RecordingProgress()
    export_file("backup", open_store(small_store), backup, progress=progress)
    assert read_file("backup", backup, None, progress).analyses
    assert read_squad(sample_path(), progress=progress).queries
    assert progress.names == ["writing the backup file", "reading the backup file", "reading the squad file"]


def test_report_is_written_in_a_task(tmp_path: Path) -> None:
    """Every stored run read and the summary schema-validated: seconds for thousands of runs (gate and report)."""
    progress = RecordingProgress()
    files = write_report(TrendStore(tmp_path / "artifacts" / "evals"), progress=progress)
    assert files.index_html.is_file()
    assert progress.names == ["writing the report"], progress.names
