"""A store at a git revision read with the ``git`` command alone, for ``goldkeeper show``.

``show`` reads one file (the manifest) of one revision; importing GitPython for it costs about a
fifth of the command's start-up (``benchmarks/README.md``, start-up). :class:`GitCommandSource`
is a :class:`~goldkeeper.store.source.StoreSource` whose reads are ``git cat-file`` calls, with
the errors of :mod:`goldkeeper.store.git_source` (which every other git operation uses): not a
git repository and an unknown revision are UsageErrors, a revision without the store is a
DataIntegrityError.

The rules both readers share live here, so that ``show`` needs no GitPython for them: how a revision
name is read (:func:`commit_of`), a store inside a submodule (:func:`refuse_submodule`), and where a
revision from before ``store.path`` changed holds the store (:func:`moved_store_path`).
"""

from __future__ import annotations

import logging
import posixpath
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Protocol, TypeVar

from goldkeeper.discovery import PARAMS_FILE
from goldkeeper.errors import DataIntegrityError, UsageError
from goldkeeper.store.source import as_committed

log = logging.getLogger("goldkeeper")


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed (git revisions need it)") from exc


def _toplevel(path: Path) -> tuple[Path, bool]:
    """The root of the working tree holding ``path``, or the git directory of a bare repository (True)."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory (looking for a git repository)")
    done = _git(path, "rev-parse", "--show-toplevel")
    top = done.stdout.decode().strip()
    if done.returncode == 0 and top:
        return Path(top), False
    # a bare repository has no working tree, but its revisions hold the store (git_source reads them too)
    bare = _git(path, "rev-parse", "--is-bare-repository", "--absolute-git-dir").stdout.decode().split("\n")
    if bare[0] == "true" and len(bare) > 1 and bare[1]:
        return Path(bare[1]), True
    raise UsageError(f"{path}: not inside a git repository (git revisions need one)")


class GitCommandSource:
    """The files of the store at ``store_path`` (repository-relative) in ``commit``."""

    def __init__(self, top: Path, commit: str, store_path: str, rev: str) -> None:
        self.top = top
        self.commit = commit
        self.store_path = store_path.strip("/")
        self.rev = rev
        #: the store is where this revision's own params.yaml put it, not at today's ``store.path``
        self.moved = False

    def _spec(self, relpath: str) -> str:
        path = "/".join(part for part in (self.store_path, relpath.strip("/")) if part)
        return f"{self.commit}:{path}"

    @property
    def exists(self) -> bool:
        done = _git(self.top, "cat-file", "-t", self._spec(""))
        return done.returncode == 0 and done.stdout.strip() == b"tree"

    def read_bytes(self, relpath: str) -> bytes:
        kind = _git(self.top, "cat-file", "-t", self._spec(relpath))
        if kind.returncode != 0:
            raise FileNotFoundError(self.describe(relpath))
        if kind.stdout.strip() != b"blob":
            raise IsADirectoryError(self.describe(relpath))
        return as_committed(_git(self.top, "cat-file", "blob", self._spec(relpath)).stdout)  # as git_source reads it

    def list_files(self, reldir: str) -> list[str]:
        done = _git(self.top, "ls-tree", "-z", "--name-only", self._spec(reldir) + "/")
        if done.returncode != 0:
            return []
        prefix = reldir.strip("/")
        names = [name.decode() for name in done.stdout.split(b"\0") if name]
        return sorted(f"{prefix}/{PurePosixPath(name).name}" if prefix else name for name in names)

    def describe(self, relpath: str) -> str:
        path = f"{self.store_path}/{relpath}" if self.store_path else relpath
        return f"{self.rev}:{path}"


class UnknownRevision(UsageError):
    """A revision git cannot resolve."""


class NoCommitsYet(UnknownRevision):
    """The repository has no commit at all (``git init``, nothing committed yet): no revision names anything."""


def _shallow_hint(top: Path) -> str:
    """Why a revision may be unknown in a shallow clone (CI's fetch-depth 1): git names it as any unknown one."""
    shallow = _git(top, "rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
    return ": a shallow clone, it may not have been fetched (`git fetch --unshallow`)" if shallow else ""


#: the remote whose branch a branch name missing locally is read from, as git's checkout does (``origin/<name>``)
FALLBACK_REMOTE = "origin"


def _remote_branch(top: Path, rev: str) -> str:
    """The commit of ``origin/<rev>`` when ``rev`` is a branch name git does not know locally, with a warning;
    else "". A CI checkout (a pull request's merge commit, detached) has ``origin/main`` but no ``main``: without
    a step that creates it, ``diff main`` would be an unknown revision and the diff stage's base everything added.
    Only a plain branch name (``main``, ``release/1.2``) falls back: ``main~1`` or ``main:golden`` does not."""
    if rev.startswith("-") or _git(top, "check-ref-format", f"refs/heads/{rev}").returncode != 0:
        return ""
    remote = f"refs/remotes/{FALLBACK_REMOTE}/{rev}"
    done = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{remote}^{{commit}}")
    sha = done.stdout.decode().strip()
    if done.returncode != 0 or not sha:
        return ""
    log.warning(
        "git revision %r is not a local branch; reading %s/%s (%s) instead, as `git checkout %s` would",
        rev,
        FALLBACK_REMOTE,
        rev,
        sha[:12],
        rev,
    )
    return sha


def commit_of(top: Path, rev: str) -> str:
    """The sha of the commit ``rev`` names, read by git itself: the one check of a revision that ``show``,
    ``diff``, ``log`` and ``changelog`` share, so each takes every syntax of gitrevisions(7) (``:/message``
    too). The revision is resolved first and peeled to its commit after (``:/fix^{commit}`` would search
    for the text "fix^{commit}"). Unknown: UnknownRevision (NoCommitsYet in a repository without commits)."""
    # not --quiet: it would silence git's warning that the name is ambiguous (read below); stderr is captured
    done = _git(top, "rev-parse", "--verify", "--end-of-options", rev)
    sha = done.stdout.decode().strip()
    if done.returncode != 0 or not sha:
        sha = _remote_branch(top, rev)
    if not sha:
        if not _git(top, "rev-list", "-n", "1", "--all").stdout.strip():
            raise NoCommitsYet(
                f"{top} has no commits yet, so git revision {rev!r} names nothing: commit the store first "
                "(git add, git commit); diff, changelog --base and show --rev also take a store directory"
            )
        raise UnknownRevision(f"unknown git revision {rev!r} in {top}{_shallow_hint(top)}")
    peeled = _git(top, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")
    commit = peeled.stdout.decode().strip()
    if peeled.returncode != 0 or not commit:
        kind = _git(top, "cat-file", "-t", sha).stdout.decode().strip() or "object"
        raise UsageError(f"git revision {rev!r} is a {kind}, not a commit")
    if b"is ambiguous" in done.stderr:  # git's own warning, which `git diff v1` shows and rev-parse's caller hides
        log.warning(
            "git revision %r is ambiguous (a tag and a branch of that name?): git reads it as %s, the first of "
            "refs/tags/, refs/heads/, refs/remotes/ that has it; name the one you mean (tags/%s, heads/%s)",
            rev,
            commit[:12],
            rev,
            rev,
        )
    return commit


def refuse_submodule(top: Path, commit: str, store_path: str, rev: str) -> None:
    """A UsageError when the store path runs through a git submodule at ``commit``.

    The superproject's tree holds only the submodule's commit id there (a gitlink), not its files, so
    the store would read as absent: a diff showing every record added, an empty ``log``.
    """
    parts = PurePosixPath(store_path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if not prefixes:
        return
    for entry in _git(top, "ls-tree", "-z", commit, "--", *prefixes).stdout.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        if meta.startswith(b"160000 "):  # a gitlink: the mode git gives a submodule
            submodule = name.decode("utf-8", "replace")
            raise UsageError(
                f"{rev}:{store_path}: the store is inside the git submodule {submodule} "
                f"(at {meta.split()[2].decode()[:12]}): its files and history are in that repository, "
                "not in this one's revisions (run goldkeeper in the submodule's checkout)"
            )


def store_path_in_params(params: bytes | None, project: str) -> str | None:
    """The repository-relative store path a revision's own params.yaml names (``store.path``, ``golden``
    without one), for a revision from before the store was moved; None when that file names no path
    inside the repository (unreadable YAML, an absolute path, one that leaves the repository)."""
    import yaml  # noqa: PLC0415 - start-up: only a revision without the store at today's path needs it

    try:
        values = yaml.safe_load(params) if params is not None else None
    except yaml.YAMLError:
        return None
    store = values.get("store") if isinstance(values, dict) else None
    relpath = store.get("path", "golden") if isinstance(store, dict) else "golden"
    if not isinstance(relpath, str) or not relpath or PurePosixPath(relpath).is_absolute():
        return None
    joined = posixpath.normpath(posixpath.join(project.strip("/") or ".", relpath))
    return None if joined == ".." or joined.startswith("../") else joined


def moved_store_path(params_then: bytes | None, project_dir: Path, project: str, current: str) -> str | None:
    """Where a revision holds the store when it has none at ``current`` (today's store path): the path its own
    params.yaml (``params_then``) names, when the project's params.yaml names another one today, i.e. when
    ``store.path`` changed since and the store was moved; else None (a store path given elsewhere, such as
    ``--params other.yaml``, is not replaced by the one params.yaml names)."""
    then = store_path_in_params(params_then, project)
    if then is None or then == current:
        return None
    try:
        today: bytes | None = (project_dir / PARAMS_FILE).read_bytes()
    except OSError:
        today = None
    return None if then == store_path_in_params(today, project) else then


class _RevisionStore(Protocol):
    """What :func:`moved_source` needs of either git reader (GitCommandSource, git_source.GitTreeSource)."""

    store_path: str

    @property
    def exists(self) -> bool: ...

    def read_bytes(self, relpath: str) -> bytes: ...


_Source = TypeVar("_Source", bound=_RevisionStore)


def moved_source(source: _Source, at: Callable[[str], _Source], project_dir: Path, project: str) -> _Source:
    """The store where the revision's own params.yaml put it (``store.path`` changed since), else ``source``:
    a revision from before the store moved holds it at its old path. ``at(path)``: the same revision read at
    another repository-relative path (``project``: the project directory's)."""
    project = "" if project == "." else project
    try:
        params: bytes | None = at(project).read_bytes(PARAMS_FILE)
    except OSError:
        params = None
    path = moved_store_path(params, project_dir, project, source.store_path)
    if path is None:
        return source
    moved = at(path)
    return moved if moved.exists else source


def _in_tree(top: Path, path: Path) -> str:
    """``path`` (links resolved, as git_source.store_path_in_repo) relative to the working tree's root."""
    try:
        return path.relative_to(top.resolve()).as_posix()
    except ValueError as exc:
        raise UsageError(f"{path}: the store is outside the git repository {top.resolve()}") from exc


def git_command_source(repo: Path | str, rev: str, store_relpath: str | Path) -> GitCommandSource:
    """The store at ``store_relpath`` (relative to ``repo``) in revision ``rev``; it must be there."""
    repo = Path(repo)
    top, bare = _toplevel(repo)
    commit = commit_of(top, rev)
    if bare:  # as git_source.store_path_in_repo: the path is already repository-relative
        path, project = PurePosixPath(*Path(store_relpath).parts).as_posix(), ""
    else:
        path, project = _in_tree(top, (repo.resolve() / store_relpath).resolve()), _in_tree(top, repo.resolve())
    source = GitCommandSource(top, commit, "" if path == "." else path, rev)
    if not source.exists:
        refuse_submodule(top, commit, source.store_path, rev)
        moved = moved_source(source, lambda path: GitCommandSource(top, commit, path, rev), repo, project)
        moved.moved = moved is not source
        source = moved
    if not source.exists:
        raise DataIntegrityError(
            f"{rev}:{path}: no golden store at revision {rev} ({commit[:12]}); "
            "was it committed there? (`git log -- " + path + "`)"
        )
    return source


__all__ = [
    "GitCommandSource",
    "NoCommitsYet",
    "UnknownRevision",
    "commit_of",
    "git_command_source",
    "moved_source",
    "moved_store_path",
    "refuse_submodule",
    "store_path_in_params",
]
