"""``goldkeeper init``: wire goldkeeper into an existing Git repository.

Writes the files of the Git-native workflow from the templates in
``goldkeeper/scaffold/templates/``::

    dvc.yaml                            the pipeline: restore -> diff, evals -> report -> gate
    params.yaml                         every parameter that changes a result
    config/regression-policy.json       floors and drift limits of the gate
    .github/workflows/goldkeeper-pr.yml      dvc repro + diff comment + step summary + gate
    .github/workflows/goldkeeper-backup.yml  scheduled dump, commit golden/ when it changed
    golden/                             an empty store, or dumped from the current database

runs ``dvc init`` when neither the folder nor one above it in the repository has a ``.dvc/`` (a DVC project of
the user's above it is joined: :mod:`goldkeeper.scaffold.dvc_project`), and ``dvc add golden``
when the store is tracked by DVC instead of Git (``dvc_tracked_store``). An
existing file is never overwritten unless ``force``, and then a user's version of it
(content init does not write) is saved beside it first (:func:`save_users_version`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from goldkeeper.config import Settings, load_params, load_settings, validate_settings
from goldkeeper.errors import ConfigError, DataIntegrityError, GoldkeeperError, UsageError
from goldkeeper.fileio import append_text, atomic_write_bytes, file_error, write_backup
from goldkeeper.scaffold.database_section import render_database_section
from goldkeeper.scaffold.dvc_project import InitError, enclosing_dvc_project, foreign_pipeline, run_dvc
from goldkeeper.scaffold.install import derived_install
from goldkeeper.scaffold.subfolder import in_subfolder, shown_path, subfolder_of, workflow_target
from goldkeeper.store import MANIFEST, write_store
from goldkeeper.store.guard import check_target

if TYPE_CHECKING:
    from goldkeeper.db.mapping_infer import InferredMapping

#: template name (under goldkeeper/scaffold/templates/) -> path written in the repository.
TEMPLATE_FILES: dict[str, str] = {
    "dvc.yaml": "dvc.yaml",
    "params.yaml": "params.yaml",
    "regression-policy.json": "config/regression-policy.json",
    "workflows/goldkeeper-pr.yml": ".github/workflows/goldkeeper-pr.yml",
    "workflows/goldkeeper-backup.yml": ".github/workflows/goldkeeper-backup.yml",
}

#: lines init makes sure .gitignore has: the embedded database; the restore marker (the database is
#: outside DVC, so a fresh clone runs the restore stage once; see dvc.yaml); the dataset diff (its base
#: branch moves, so every clone, CI included, computes it afresh).
#: and what a killed goldkeeper leaves (the next run removes it): a dump's staging directory and backup beside the
#: store, an atomic write's temporary file (see goldkeeper.store.atomic, goldkeeper.fileio)
GITIGNORE_LINES = [
    "/.goldkeeper/",
    "/reports/restore.json",
    "/reports/dataset-diff.md",
    "/reports/dataset-diff.json",
    ".*.staging-[0-9]*-*/",
    ".*.old-[0-9a-f]*/",
    ".*.tmp-[0-9]*-*",
]

#: a kept dvc.yaml of the user's own: goldkeeper's stages are not in it, so `dvc repro` runs none of them
FOREIGN_PIPELINE = (
    "{path} is kept and has no goldkeeper stage: `dvc repro` runs none of goldkeeper's. Run goldkeeper init in a "
    "folder of its own (its pipeline joins your DVC project), or copy the stages from what `goldkeeper init "
    "--force` writes (it saves yours as {path}.bak first)"
)

#: the workflows' install step when init cannot tell how to install goldkeeper: it fails, saying what to do.
INSTALL_TODO = (
    "|\n"
    '          echo "::error title=goldkeeper install::goldkeeper init could not tell how to install goldkeeper here: '
    "edit this step (or rerun goldkeeper init --install PIP-ARGS), e.g. "
    "python -m pip install 'goldkeeper @ git+https://github.com/OWNER/goldkeeper@TAG'@@EXTRA@@\"\n"
    "          exit 1"
)


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    #: ``--force``: each overwritten file whose content was the user's (not what init writes), and where it was
    #: saved first: relative path -> the backup's relative path (``params.yaml`` -> ``params.yaml.bak``)
    saved: dict[str, str] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    #: what the user must know before the next commands (a kept dvc.yaml without goldkeeper's stages)
    warnings: list[str] = field(default_factory=list)
    #: the DVC project above ``root`` (its folder) that the pipeline joined instead of a ``dvc init --subdir``
    joined_dvc: list[str] = field(default_factory=list)
    next_commands: list[str] = field(default_factory=list)
    #: ``--from-database``: what could not be inferred for params ``database:`` (one line each, each a ``# TODO``
    #: in params.yaml: no dump until every one is filled in), and what it says without blocking anything
    database_todo: list[str] = field(default_factory=list)
    database_notes: list[str] = field(default_factory=list)
    #: ``--from-database``: the problems ``db check`` found in the inferred mapping
    database_problems: list[str] = field(default_factory=list)

    @property
    def database_ok(self) -> bool:
        """The database mapping (when init wrote one) is complete and passes ``db check``."""
        return not self.database_todo and not self.database_problems

    def to_json(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "created": self.created,
            "overwritten": self.overwritten,
            "saved": self.saved,
            "kept": self.kept,
            "ran": self.ran,
            "joined_dvc": self.joined_dvc[0] if self.joined_dvc else None,
            "warnings": self.warnings,
            "next_commands": self.next_commands,
            "database": {
                "ok": self.database_ok,
                "todo": self.database_todo,
                "notes": self.database_notes,
                "problems": self.database_problems,
            },
        }


def template_text(name: str) -> str:
    """The raw text of one template shipped inside the package."""
    return resources.files("goldkeeper.scaffold").joinpath("templates", name).read_text(encoding="utf-8")


def render_template(name: str, *, install: str | None = None, extra: str = "") -> str:
    """One template with its placeholders filled (only the workflows have any).

    ``install``: the ``pip install`` arguments of the workflows; None writes a step that fails with a
    message saying what to fill in (never an install that cannot work), naming ``extra`` packages too.
    """
    text = template_text(name)
    if install is None:
        todo = INSTALL_TODO.replace("@@EXTRA@@", f" {extra}" if extra else "")
        return text.replace("run: python -m pip install @@INSTALL@@", "run: " + todo)
    return text.replace("@@INSTALL@@", install)


def grounded_only(name: str, text: str) -> str:
    """A template for a grounded-only project (prompts and evidence, no retrieval eval): the pipeline
    without ``eval_retrieval``, the gate reading metrics/grounded.json only, a policy on grounded metrics."""
    if name == "dvc.yaml":
        start, end = text.index("  eval_retrieval:\n"), text.index("  eval_grounded:\n")
        text = text[:start] + text[end:]
        text = text.replace("      - metrics/retrieval.json\n", "", 1)
        return "# grounded-only project (`goldkeeper init --grounded-only`): no eval_retrieval stage.\n" + text
    if name == "params.yaml":
        old = "  metrics: null\n"
        if old not in text:
            raise ConfigError("params.yaml template: no `gate.metrics: null` to replace")
        return text.replace(
            old, "  # grounded-only project: the grounded eval's metrics only\n  metrics: [metrics/grounded.json]\n"
        )
    if name == "regression-policy.json":
        policy = json.loads(text)
        policy["floors"] = {k: v for k, v in policy["floors"].items() if not k.startswith(RETRIEVAL_PREFIXES)}
        drops = [k for k in policy if k.startswith("max") and k[3:].lower().startswith(RETRIEVAL_PREFIXES)]
        return json.dumps({k: v for k, v in policy.items() if k not in drops}, indent=2) + "\n"
    return text


#: metric name prefixes of the retrieval eval (``hybrid.ndcg_at_k``; ``maxHybridNdcgAtKDrop``)
RETRIEVAL_PREFIXES = ("vector", "fulltext", "hybrid", "queries.")


def git_toplevel(path: Path) -> Path:
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise InitError(f"{path} is not inside a git repository: run `git init` first")
    return Path(proc.stdout.strip()).resolve()


def _ensure_gitignore(root: Path, lines: list[str]) -> bool:
    """Append the missing ``lines`` to the user's .gitignore. Appended, never rewritten: a rewrite truncates the
    file first, so a full disk (or a kill) between truncating and writing lost the user's own lines."""
    path = root / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise file_error(exc, path, "append to") from exc
    missing = [line for line in lines if line not in text.splitlines()]
    if not missing:
        return False
    separator = "\n" if text and not text.endswith("\n") else ""
    append_text(path, separator + "# goldkeeper\n" + "\n".join(missing) + "\n")
    return True


