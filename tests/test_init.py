"""`goldkeeper init` in a real git repository: files written, never overwritten without --force, dvc init."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from goldkeeper.models import Analysis
from goldkeeper.scaffold.dvc_project import foreign_pipeline
from goldkeeper.scaffold.init import GITIGNORE_LINES, TEMPLATE_FILES, render_template
from goldkeeper.store import open_store, write_store
from goldkeeper.store.atomic import staging_dir_for

_CREATED = datetime(2024, 1, 1, tzinfo=UTC)

GOLDKEEPER = str(Path(sys.executable).parent / "goldkeeper")


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    run(["git", "init", "-q", "-b", "main"], root)
    return root


def test_init_creates_everything(repo: Path) -> None:
    proc = run([GOLDKEEPER, "init"], repo)
    for relpath in TEMPLATE_FILES.values():
        assert (repo / relpath).is_file(), relpath
        assert f"created      {relpath}" in proc.stdout
    # the written files are the templates, placeholders filled
    assert (repo / "dvc.yaml").read_text() == render_template("dvc.yaml")
    assert "@@" not in (repo / ".github/workflows/goldkeeper-pr.yml").read_text()
    # an empty, valid store
    store = open_store(repo / "golden")
    assert store.manifest.counts["analyses"] == 0 and store.manifest.counts["queries"] == 0
    # dvc init ran, .gitignore keeps the embedded database and the restore marker out of git
    assert (repo / ".dvc" / "config").is_file()
    assert "ran          dvc init" in proc.stdout
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert all(line in ignored for line in GITIGNORE_LINES)
    # and it says what to do next
    assert "next:" in proc.stdout and "dvc repro" in proc.stdout
    # an import fills the database, not golden/: the dump is part of the step (without it `dvc repro`'s restore
    # refused the empty store), and the pipeline's outputs kept in Git (artifacts/ too) are in the commit
    assert "goldkeeper import squad --sample && goldkeeper dump" in proc.stdout
    assert "goldkeeper import jsonl FILE && goldkeeper dump" in proc.stdout
    git_add = next(line for line in proc.stdout.splitlines() if line.strip().startswith("git add"))
    assert git_add.split()[-4:] == ["dvc.lock", "metrics", "reports", "artifacts"]
    # the first gate's verdict is said before it is seen: the extractive baseline stays under the default floors
    repro = next(line for line in proc.stdout.splitlines() if line.strip().startswith("dvc repro"))
    assert "the built-in extractive answerer scores under them on the sample: set grounded.answerer" in repro


def test_init_never_overwrites_without_force(repo: Path) -> None:
    (repo / "params.yaml").write_text("dataset:\n  name: mine\n")
    run([GOLDKEEPER, "init"], repo)
    assert (repo / "params.yaml").read_text() == "dataset:\n  name: mine\n"
    assert not foreign_pipeline(repo / "dvc.yaml")  # the one init wrote: kept without a word
    # a pipeline of the user's own is kept, and said to run none of goldkeeper's stages (it was `kept dvc.yaml`
    # alone, then `next: dvc repro`, which ran only the user's stages)
    (repo / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python train.py\n")
    proc = run([GOLDKEEPER, "init"], repo)
    assert proc.stderr == (
        "warning: dvc.yaml is kept and has no goldkeeper stage: `dvc repro` runs none of goldkeeper's. Run "
        "goldkeeper init in a folder of its own (its pipeline joins your DVC project), or copy the stages from "
        "what `goldkeeper init --force` writes (it saves yours as dvc.yaml.bak first)\n"
    )
    proc = run([GOLDKEEPER, "init", "--json"], repo)
    result = json.loads(proc.stdout)
    assert result["created"] == [] and result["warnings"][0].startswith("dvc.yaml is kept and has no goldkeeper")
    assert proc.stderr == ""  # --json: the warning is in the document only
    assert "dvc.yaml" in result["kept"] and "params.yaml" in result["kept"] and "golden/" in result["kept"]
    assert result["ran"] == []  # .dvc/ exists: no second dvc init
    assert (repo / "dvc.yaml").read_text() == "stages:\n  train:\n    cmd: python train.py\n"
    # .gitignore entries are not duplicated
    text = (repo / ".gitignore").read_text()
    assert text.count("/.goldkeeper/") == 1


def test_init_force_overwrites(repo: Path) -> None:
    run([GOLDKEEPER, "init"], repo)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    result = json.loads(run([GOLDKEEPER, "init", "--force", "--json"], repo).stdout)
    assert "dvc.yaml" in result["overwritten"]
    assert (repo / "dvc.yaml").read_text() == render_template("dvc.yaml")


def test_init_force_saves_the_users_edits_beside_them(repo: Path) -> None:
    """--force rewrites the templates but keeps a user's version of each as <name>.bak (never over a .bak that is
    there: .bak.1); files holding what init writes are not saved (it overwrote them without a copy)."""
    run([GOLDKEEPER, "init"], repo)
    params = (repo / "params.yaml").read_text() + "# my settings\n"
    (repo / "params.yaml").write_text(params)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    (repo / "dvc.yaml.bak").write_text("an older backup\n")
    proc = run([GOLDKEEPER, "init", "--force"], repo)
    assert "saved        params.yaml -> params.yaml.bak" in proc.stdout
    assert "saved        dvc.yaml -> dvc.yaml.bak.1" in proc.stdout
    assert (repo / "params.yaml.bak").read_text() == params
    assert (repo / "dvc.yaml.bak.1").read_text() == "stages: {}\n"
    assert (repo / "dvc.yaml.bak").read_text() == "an older backup\n"
    assert (repo / "dvc.yaml").read_text() == render_template("dvc.yaml")
    assert not (repo / "config/regression-policy.json.bak").exists()
    assert (
        "overwritten  config/regression-policy.json" in proc.stdout and "regression-policy.json ->" not in proc.stdout
    )


def test_a_backup_init_could_not_finish_is_not_left_as_one(repo: Path) -> None:
    # a full disk (here: a file size limit, the kernel's EFBIG) while init --force saved the user's params.yaml:
    # a cut params.yaml.bak was left beside it, which a later --force would take for the user's version
    run([GOLDKEEPER, "init"], repo)
    mine = (repo / "params.yaml").read_text() + "".join(f"# my note {n}\n" for n in range(8000))
    (repo / "params.yaml").write_text(mine)

    def small_files() -> None:  # room for init's templates (about 5 kB each), not for the user's 100 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    proc = subprocess.run(
        [GOLDKEEPER, "init", "--force"], cwd=repo, capture_output=True, text=True, preexec_fn=small_files
    )
    assert proc.returncode == 7, proc.stderr
    assert proc.stderr == f"error: {repo / 'params.yaml.bak'}: cannot write: File too large\n"
    assert not (repo / "params.yaml.bak").exists()
    assert (repo / "params.yaml").read_text() == mine


def test_init_force_replaces_a_linked_template_file_never_the_file_it_points_to(repo: Path, tmp_path: Path) -> None:
    # params.yaml a link to a file outside the project: --force wrote the template through it, over that file
    run([GOLDKEEPER, "init"], repo)
    outside = tmp_path / "elsewhere" / "params.yaml"
    outside.parent.mkdir()
    outside.write_text("# the user's shared settings\n")
    (repo / "params.yaml").unlink()
    (repo / "params.yaml").symlink_to(outside)
    run([GOLDKEEPER, "init", "--force"], repo)
    assert outside.read_text() == "# the user's shared settings\n"
    assert not (repo / "params.yaml").is_symlink()
    assert (repo / "params.yaml").read_text() == render_template("params.yaml")
    assert (repo / "params.yaml.bak").read_text() == "# the user's shared settings\n"


def test_init_force_keeps_a_store_that_holds_data(repo: Path) -> None:
    # `init --force --install ...` (init's hint before it needed no --force) must not delete the dataset
    run([GOLDKEEPER, "init"], repo)
    analysis = Analysis(id=uuid.UUID(int=1), url="https://docs.python.org/3/a", title="a", created_at=_CREATED)
    write_store(repo / "golden", "golden", [analysis], [], {"analyses": 8, "queries": 16})
    before = {p.relative_to(repo): p.read_bytes() for p in (repo / "golden").rglob("*") if p.is_file()}
    proc = run([GOLDKEEPER, "init", "--force", "--install", "goldkeeper==1.0", "--json"], repo)
    result = json.loads(proc.stdout)
    assert "golden/" in result["kept"] and "golden/" not in result["overwritten"]
    after = {p.relative_to(repo): p.read_bytes() for p in (repo / "golden").rglob("*") if p.is_file()}
    assert after == before and open_store(repo / "golden").manifest.counts["analyses"] == 1
    assert "goldkeeper==1.0" in (repo / ".github/workflows/goldkeeper-pr.yml").read_text()


def test_install_alone_fills_the_todo_install_step_and_keeps_every_other_file(repo: Path) -> None:
    """init's hint for the TODO install step is `init --install ARGS`: it rewrites the workflow files still holding
    that TODO (init's own, untouched) and nothing else: params.yaml edits and an edited workflow stay."""
    first = json.loads(run([GOLDKEEPER, "init", "--json"], repo).stdout)
    assert any(c.startswith("goldkeeper init --install ") for c in first["next_commands"]), first
    params = (repo / "params.yaml").read_text() + "# my settings\n"
    (repo / "params.yaml").write_text(params)
    backup = repo / ".github/workflows/goldkeeper-backup.yml"
    own_backup = backup.read_text().replace("goldkeeper init could not tell how to install goldkeeper here", "mine")
    backup.write_text(own_backup)
    result = json.loads(run([GOLDKEEPER, "init", "--install", "goldkeeper==1.0", "--json"], repo).stdout)
    pr = (repo / ".github/workflows/goldkeeper-pr.yml").read_text()
    assert result["overwritten"] == [".github/workflows/goldkeeper-pr.yml"]
    assert "goldkeeper==1.0" in pr and "could not tell how to install" not in pr
    assert (repo / "params.yaml").read_text() == params and backup.read_text() == own_backup
    again = json.loads(run([GOLDKEEPER, "init", "--install", "goldkeeper==2.0", "--json"], repo).stdout)
    assert (
        again["overwritten"] == [] and "goldkeeper==1.0" in (repo / ".github/workflows/goldkeeper-pr.yml").read_text()
    )


def test_git_ignores_what_a_killed_command_leaves_but_not_the_store(repo: Path) -> None:
    # a SIGKILLed dump leaves its staging directory beside golden/, a killed atomic write its temporary file:
    # the next run removes them, and `git add -A` meanwhile must not commit a second copy of the store
    run([GOLDKEEPER, "init"], repo)
    staging = staging_dir_for(repo / "golden")
    (staging / "manifest.json").write_text("{}\n")
    backup = repo / ".golden.old-0123abcd"
    backup.mkdir()
    (backup / "manifest.json").write_text("{}\n")
    temporary = repo / "golden" / f".CHANGELOG.json.tmp-{os.getpid()}-0123abcd"
    temporary.write_text("{")
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout
    assert staging.name not in status and backup.name not in status and temporary.name not in status
    assert "golden/manifest.json" in status and "dvc.yaml" in status


def test_init_that_cannot_finish_writes_nothing(repo: Path) -> None:
    # a params.yaml of the user's own DVC pipeline, or a golden/ folder of theirs: init wrote the workflows,
    # the policy, baselines/, .gitignore lines and ran `dvc init`, then stopped on it (exit 3 / 5)
    (repo / "params.yaml").write_text("lr: 0.1\n")
    (repo / ".gitignore").write_text("*.log\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "mine"], repo)
    proc = run([GOLDKEEPER, "init"], repo, check=False)
    assert proc.returncode == 3 and proc.stderr.endswith("nothing was written\n"), proc.stderr
    assert "params.yaml: unknown section 'lr'" in proc.stderr
    assert "when it holds your own pipeline's parameters, run init in a folder of its own" in proc.stderr
    assert run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored"], repo).stdout == ""
    (repo / "params.yaml").unlink()
    (repo / "golden" / "data").mkdir(parents=True)
    (repo / "golden" / "data" / "x.txt").write_text("mine\n")
    proc = run([GOLDKEEPER, "init"], repo, check=False)
    assert proc.returncode == 5 and proc.stderr.endswith("nothing was written\n"), proc.stderr
    status = run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored"], repo).stdout
    assert status == " D params.yaml\n?? golden/data/x.txt\n"


def test_a_full_disk_while_init_adds_its_gitignore_lines_keeps_the_users_lines(repo: Path) -> None:
    # init rewrote .gitignore (truncate, then write): a write refused past the disk's room (here: a file size
    # limit, the kernel's EFBIG) left the file cut, the user's lines lost, and an internal error
    run([GOLDKEEPER, "init"], repo)
    mine = "".join(f"/build-{n}/\n" for n in range(200))
    (repo / ".gitignore").write_text(mine)  # the user's own lines, init's gone: init appends them again

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    proc = subprocess.run([GOLDKEEPER, "init"], cwd=repo, capture_output=True, text=True, preexec_fn=small_files)
    assert proc.returncode == 7, proc.stderr
    assert proc.stderr == f"error: {repo / '.gitignore'}: cannot append to: File too large\n"
    assert (repo / ".gitignore").read_text() == mine


def test_a_file_where_init_needs_a_folder_is_a_file_error_and_is_kept(repo: Path) -> None:
    # `.github` a file of the user's: `internal error: NotADirectoryError` (exit 1)
    (repo / ".github").write_text("mine\n")
    proc = run([GOLDKEEPER, "init"], repo, check=False)
    assert proc.returncode == 7, proc.stderr
    assert proc.stderr == f"error: {repo / '.github/workflows/goldkeeper-pr.yml'}: cannot write: Not a directory\n"
    assert (repo / ".github").read_text() == "mine\n"


def test_init_outside_git_is_a_usage_error(tmp_path: Path) -> None:
    proc = run([GOLDKEEPER, "init"], tmp_path, check=False)
    assert proc.returncode == 2
    assert "not inside a git repository" in proc.stderr and "git init" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "dvc.yaml").exists()


def test_init_dvc_tracked_store(repo: Path) -> None:
    proc = run([GOLDKEEPER, "init", "--dvc-tracked-store"], repo)
    assert "ran          dvc add golden" in proc.stdout
    dvcfile = yaml.safe_load((repo / "golden.dvc").read_text())
    assert dvcfile["outs"][0]["path"] == "golden"
    assert "/golden" in (repo / ".gitignore").read_text().splitlines()
    # git sees golden.dvc, not golden/
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout
    assert "golden.dvc" in status and "golden/" not in status
    # the workflows install the S3 plugin of DVC too
    assert "dvc-s3" in (repo / ".github/workflows/goldkeeper-pr.yml").read_text()
    assert "dvc remote add" in proc.stdout


def test_init_in_a_subfolder_joins_the_repositorys_own_dvc_project(repo: Path) -> None:
    """A monorepo with its own DVC project (a remote configured) and the RAG service in services/rag/: init ran
    `dvc init --subdir` there, a nested project without the remote, which the outer one ignores (`dvc status
    services/rag/dvc.yaml` from the top: `is dvc-ignored`), and its next commands said `git add .dvc`."""
    dvc = str(Path(sys.executable).parent / "dvc")
    run([dvc, "init", "-q"], repo)
    (repo / ".dvc" / "config").write_text("[core]\n    remote = store\n['remote \"store\"']\n    url = /srv/dvc\n")
    service = repo / "services" / "rag"
    service.mkdir(parents=True)
    proc = run([GOLDKEEPER, "init", "--install", "goldkeeper==1.0"], service)
    assert not (service / ".dvc").exists() and "ran          dvc init" not in proc.stdout
    assert f"joined       the DVC project in {repo} (no `dvc init`: its config and remotes apply)" in proc.stdout
    add = next(line for line in proc.stdout.splitlines() if line.lstrip().startswith("git add"))
    assert " .dvc " not in add and " baselines golden " in add
    status = run([dvc, "status", "services/rag/dvc.yaml"], repo).stdout
    assert "services/rag/dvc.yaml:restore:" in status  # the outer project sees the pipeline
    # the workflows at the top, the only ones GitHub runs (they were written into services/rag/.github/)
    assert not (service / ".github").exists() and " ../../.github/workflows/goldkeeper-pr.yml " in add
    assert 'working-directory: "services/rag"' in (repo / ".github/workflows/goldkeeper-pr.yml").read_text()


def test_init_install_option_reaches_the_workflows(repo: Path) -> None:
    run([GOLDKEEPER, "init", "--install", "goldkeeper==9.9 extra-pkg"], repo)
    for name in ("goldkeeper-pr.yml", "goldkeeper-backup.yml"):
        assert "python -m pip install goldkeeper==9.9 extra-pkg" in (repo / ".github/workflows" / name).read_text()


def test_init_templates_are_valid(repo: Path) -> None:
    """The written params.yaml loads, the policy is JSON, and dvc reads the pipeline."""
    from goldkeeper.config import load_settings

    run([GOLDKEEPER, "init"], repo)
    settings = load_settings(root=repo, env={})
    assert settings.store.path == "golden"
    from goldkeeper.quality.policy import load_policy

    load_policy(repo / "config/regression-policy.json")  # strict: a bad key is an error
    dvc = str(Path(sys.executable).parent / "dvc")
    stages = run([dvc, "stage", "list", "--name-only"], repo).stdout.split()
    assert {"restore", "diff", "eval_retrieval", "eval_grounded", "report", "gate"} <= set(stages)


@pytest.mark.slow
def test_init_from_database(repo: Path, tmp_path: Path, database_url: str) -> None:
    """--from-database fills golden/ with a dump of the configured database."""
    import os
    from datetime import UTC, datetime
    from uuid import NAMESPACE_URL, uuid5

    from goldkeeper.config import load_settings
    from goldkeeper.models import Analysis, Chunk, ExpectedBehavior, Query
    from goldkeeper.store import write_store

    source = tmp_path / "source"
    source.mkdir()
    run(["git", "init", "-q"], source)
    run([GOLDKEEPER, "init"], source)
    settings = load_settings(root=source, env={})
    aid = uuid5(NAMESPACE_URL, "https://wiki.acme-research.org/valves")
    analysis = Analysis(
        id=aid,
        url="https://wiki.acme-research.org/valves",
        title="Valves",
        created_at=datetime(2024, 3, 1, tzinfo=UTC),
        chunks=[Chunk(id=uuid5(aid, "0"), content="Gate valves seal with a wedge.", chunk_index=0)],
    )
    query = Query(
        id="valve-1",
        text="What do gate valves seal with?",
        domain="valves",
        expected_behavior=ExpectedBehavior(behavior="refuse", must_not=["answer_without_evidence"]),
    )
    write_store(source / "golden", settings.dataset.name, [analysis], [query], dict(settings.store.shards))
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url}
    proc = subprocess.run([GOLDKEEPER, "restore"], cwd=source, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

    proc = subprocess.run([GOLDKEEPER, "init", "--from-database"], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "ran          goldkeeper dump" in proc.stdout
    assert "goldkeeper import squad" not in proc.stdout  # the data is there already
    assert open_store(repo / "golden").version == open_store(source / "golden").version
