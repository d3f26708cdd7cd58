"""`dvc exp run -S retrieval.k=5` in an init'ed repository completes and shows in `dvc exp show`: the
policy init writes uses k-stable metric names, a policy naming a metric the run lacks fails the recorded
verdict instead of the pipeline, and a change of k re-runs the retrieval eval but not the grounded one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldkeeper.quality.gate import GateInputs, evaluate
from goldkeeper.scaffold.init import template_text
from quality_support import float_metrics, identity, policy

BIN = Path(sys.executable).parent
GK, DVC = str(BIN / "goldkeeper"), str(BIN / "dvc")
SAMPLE = Path(__import__("goldkeeper").__file__).parent / "data" / "squad-v2-dev-12-articles.json"


def test_a_policy_metric_the_run_lacks_fails_the_verdict_not_the_gate() -> None:
    current = {k: v for k, v in float_metrics().items() if k != "hybrid.ndcg_cut_10"}
    result = evaluate(
        GateInputs(metrics=current, identity=identity(), baseline=None, previous=None, history=[], policy=policy())
    )
    assert result["status"] == "fail"
    missing = [r for r in result["reasons"] if r["code"] == "policy_metric_missing"]
    assert {r["metric"] for r in missing} == {"floors.hybrid.ndcg_cut_10", "maxHybridNdcgCut10Drop"}
    assert "no metric 'hybrid.ndcg_cut_10' in the current run" in missing[0]["message"]


def test_the_init_policy_uses_k_stable_names() -> None:
    doc = json.loads(template_text("regression-policy.json"))
    assert "hybrid.ndcg_at_k" in doc["floors"] and "maxHybridNdcgAtKDrop" in doc
    assert not [key for key in [*doc["floors"], *doc] if re.search(r"_\d+$|Cut\d+", key)]


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def stages_ran(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    from goldkeeper.db.embedded import EmbeddedServer

    root = tmp_path / "repo"
    root.mkdir()
    yield root
    EmbeddedServer(root / ".goldkeeper").stop()


@pytest.mark.slow
def test_dvc_exp_run_with_another_k_completes_and_shows(tmp_path: Path, repo: Path) -> None:
    drop = ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL", "GOLDKEEPER_HOME", "GOLDKEEPER_DIFF_BASE", "GITHUB_ACTIONS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DVC_NO_ANALYTICS="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["git", "config", "user.email", "t@goldkeeper.invalid"], repo, env)
    run(["git", "config", "user.name", "t"], repo, env)
    run([GK, "init"], repo, env)
    data = json.loads(SAMPLE.read_text())
    article = data["data"][0]
    (tmp_path / "squad.json").write_text(
        json.dumps({**data, "data": [{**article, "paragraphs": article["paragraphs"][:3]}]})
    )
    run([GK, "import", "squad", str(tmp_path / "squad.json")], repo, env)
    run([GK, "dump"], repo, env)
    # every stage copes with a repository without a commit (main is unborn: the diff adds everything)
    assert stages_ran(run([DVC, "repro"], repo, env)) == {
        "restore", "diff", "eval_retrieval", "eval_grounded", "gate", "report"
    }  # fmt: skip
    assert json.loads((repo / "reports/dataset-diff.json").read_text())["old"]["label"] == (
        "(no base branch found: everything is added)"
    )
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "golden dataset and pipeline results"], repo, env)

    proc = run([DVC, "exp", "run", "-n", "k5", "-S", "retrieval.k=5"], repo, env)
    ran = stages_ran(proc)
    assert "eval_retrieval" in ran and "gate" in ran
    assert "eval_grounded" not in ran and "restore" not in ran  # k is not a parameter of theirs
    retrieval = json.loads((repo / "metrics/retrieval.json").read_text())
    assert retrieval["k"] == 5 and retrieval["hybrid.ndcg_at_k"] == retrieval["hybrid.ndcg_cut_5"]
    gate = json.loads((repo / "artifacts/gate.json").read_text())
    assert not [r for r in gate["reasons"] if r["code"] == "policy_metric_missing"], gate["reasons"]

    shown = json.loads(run([DVC, "exp", "show", "--json"], repo, env).stdout)
    experiments = [
        exp
        for commit in shown
        for exp in (commit.get("experiments") or [])
        for rev in exp.get("revs", [])
        if rev.get("name") == "k5"
    ]
    assert experiments, json.dumps(shown)[:2000]
    rev = next(r for r in experiments[0]["revs"] if r.get("name") == "k5")
    data_ = rev["data"]
    assert data_["params"]["params.yaml"]["data"]["retrieval"]["k"] == 5
    assert "hybrid.ndcg_at_k" in data_["metrics"]["metrics/retrieval.json"]["data"]

    # a policy on a k-named metric: the next k lacks it; the experiment still completes, the verdict fails
    policy_file = repo / "config/regression-policy.json"
    doc = json.loads(policy_file.read_text())
    doc["floors"]["hybrid.ndcg_cut_10"] = 0.1
    policy_file.write_text(json.dumps(doc, indent=2) + "\n")
    run(["git", "commit", "-q", "-am", "a floor on the k=10 name"], repo, env)
    run([DVC, "exp", "run", "-n", "k3", "-S", "retrieval.k=3"], repo, env)
    gate = json.loads((repo / "artifacts/gate.json").read_text())
    assert gate["passed"] == 0
    assert [r["metric"] for r in gate["reasons"] if r["code"] == "policy_metric_missing"] == [
        "floors.hybrid.ndcg_cut_10"
    ]
    names = run([DVC, "exp", "ls", "--all-commits", "--name-only"], repo, env).stdout.split()
    assert {"k5", "k3"} <= set(names)
