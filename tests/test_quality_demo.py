"""The demo's gate and report steps, on the results of earlier (eval) steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goldkeeper.config import EmbeddingParams, load_settings
from goldkeeper.demo import DemoContext
from goldkeeper.demo.steps import gate_step, report_step
from goldkeeper.embed import load_embedder
from goldkeeper.errors import EvalError
from goldkeeper.store import open_store
from quality_support import GROUNDED, RETRIEVAL, float_metrics, write_rubric_floors, write_tiny_store


def context(project: Path) -> DemoContext:
    write_tiny_store(project / "golden")
    write_rubric_floors(project)
    store = open_store(project / "golden")
    return DemoContext(
        settings=load_settings(project, env={}),
        url="postgresql://unused",
        embedder=load_embedder(EmbeddingParams()),
        home=project / ".goldkeeper" / "demo",
        store_path=project / "golden",
        dataset=store.manifest.dataset,
        version=store.version,
    )


def test_gate_and_report_steps(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GOLDKEEPER_MODEL_VERSION", "GOLDKEEPER_PROMPT_VERSION", "GOLDKEEPER_EVAL_RETENTION_MAX_RUNS"):
        monkeypatch.delenv(var, raising=False)
    ctx = context(project)
    (project / "metrics").mkdir()
    (project / "metrics" / "retrieval.json").write_text(json.dumps(RETRIEVAL))
    ctx.results["eval_retrieval"] = {"out": "metrics/retrieval.json"}
    ctx.results["eval_grounded"] = {"metrics": GROUNDED}
    gated = gate_step(ctx)
    assert gated.summary.startswith("PASS (review priority none; baseline tiny-") and "recorded" in gated.summary
    assert gated.data["status"] == "pass"
    baseline = json.loads(next((ctx.home / "baselines").glob("*.json")).read_text())
    assert baseline["identity"]["modelVersion"] == f"{ctx.embedder.model_id}+answerer=extractive;judge=aligned"
    assert set(baseline["metrics"]) == set(float_metrics())
    reported = report_step(ctx)
    dashboard = ctx.home / "artifacts" / "evals" / "index.html"
    assert reported.summary.startswith(f"dashboard: {dashboard}") and dashboard.is_file()
    assert not (project / "baselines").exists() and not (project / "artifacts").exists()


def test_gate_step_without_eval_results_is_an_error(project: Path) -> None:
    with pytest.raises(EvalError, match="no eval metrics to gate"):
        gate_step(context(project))