def check_can_init(root: Path, *, force: bool = False, from_database: bool = False) -> Path:
    """``root`` resolved, once it is a directory inside a git repository; with ``from_database`` an existing
    params.yaml is refused unless ``force`` (init writes its ``database:`` section and never edits a file it
    did not write). Nothing is written or read from the database before this passes."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    git_toplevel(root)
    params = root / TEMPLATE_FILES["params.yaml"]
    if from_database and params.exists() and not force:
        raise UsageError(
            f"{params} exists: init --from-database writes params.yaml with the database: section it infers; "
            "rerun with --force to replace the file, or write the section by hand (docs/configuration.md)"
        )
    return root


def check_existing_files(root: Path, *, force: bool) -> None:
    """What init would keep and then fail on, refused before it writes anything (else it left the workflows,
    the policy, .gitignore lines and `dvc init` behind, then stopped): a params.yaml that is not goldkeeper's
    (kept unless ``force``), a store folder holding files that are not a goldkeeper store."""
    params = root / TEMPLATE_FILES["params.yaml"]
    store = root / "golden"
    if params.exists() and not force:
        try:
            store = load_settings(root=root, env={}).store_path
        except GoldkeeperError as exc:
            raise ConfigError(
                f"{exc}; init keeps an existing params.yaml and reads it: fix it, move it aside (--force replaces "
                "it and dvc.yaml, saving yours as .bak), or, when it holds your own pipeline's parameters, run init "
                "in a folder of its own (its pipeline joins your DVC project); nothing was written"
            ) from exc
    if store.exists() and not (store / MANIFEST).exists():
        try:
            check_target(store, store)
        except GoldkeeperError as exc:
            raise DataIntegrityError(f"{exc}; init writes an empty store there: nothing was written") from exc


def init_project(
    root: Path,
    *,
    force: bool = False,
    from_database: bool = False,
    dvc_tracked_store: bool = False,
    install: str | None = None,
    dump_store: Callable[[Path], object] | None = None,
    grounded_only_project: bool = False,
    inferred: InferredMapping | None = None,
    check_database: Callable[[Path], Sequence[str]] | None = None,
) -> InitResult:
    """Set up goldkeeper in the git repository at ``root``.

    ``dump_store(root)`` is called to fill golden/ from the current database when
    ``from_database``; the CLI passes the real dump (settings resolved after params.yaml exists).
    ``inferred``: the ``database:`` mapping inferred from the database (``--from-database``), written into
    params.yaml; the store is dumped only when it is complete and ``check_database(root)`` finds no problem.
    ``grounded_only_project``: no retrieval eval (:func:`grounded_only`).
    """
    root = check_can_init(root, force=force, from_database=from_database)
    if inferred is None:
        check_existing_files(root, force=force)
    toplevel = git_toplevel(root)
    subfolder_of(root, toplevel)  # a folder name the workflows cannot hold: refused before anything is written
    extra = "dvc-s3" if dvc_tracked_store else ""
    derived = install or derived_install(root)
    install_args = None if derived is None else derived + (f" {extra}" if extra and not install else "")
    result = InitResult(root=root)
    section = None if inferred is None or inferred.reference else render_database_section(inferred)
    _write_templates((root, toplevel), install_args, extra, force, result, grounded_only_project, section)
    _ensure_baselines_dir(root, result)
    if _ensure_gitignore(root, GITIGNORE_LINES):
        result.created.append(".gitignore (entries)")
    _ensure_dvc(root, toplevel, result)
    # params.yaml exists now (written above or kept): the store's path and shards come from it.
    settings = _settings(root, inferred, check_database, result)
    if result.database_ok:
        _fill_store(root, settings, force, from_database, dump_store, result)
    if dvc_tracked_store and result.database_ok:
        run_dvc(["add", settings.store.path], root)
        result.ran.append(f"dvc add {settings.store.path}")
    if install_args is None:
        result.next_commands.append(
            "goldkeeper init --install 'PIP-ARGS'   # the workflows' install step is a TODO that fails"
        )
    result.next_commands.extend(
        _next_commands(
            settings,
            dvc_tracked_store,
            from_database,
            result.database_ok,
            files=[shown_path(root, toplevel, relpath) for relpath in TEMPLATE_FILES.values()],
            own_dvc=not result.joined_dvc,
        )
    )
    return result


def _settings(
    root: Path,
    inferred: InferredMapping | None,
    check_database: Callable[[Path], Sequence[str]] | None,
    result: InitResult,
) -> Settings:
    """The written params.yaml's settings, with the inferred mapping's gaps and ``db check``'s problems
    recorded in ``result``. An incomplete mapping does not load: the other sections are read without it."""
    if inferred is None:
        return load_settings(root=root, env={})
    # every gap is a `# TODO` in params.yaml: an optional field left as one would be lost (e.g. a section_path
    # held as text, read as [] until its separator is declared), so none is dumped until all are filled in
    result.database_todo.extend(gap.line for gap in inferred.gaps)
    result.database_notes.extend(inferred.notes)
    if not inferred.complete:
        values = {k: v for k, v in load_params(root / TEMPLATE_FILES["params.yaml"]).items() if k != "database"}
        return validate_settings({**values, "root": root})
    settings = load_settings(root=root, env={})
    if settings.database is not None and check_database is not None:
        result.database_problems.extend(check_database(root))
    return settings


def _write_templates(
    where: tuple[Path, Path],
    install: str | None,
    extra: str,
    force: bool,
    result: InitResult,
    grounded: bool = False,
    database_section: str | None = None,
) -> None:
    """Write each template file, keeping the ones that exist unless ``force`` (``database_section``: appended
    to params.yaml). ``where``: the project root and the repository's top, where the workflows go."""
    root, toplevel = where
    subfolder = subfolder_of(root, toplevel)
    for name, template_path in TEMPLATE_FILES.items():
        target, relpath = workflow_target(root, toplevel, template_path), shown_path(root, toplevel, template_path)
        if target.exists() and not force and not _install_todo_to_fill(target, install):
            result.kept.append(relpath)
            if name == "dvc.yaml" and foreign_pipeline(target):
                result.warnings.append(FOREIGN_PIPELINE.format(path=relpath))
            continue
        (result.overwritten if target.exists() else result.created).append(relpath)
        text = in_subfolder(name, render_template(name, install=install, extra=extra), subfolder)
        text = grounded_only(name, text) if grounded else text
        if name == "params.yaml" and database_section is not None:
            text += database_section
        todo = in_subfolder(name, render_template(name, install=None, extra=extra), subfolder)
        own = {text, todo}  # what init writes (the TODO step: earlier)
        backup = save_users_version(target, {t.encode("utf-8") for t in own})
        if backup is not None:
            result.saved[relpath] = Path(os.path.relpath(backup, root)).as_posix()  # a workflow's: above root
        # atomic: a full disk leaves the old file whole, and a link (params.yaml kept elsewhere) is replaced by
        # the file, never written through to a file outside the project (its content is in the .bak above);
        # `.github` a file, a read-only folder: one line naming it, exit 7
        atomic_write_bytes(target, text.encode("utf-8"))


