"""``goldkeeper demo`` end to end: a fresh embedded server, restore, verify, summary, server stopped."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from cli_support import run_cli as run
from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.demo import DEMO_STEPS, DemoStep, StepResult, run_demo
from goldkeeper.demo.run import SAMPLE_RUBRIC_FLOORS, demo_settings
from goldkeeper.embed import load_embedder
from goldkeeper.errors import VerificationFailed
from goldkeeper.importers.squad import parse_squad
from goldkeeper.store import write_store
from test_squad_import import TINY, files_of

REPO = Path(__file__).resolve().parent.parent


def small_project(project: Path) -> Path:
    (project / "params.yaml").write_text("dataset:\n  name: tiny\nstore:\n  shards: {analyses: 2, queries: 2}\n")
    records = parse_squad(TINY, file="tiny.json")
    write_store(project / "golden", "tiny", records.analyses, records.queries, {"analyses": 2, "queries": 2})
    return project / "golden"


@pytest.mark.slow
def test_demo_restores_and_verifies_the_project_golden_store(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_project(project)
    code, out, err = run(["demo", "--json"], capsys)
    assert code == 0, err
    report = orjson.loads(out)
    names = [s["name"] for s in report["steps"]]
    assert names[:2] == ["restore", "verify"] and "eval_retrieval" in names  # later capabilities append steps
    assert report["dataset"] == "tiny" and report["counts"]["chunks"] == 2 and report["counts"]["queries"] == 2
    assert report["model_id"] == load_embedder(EmbeddingParams()).model_id
    restore = report["steps"][0]["data"]
    assert restore["embeddings"]["chunks_embedded"] == 2 and restore["analyses"]["counts"]["added"] == 1
    assert report["steps"][1]["data"]["valid"] is True
    home = project / ".goldkeeper" / "demo"
    assert report["home"] == str(home)
    assert not EmbeddedServer(home).status().running
    assert not (project / ".goldkeeper" / "pgdata").exists()  # the project's own database is not used

    # A second run starts from scratch again (fresh database: nothing skipped).
    code, out, err = run(["demo"], capsys)
    assert code == 0, err
    assert (
        "golden/ -> database: 1 analyses (2 chunks), 2 queries; 2 chunks embedded (2 computed, 0 from the cache)" in out
    )
    assert "dataset tiny: 1 analyses, 2 chunks, 2 queries" in out
    assert "embedding model sentence-transformers/all-MiniLM-L6-v2@sha256:" in out


@pytest.mark.slow
def test_a_failing_step_stops_the_demo_and_the_server(project: Path) -> None:
    small_project(project)
    settings = load_settings(root=project, env={})

    def corrupt(ctx) -> StepResult:  # a chunk without embedding: verify --db must fail
        import psycopg

        with psycopg.connect(ctx.url) as conn:
            conn.execute("UPDATE golden.chunks SET embedding = NULL WHERE chunk_index = 1")
        return StepResult("corrupted one embedding")

    steps = [DEMO_STEPS[0], DemoStep("corrupt", corrupt), DEMO_STEPS[1]]
    with pytest.raises(VerificationFailed, match="db.chunk_not_embedded"):
        run_demo(settings, steps=steps)
    assert not EmbeddedServer(project / ".goldkeeper" / "demo").status().running


@pytest.mark.slow
def test_demo_without_golden_uses_the_bundled_sample(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the project's params without its rubric: section (a user's params.yaml sets no floors)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    del params["rubric"]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    code, out, err = run(["demo", "--json"], capsys)
    assert code == 0, err
    report = orjson.loads(out)
    # without floors of its own the sample is gated at its floors, and says so; the gate passes on it
    assert any(
        note.startswith("the bundled sample is gated at rubric floors grounded_precision 0.7")
        for note in report["notes"]
    )
    assert [s["data"]["status"] for s in report["steps"] if s["name"] == "gate"] == ["pass"]
    assert report["counts"] == {"analyses": 12, "artifacts": 0, "chunks": 468, "findings": 0, "queries": 4449}
    embeddings = report["steps"][0]["data"]["embeddings"]
    assert (embeddings["chunks_embedded"], embeddings["computed"]) == (468, 468)
    assert report["steps"][1]["data"]["checked"]["db chunks"] == 468
    # the sample, imported and dumped with the project's params, is byte for byte the committed golden/
    assert files_of(project / ".goldkeeper" / "demo" / "golden") == files_of(REPO / "golden")
    from goldkeeper.store import open_store

    assert report["version"] == open_store(REPO / "golden").version
    # the imported sample's version is recorded: no db.version warning, metrics and baseline labelled with it
    assert report["steps"][1]["data"]["warnings"] == 0
    metrics = orjson.loads((project / ".goldkeeper" / "demo" / "metrics" / "retrieval.json").read_bytes())
    assert (metrics["dataset_version"], metrics["dataset_version_differs"]) == (report["version"], False)


def test_demo_never_wipes_a_folder_it_did_not_write(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # with GOLDKEEPER_HOME set to a folder of the user's (a home directory), <home>/demo is theirs: the demo
    # deleted it whole before starting its fresh server there
    small_project(project)
    home = project / "me"
    (home / "demo" / "reports").mkdir(parents=True)
    (home / "demo" / "notes.txt").write_text("mine\n")
    (home / "demo" / "reports" / "q3.md").write_text("mine too\n")
    monkeypatch.setenv("GOLDKEEPER_HOME", str(home))
    code, out, err = run(["demo"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"error: {home / 'demo'}: holds notes.txt, which goldkeeper demo did not write; the demo wipes this folder "
        "at each run, so it will not run there: move it, or set GOLDKEEPER_HOME to another folder\n"
    )
    assert (home / "demo" / "notes.txt").read_text() == "mine\n" and (home / "demo" / "reports" / "q3.md").exists()
    assert not (home / "demo" / "pgdata").exists()  # refused before a server was started there


def test_the_samples_floors_are_the_repositorys_and_apply_only_where_params_set_none(project: Path) -> None:
    repo = load_settings(root=REPO, env={}).rubric
    assert {name: getattr(repo, name) for name in SAMPLE_RUBRIC_FLOORS} == SAMPLE_RUBRIC_FLOORS
    # an empty folder: the bundled sample, its floors, one note
    settings, notes = demo_settings(load_settings(root=project, env={}), mapped=False)
    assert settings.rubric.grounded_precision == 0.70 and len(notes) == 1
    assert notes[0].endswith("your own data's default is 0.95 (params.yaml rubric:)")
    # a floor set in params.yaml is the user's: every floor stays as params.yaml says
    (project / "params.yaml").write_text("rubric:\n  citation_coverage: 0.9\n")
    settings, notes = demo_settings(load_settings(root=project, env={}), mapped=True)
    assert (settings.rubric.grounded_precision, settings.rubric.citation_coverage, len(notes)) == (0.95, 0.9, 1)
    # a golden store of the project's own: its default floors
    small_project(project)
    settings, notes = demo_settings(load_settings(root=project, env={}), mapped=False)
    assert (settings.rubric.grounded_precision, notes) == (0.95, ())
