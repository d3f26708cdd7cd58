"""`goldkeeper init` + `dvc repro` in the repositories users really have: a `master` repository that has
never committed, a `main` repository, a single commit on a branch named neither (real git, real dvc,
the embedded PostgreSQL). The dataset diff's base is the repository's default branch; a base that does
not resolve is a diff against nothing with a note, never a failed pipeline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from goldkeeper.config import load_settings
from goldkeeper.dataset.diff.sides import diff_base
from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.store.git_source import default_branch

BIN = Path(sys.executable).parent
GK, DVC = str(BIN / "goldkeeper"), str(BIN / "dvc")
SAMPLE = Path(__import__("goldkeeper").__file__).parent / "data" / "squad-v2-dev-12-articles.json"
STAGES = {"restore", "diff", "eval_retrieval", "eval_grounded", "gate", "report"}


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def env() -> dict[str, str]:
    drop = ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL", "GOLDKEEPER_HOME", "GOLDKEEPER_DIFF_BASE", "GITHUB_ACTIONS")
    clean = {k: v for k, v in os.environ.items() if k not in drop and k != "GITHUB_STEP_SUMMARY"}
    return {**clean, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def git_repo(root: Path, branch: str, env: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    run(["git", "init", "-q", "-b", branch], root, env)
    run(["git", "config", "user.email", "t@goldkeeper.invalid"], root, env)
    run(["git", "config", "user.name", "t"], root, env)
    return root


def commit_all(root: Path, message: str, env: dict[str, str] | None = None) -> None:
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-q", "-m", message], root, env)


# ------------------------------------------------------------------ the default branch (fast)


def test_default_branch_order(tmp_path: Path) -> None:
    origin = git_repo(tmp_path / "origin", "trunk")
    assert default_branch(origin) is None  # unborn trunk: nothing to name
    (origin / "a").write_text("a")
    commit_all(origin, "one")
    assert default_branch(origin) is None  # trunk is neither main nor master, no remote
    run(["git", "branch", "master"], origin)
    assert default_branch(origin) == "master"
    run(["git", "branch", "main"], origin)
    assert default_branch(origin) == "main"  # main wins over master
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert default_branch(clone) == "origin/trunk"  # origin/HEAD first
    run(["git", "remote", "set-head", "origin", "-d"], clone)
    run(["git", "checkout", "-q", "-b", "feature", "--track", "origin/main"], clone)
    assert default_branch(clone) == "origin/main"  # then the current branch's upstream
    assert default_branch(tmp_path / "not-a-repo-at-all") is None


def test_the_base_env_overrides_params(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("diff:\n  base: develop\n")
    assert load_settings(root=tmp_path, env={}).diff.base == "develop"
    assert load_settings(root=tmp_path, env={"GOLDKEEPER_DIFF_BASE": "release"}).diff.base == "release"
    (tmp_path / "params.yaml").write_text("dataset:\n  name: golden\n")
    assert load_settings(root=tmp_path, env={}).diff.base is None


def test_an_unknown_base_is_everything_added_with_a_note(tmp_path: Path) -> None:
    root = git_repo(tmp_path / "repo", "master")
    run([GK, "init"], root)
    (root / "a").write_text("a")
    settings = load_settings(root=root, env={})
    result = diff_base("no-such-branch", None, settings)
    assert "no-such-branch" in result.old.label and "everything is added" in result.old.label
    result = diff_base(None, None, settings)  # unborn master, no remote: no base to name
    assert result.old.label == "(no base branch found: everything is added)"


# ------------------------------------------------------------------ init + dvc repro (slow)


def squad_slice(path: Path) -> None:
    data = json.loads(SAMPLE.read_text())
    article = data["data"][0]
    path.write_text(json.dumps({**data, "data": [{**article, "paragraphs": article["paragraphs"][:3]}]}))


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "repo"
    yield root
    EmbeddedServer(root / ".goldkeeper").stop()  # in case a failed command left it running


@pytest.mark.slow
@pytest.mark.parametrize(
    ("branch", "commits", "base_label", "stages"),
    [
        ("main", 1, "main", STAGES),
        # git's default, nothing committed yet, and a single commit on neither main nor master: only the diff's
        # base differs from `main` (the diff stage has no upstream stage, so it runs alone). The whole pipeline
        # in a repository without a commit: test_exp_run's first `dvc repro`.
        ("master", 0, "(no base branch found: everything is added)", {"diff"}),
        ("trunk", 1, "(no base branch found: everything is added)", {"diff"}),
    ],
)
def test_init_and_dvc_repro_pass(
    tmp_path: Path, repo: Path, env: dict[str, str], branch: str, commits: int, base_label: str, stages: set[str]
) -> None:
    git_repo(repo, branch, env)
    run([GK, "init"], repo, env)
    assert yaml.safe_load((repo / "params.yaml").read_text())["diff"]["base"] is None  # no hard `main`
    squad_slice(tmp_path / "squad.json")
    run([GK, "import", "squad", str(tmp_path / "squad.json")], repo, env)
    run([GK, "dump"], repo, env)
    if commits:
        commit_all(repo, "golden dataset", env)
    proc = run([DVC, "repro", *(sorted(stages) if stages != STAGES else [])], repo, env)
    assert set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr)) == stages
    diff = json.loads((repo / "reports/dataset-diff.json").read_text())
    assert diff["old"]["label"] == base_label
    if base_label == "main":  # the base has the same store: nothing changed
        assert diff["identical"] is True
    else:  # everything is added, and the markdown says why
        assert diff["summary"]["analyses"]["added"] == 1 and diff["summary"]["queries"]["added"] > 0
        assert "everything is added" in (repo / "reports/dataset-diff.md").read_text()
    status = json.loads(run([DVC, "status", "--json"], repo, env).stdout)
    assert set(status) == STAGES - stages  # what ran is up to date; what did not is all that is left


# ------------------------------------------------------------------ a grounded-only project


def test_init_grounded_only_writes_a_pipeline_without_retrieval(tmp_path: Path, env: dict[str, str]) -> None:
    root = git_repo(tmp_path / "repo", "main", env)
    run([GK, "init", "--grounded-only"], root, env)
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text())
    assert list(pipeline["stages"]) == ["restore", "diff", "eval_grounded", "gate", "report"]
    assert "metrics/retrieval.json" not in (root / "dvc.yaml").read_text()
    policy = json.loads((root / "config/regression-policy.json").read_text())
    assert policy["floors"] and not [k for k in policy["floors"] if k.startswith(("hybrid", "vector", "fulltext"))]
    assert not [k for k in policy if k.startswith(("maxHybrid", "maxVector", "maxFulltext"))]
    assert "maxCitationAccuracyDrop" in policy  # fail-fast still has its limit
    assert load_settings(root=root, env={}).gate.metrics == ["metrics/grounded.json"]
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', run([DVC, "dag", "--dot"], root, env).stdout))
    assert edges == {("restore", "eval_grounded"), ("eval_grounded", "gate"), ("gate", "report")}


@pytest.mark.slow
def test_grounded_only_project_repro_and_gate_pass(tmp_path: Path, repo: Path, env: dict[str, str]) -> None:
    git_repo(repo, "main", env)
    run([GK, "init", "--grounded-only"], repo, env)
    # the extractive answerer on this slice covers ~0.71 of the cases: below init's rubric floors (0.95,
    # the seed's contract), which would fail the verdict honestly; this project accepts 0.5
    params = (repo / "params.yaml").read_text()
    for key in ("grounded_precision", "citation_coverage", "citation_freshness"):
        params, count = re.subn(rf"(\n\s+{key}:) 0\.95", r"\1 0.5", params)
        assert count == 1, key
    (repo / "params.yaml").write_text(params)
    squad_slice(tmp_path / "squad.json")
    run([GK, "import", "squad", str(tmp_path / "squad.json")], repo, env)
    run([GK, "dump"], repo, env)
    commit_all(repo, "golden dataset", env)
    proc = run([DVC, "repro"], repo, env)
    assert set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr)) == STAGES - {"eval_retrieval"}
    assert not (repo / "metrics/retrieval.json").exists()
    gate = json.loads((repo / "artifacts/gate.json").read_text())
    assert gate["passed"] == 1, gate["reasons"]
    assert subprocess.run([GK, "gate", "--no-record"], cwd=repo, env=env, capture_output=True).returncode == 0