def save_users_version(target: Path, own: set[bytes]) -> Path | None:
    """``target`` copied beside it (:func:`goldkeeper.fileio.write_backup`) before init overwrites it, unless it is
    missing or holds one of ``own`` (what init writes): ``init --force`` refreshes the templates and must not lose
    a user's edits to params.yaml, dvc.yaml, the policy or a workflow."""
    if not target.is_file():
        return None  # nothing of the user's to keep (a folder or a file in the way: the write says so)
    try:
        old = target.read_bytes()
    except OSError as exc:
        raise file_error(exc, target, "read") from exc
    return None if old in own else write_backup(target, old)


#: what only the workflow files init wrote without an install command hold (the TODO step's own text)
_INSTALL_TODO_MARK = "goldkeeper init could not tell how to install goldkeeper here"


def _install_todo_to_fill(target: Path, install: str | None) -> bool:
    """``init --install ARGS`` rewrites a workflow file that still holds init's own TODO install step (the rest
    of it is init's too, untouched); a file without it (written with --install, or edited) is kept."""
    if install is None or target.parent.name != "workflows":
        return False
    try:
        return _INSTALL_TODO_MARK in target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _ensure_baselines_dir(root: Path, result: InitResult) -> None:
    """An empty baselines/ kept in git: the gate and report stages depend on the folder."""
    keep = root / "baselines" / ".gitkeep"
    if not keep.parent.is_dir() or not any(keep.parent.iterdir()):
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.touch()
        result.created.append("baselines/")


