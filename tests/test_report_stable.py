"""`goldkeeper report` on an unchanged trend rewrites the same bytes: a committed report stays clean in Git."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cli_support import run_cli as cli
from quality_support import POLICY_FILE, write_metrics, write_rubric_floors, write_tiny_store


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_store(project / "golden")
    write_metrics(project)
    write_rubric_floors(project)
    (project / "config").mkdir()
    shutil.copy(POLICY_FILE, project / "config" / "regression-policy.json")
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "test-model@sha256:00")
    for var in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GOLDKEEPER_PROMPT_VERSION"):
        monkeypatch.delenv(var, raising=False)
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "stable@goldkeeper.invalid")
    git(project, "config", "user.name", "stable")
    return project


def test_report_twice_leaves_git_clean(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["gate"], capsys)[0] == 0
    assert cli(["gate"], capsys)[0] == 0  # two runs: a previous run, a diff, a trend
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gate runs and their report")
    for _ in range(2):
        time.sleep(1.1)  # a render timestamp (seconds) would differ now
        code, out, _ = cli(["report"], capsys)
        assert code == 0 and "report: 2 run(s)" in out
        assert git(repo, "status", "--porcelain") == ""
    summary = json.loads((repo / "artifacts" / "evals" / "summary.json").read_text())
    runs = sorted((repo / "artifacts" / "evals" / "runs").glob("*.json"))
    assert summary["generatedAt"] == json.loads(runs[-1].read_text())["timestamp"]
    # a new run does change the report (the check above is not blind)
    assert cli(["gate"], capsys)[0] == 0
    changed = git(repo, "status", "--porcelain")
    assert "artifacts/evals/summary.json" in changed and "artifacts/evals/index.html" in changed


def test_empty_trend_report_is_stable_too(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["report"], capsys)[0] == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "empty report")
    time.sleep(1.1)
    assert cli(["report"], capsys)[0] == 0
    assert git(repo, "status", "--porcelain") == ""
    assert json.loads((repo / "artifacts" / "evals" / "summary.json").read_text())["generatedAt"] == ""
