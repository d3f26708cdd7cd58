"""The Git-native workflow end to end, with the real CLIs: git, `goldkeeper init`, `goldkeeper import squad`,
`dvc repro` (twice: the second runs nothing), a data change and a parameter change, `dvc metrics diff`,
the dataset diff report, `dvc exp run -S embedding.model_path=...` with a second embedding model, and the
gate outcome (recorded by the pipeline, enforced by the PR workflow's last step).

No database URL is configured: every stage uses the embedded PostgreSQL in the repository's
.goldkeeper/, started and stopped by each command, its data kept on disk between stages.
To keep the runtime modest the repository imports a slice of the bundled SQuAD sample (two articles,
a few paragraphs each) with the real importer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.embed import VENDORED_MODEL_DIR
from goldkeeper.scaffold.init import render_template
from goldkeeper.store import open_store, write_store

BIN = Path(sys.executable).parent
GK, DVC = str(BIN / "goldkeeper"), str(BIN / "dvc")
SAMPLE = Path(__import__("goldkeeper").__file__).parent / "data" / "squad-v2-dev-12-articles.json"
STAGES = {"restore", "diff", "eval_retrieval", "eval_grounded", "gate", "report"}


def run(
    args: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode in ok, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def repro(repo: Path, env: dict[str, str], *args: str) -> set[str]:
    """`dvc repro`; the names of the stages that ran."""
    proc = run([DVC, "repro", *args], repo, env)
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def squad_slice(path: Path) -> None:
    data = json.loads(SAMPLE.read_text())
    articles = []
    for article in data["data"][:2]:
        articles.append({**article, "paragraphs": article["paragraphs"][:4]})
    path.write_text(json.dumps({**data, "data": articles}))


def second_model(target: Path) -> Path:
    """A copy of the vendored model with one layer's bias shifted: another model (other sha256, other vectors)."""
    import onnx
    from onnx import numpy_helper

    shutil.copytree(VENDORED_MODEL_DIR, target)
    model = onnx.load(str(target / "model.onnx"))
    for init in model.graph.initializer:
        if init.name.endswith("embeddings.LayerNorm.bias"):
            values = numpy_helper.to_array(init)
            shifted = values + np.random.default_rng(7).normal(0, 0.5, values.shape).astype(values.dtype)
            init.CopyFrom(numpy_helper.from_array(shifted, init.name))
            break
    else:
        raise AssertionError("no embeddings.LayerNorm.bias initializer in the vendored model")
    onnx.save(model, str(target / "model.onnx"))
    return target


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "repo"
    root.mkdir()
    yield root
    EmbeddedServer(root / ".goldkeeper").stop()  # in case a failed command left it running