def _ensure_dvc(root: Path, toplevel: Path, result: InitResult) -> None:
    """``dvc init`` (``--subdir`` below the repository's top level) unless ``.dvc/`` exists there or in a folder
    between it and the top level: a pipeline in ``services/rag/`` of a repository with its own DVC project joins
    it (its remotes, ``dvc status`` / ``dvc repro services/rag/dvc.yaml`` from the top), where a nested project
    had no remote and was ignored by the outer one (``dvc.yaml is dvc-ignored``)."""
    enclosing = enclosing_dvc_project(root, toplevel)
    if enclosing == root:
        return
    if enclosing is not None:
        result.joined_dvc.append(str(enclosing))
        return
    args = ["init"] if toplevel == root else ["init", "--subdir"]
    run_dvc(args, root)
    result.ran.append("dvc " + " ".join(args))


def _fill_store(
    root: Path,
    settings: Settings,
    force: bool,
    from_database: bool,
    dump_store: Callable[[Path], object] | None,
    result: InitResult,
) -> None:
    """The golden store: kept when it has a manifest, else dumped or written empty. ``force`` replaces it only
    with a dump (``from_database``): an empty store written over it would delete the dataset, and ``init --force``
    is what refreshes the templates (``--install``)."""
    store = settings.store_path
    manifest_exists = (store / MANIFEST).exists()
    if manifest_exists and not (force and from_database):
        result.kept.append(settings.store.path + "/")
        return
    if from_database:
        if dump_store is None:
            raise ConfigError("init --from-database needs a dump function")
        dump_store(root)
        result.ran.append("goldkeeper dump")
    else:
        write_store(store, settings.dataset.name, analyses=[], queries=[], shard_counts=dict(settings.store.shards))
    (result.overwritten if manifest_exists else result.created).append(settings.store.path + "/")


