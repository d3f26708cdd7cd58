"""The shape of the DVC pipeline: the project's own dvc.yaml is the one init writes, every stage calls the
goldkeeper CLI, every parameter a stage names exists, metrics live in Git, and DVC itself accepts it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from goldkeeper.config import load_settings
from goldkeeper.scaffold.init import render_template, template_text

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = yaml.safe_load(template_text("dvc.yaml"))
STAGES = PIPELINE["stages"]


def test_project_pipeline_is_the_template() -> None:
    assert (ROOT / "dvc.yaml").read_text() == render_template("dvc.yaml")


def test_stages() -> None:
    assert list(STAGES) == ["restore", "diff", "eval_retrieval", "eval_grounded", "gate", "report"]
    for name, stage in STAGES.items():
        assert stage["cmd"].startswith("goldkeeper "), f"{name}: stages call the goldkeeper CLI"


def _outputs(stage: dict, kind: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for entry in stage.get(kind, []):
        out.update(entry if isinstance(entry, dict) else {entry: {}})
    return out


#: per-query results grow with the dataset: DVC cache, not Git
CACHED = {"reports/retrieval-per-query.json", "reports/grounded-per-case.json", "reports/trec"}


def test_metrics_are_kept_in_git() -> None:
    """`dvc metrics diff main` reads main's metrics from Git: they must not be in the DVC cache."""
    for name, stage in STAGES.items():
        for kind in ("metrics", "plots", "outs"):
            for path, options in _outputs(stage, kind).items():
                assert options.get("cache", True) is (path in CACHED), f"{name}: {path}: wrong cache setting"
    declared = {p for s in STAGES.values() for p in _outputs(s, "metrics")}
    # metrics files hold metrics only: the gate's full document (run id, paths, retention) is a plain output
    assert declared == {"metrics/retrieval.json", "metrics/grounded.json", "metrics/gate.json"}
    assert "artifacts/gate.json" in _outputs(STAGES["gate"], "outs")
    assert "metrics" not in PIPELINE  # baselines/ (and its .gitkeep) is the gate's input, not a metrics file
    # one percentile curve per mode, whatever the number of queries
    plot = _outputs(STAGES["eval_retrieval"], "plots")["reports/retrieval-plots"]
    assert (plot["x"], plot["y"], plot["template"]) == ("percentile", "ndcg_at_k", "linear")


def test_model_change_reaches_restore_and_evals_but_not_diff() -> None:
    """embedding params are a dependency of restore only; the evals follow through its marker."""
    assert "embedding" in STAGES["restore"]["params"]
    assert "embedding" not in STAGES["diff"].get("params", [])
    for name in ("eval_retrieval", "eval_grounded"):
        assert "reports/restore.json" in STAGES[name]["deps"]
    assert "reports/restore.json" in _outputs(STAGES["restore"], "outs")


def test_the_gate_stage_records_and_does_not_stop_the_pipeline() -> None:
    cmd = STAGES["gate"]["cmd"]
    assert "--output artifacts/gate.json" in cmd and "|| [ $? -eq 10 ]" in cmd
    for path in ("artifacts/evals/runs", "artifacts/evals/trend-index.json"):
        assert _outputs(STAGES["gate"], "outs")[path].get("persist") is True, f"{path}: the trend must survive re-runs"


@pytest.mark.parametrize("params_file", ["template", "project"])
def test_every_stage_parameter_exists(params_file: str, tmp_path: Path) -> None:
    text = template_text("params.yaml") if params_file == "template" else (ROOT / "params.yaml").read_text()
    params = yaml.safe_load(text)
    if params_file == "template":  # init writes every section the project has
        assert set(yaml.safe_load((ROOT / "params.yaml").read_text())) <= set(params)
    for name, stage in STAGES.items():
        for entry in stage.get("params", []):
            key = entry if isinstance(entry, str) else next(iter(entry))
            node = params
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{params_file} params.yaml lacks {key} ({name})"
                node = node[part]
    (tmp_path / "params.yaml").write_text(text)
    load_settings(root=tmp_path, env={})  # the settings accept it


def test_dvc_accepts_the_project_pipeline() -> None:
    dvc = str(Path(sys.executable).parent / "dvc")
    proc = subprocess.run([dvc, "dag", "--dot"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', proc.stdout))
    assert edges == {
        ("restore", "eval_retrieval"),
        ("restore", "eval_grounded"),
        ("eval_retrieval", "gate"),
        ("eval_grounded", "gate"),
        ("gate", "report"),
    }, proc.stdout  # the template inside the package is .dvcignore'd: one pipeline only