@pytest.fixture
def env() -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL", "GOLDKEEPER_HOME", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    }
    return {**clean, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def gate_enforcement_command() -> str:
    """The command of the PR workflow's last step (reads artifacts/gate.json)."""
    steps = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml"))["jobs"]["pipeline"]["steps"]
    return steps[-1]["run"]


@pytest.mark.slow
def test_git_native_workflow_end_to_end(tmp_path: Path, repo: Path, env: dict[str, str]) -> None:
    # -- a new repository, goldkeeper init, the sample imported and dumped into golden/
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["git", "config", "user.email", "e2e@goldkeeper.invalid"], repo, env)
    run(["git", "config", "user.name", "e2e"], repo, env)
    run([GK, "init"], repo, env)
    squad_slice(tmp_path / "squad.json")
    run([GK, "import", "squad", str(tmp_path / "squad.json")], repo, env)
    run([GK, "dump"], repo, env)
    store = open_store(repo / "golden")
    assert store.manifest.counts["analyses"] == 2 and store.manifest.counts["queries"] > 20
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "golden dataset v1"], repo, env)

    # -- dvc repro: every stage runs; again: none does
    assert repro(repo, env) == STAGES
    for path in (
        "reports/restore.json",
        "metrics/retrieval.json",
        "metrics/grounded.json",
        "artifacts/gate.json",
        "reports/retrieval-per-query.json",
        "reports/grounded-per-case.json",
        "artifacts/evals/summary.md",
        "reports/dataset-diff.md",
    ):
        assert (repo / path).is_file(), path
    # per-query results live in the DVC cache, git ignores them; the marker is git-ignored too
    for path in (
        "reports/retrieval-per-query.json",
        "reports/grounded-per-case.json",
        "reports/trec",
        "reports/restore.json",
    ):
        assert run(["git", "check-ignore", "-q", path], repo, env, ok=(0, 1)).returncode == 0, f"{path} not ignored"
    marker = json.loads((repo / "reports/restore.json").read_text())
    assert marker["version"] == store.version and marker["counts"] == store.manifest.counts
    assert repro(repo, env) == set()
    assert json.loads(run([DVC, "status", "--json"], repo, env).stdout) == {}

    # -- accept the metrics as the baseline; commit the pipeline's results on main
    run([GK, "baseline", "record"], repo, env)
    assert repro(repo, env) == {"gate", "report"}  # baselines/ is their dependency only
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "pipeline results and baseline"], repo, env)
    assert repro(repo, env) == set()

    # -- a pull request: change the data (edit a chunk, drop a query) and a parameter
    run(["git", "checkout", "-q", "-b", "change"], repo, env)
    analyses, queries = list(store.analyses()), list(store.queries())
    edited = analyses[0].chunks[0]
    new_chunk = edited.model_copy(update={"content": edited.content + " This sentence was added in review."})
    analyses[0] = analyses[0].model_copy(update={"chunks": [new_chunk, *analyses[0].chunks[1:]]})
    dropped = queries.pop()
    write_store(repo / "golden", store.manifest.dataset, analyses, queries, dict(store.manifest.shard_counts))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["grounded"]["top_k"] = max(1, int(params["grounded"]["top_k"]) - 2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro(repo, env) == STAGES

    # the dataset diff report names what changed
    report = (repo / "reports/dataset-diff.md").read_text()
    assert str(edited.id) in report or analyses[0].title in report
    assert dropped.id in report
    diff_json = json.loads((repo / "reports/dataset-diff.json").read_text())
    assert json.dumps(diff_json).count(dropped.id) >= 1

    # dvc metrics diff main shows metric changes
    metrics_diff = json.loads(run([DVC, "metrics", "diff", "main", "--json"], repo, env).stdout)
    assert "metrics/grounded.json" in metrics_diff and "metrics/retrieval.json" in metrics_diff
    changed = [m for file in metrics_diff.values() for m, v in file.items() if v.get("diff")]
    assert changed, metrics_diff

    # -- the gate: the data changed, so this is a new identity without a baseline; floors only
    gate = json.loads((repo / "artifacts/gate.json").read_text())
    assert gate["passed"] in (0, 1)
    # a stricter policy fails the gate: only gate + report re-run, dvc repro itself succeeds
    policy = json.loads((repo / "config/regression-policy.json").read_text())
    grounded = json.loads((repo / "metrics/grounded.json").read_text())
    metric = next(k for k in policy["floors"] if isinstance(grounded.get(k), float) and grounded[k] < 1.0)
    policy["floors"][metric] = 1.0
    (repo / "config/regression-policy.json").write_text(json.dumps(policy, indent=2) + "\n")
    assert repro(repo, env) == {"gate", "report"}
    gate = json.loads((repo / "artifacts/gate.json").read_text())
    assert gate["passed"] == 0 and any(metric in r["message"] for r in gate["reasons"])
    # the PR workflow's last step fails the job on it
    enforce = subprocess.run(
        ["bash", "-c", gate_enforcement_command()], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert enforce.returncode == 10 and "::error title=AI eval gate failed::" in enforce.stdout
    assert run([GK, "gate", "--no-record"], repo, env, ok=(10,)).returncode == 10

    # -- compare another embedding model as an experiment: restore and the evals re-run, diff does not
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "change data, params, policy"], repo, env)
    model_dir = second_model(tmp_path / "other-model")
    proc = run([DVC, "exp", "run", "-n", "other-model", "-S", f"embedding.model_path={model_dir}"], repo, env)
    ran = set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))
    assert {"restore", "eval_retrieval", "eval_grounded"} <= ran and "diff" not in ran
    shown = run([DVC, "exp", "show", "--json"], repo, env).stdout
    assert "other-model" in shown and "metrics/retrieval.json" in shown