#: the first gate's verdict, said before it is seen: the built-in extractive answerer (a baseline, not a RAG system)
#: scores under the rubric's default floors on the sample, so every pull request's gate would fail unexplained
_GATE_NOTE = (
    "   # the gate holds grounded answers to params.yaml's rubric: floors; the built-in extractive answerer "
    "scores under them on the sample: set grounded.answerer to your system, or the floors (docs/ci.md)"
)


def _next_commands(
    settings: Settings,
    dvc_tracked_store: bool,
    from_database: bool,
    database_ok: bool,
    *,
    files: list[str],
    own_dvc: bool = True,
) -> list[str]:
    """What the user runs next: a DVC remote, a first dataset, the pipeline, and the commit of ``files`` (the
    templates' paths from the root) and the rest (``.dvc`` too unless the pipeline joined a DVC project above:
    ``git add .dvc`` then failed, no such path)."""
    store_git_path = f"{settings.store.path}.dvc" if dvc_tracked_store else settings.store.path
    to_add = [*files, ".gitignore", *([".dvc"] if own_dvc else []), "baselines", store_git_path]
    if not database_ok:
        then = f" && dvc add {settings.store.path}" if dvc_tracked_store else ""
        return [
            "edit params.yaml: its database: section (each `# TODO`, and what `goldkeeper db check` reports)",
            f"goldkeeper db check && goldkeeper dump{then}   # fills {settings.store.path}/ from your tables",
            "dvc repro",
        ]
    commands = []
    if dvc_tracked_store:
        commands.append("dvc remote add -d storage s3://BUCKET/goldkeeper && dvc push golden.dvc")
    if not from_database:
        # an import fills the database only: without the dump, golden/ stays empty and the pipeline's restore
        # refuses it (0 prompts), so the dump belongs on the same line
        commands.append(
            "goldkeeper import squad --sample && goldkeeper dump"
            "   # or yours: goldkeeper import jsonl FILE && goldkeeper dump; or just goldkeeper dump (from your database)"
        )
    return [
        *commands,
        "dvc repro" + _GATE_NOTE * (settings.grounded.answerer == "extractive"),
        # artifacts/: the gate's verdict and the eval runs and trend, outputs the pipeline keeps in Git (cache: false)
        f"git add {' '.join(to_add)} dvc.lock metrics reports artifacts",
        'git commit -m "goldkeeper: golden dataset, pipeline and workflows"',
    ]
