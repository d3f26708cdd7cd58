"""Git revisions of the golden store: read a store from git objects, list its history.

This is the only module that imports git (gitpython). A revision is read
straight from the object database (``git cat-file``), never by checking out,
so the working tree is never touched::

    source = git_store_source(Path("."), "HEAD~1", "golden")
    store = open_store(source)          # messages name "HEAD~1:golden/analyses/03.json"

Errors are translated once, here: not a git repository and an unknown
revision are :class:`~goldkeeper.errors.UsageError` (the user named
something that does not exist); a revision without the store is a
:class:`~goldkeeper.errors.DataIntegrityError`, like a directory without a
manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import git
from gitdb.exc import BadName, BadObject

from goldkeeper.errors import DataIntegrityError, UsageError
from goldkeeper.store.git_command import (
    FALLBACK_REMOTE,
    NoCommitsYet,
    UnknownRevision,
    commit_of,
    moved_source,
    refuse_submodule,
)
from goldkeeper.store.source import as_committed

__all__ = [
    "GitTreeSource",
    "RevisionStores",
    "CommitInfo",
    "open_repo",
    "resolve_commit",
    "git_store_source",
    "store_path_in_repo",
    "store_history",
    "has_store",
    "default_branch",
]


def open_repo(path: Path | str) -> git.Repo:
    """The git repository containing ``path`` (any directory inside its working tree)."""
    path = Path(path)
    try:
        return git.Repo(path, search_parent_directories=True)
    except git.NoSuchPathError as exc:
        raise UsageError(f"{path}: no such directory (looking for a git repository)") from exc
    except git.InvalidGitRepositoryError as exc:
        raise UsageError(f"{path}: not inside a git repository (git revisions need one)") from exc


def default_branch(path: Path | str) -> str | None:
    """The repository's default branch as a revision, None when there is none to name.

    In order: what ``origin/HEAD`` points at (``origin/main``), the current branch's upstream, then
    ``main`` or ``master``, whichever exists (as a local branch or as ``origin/main``); None outside a git
    repository or when none exists.
    """
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        return None
    queries = (
        ("symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"),
        ("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"),
    )
    for args in queries:
        try:
            name = str(repo.git.execute(["git", *args])).strip()
        except git.GitCommandError:
            continue
        if name:
            return name
    for name in ("main", "master"):
        # origin/<name> too: a CI checkout (detached, no origin/HEAD) has it without the local branch, and
        # reading `name` falls back to it with a warning (git_command.commit_of)
        for ref in (f"refs/heads/{name}", f"refs/remotes/{FALLBACK_REMOTE}/{name}"):
            try:
                repo.git.execute(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
            except git.GitCommandError:
                continue
            return name
    return None


def resolve_commit(repo: git.Repo, rev: str) -> git.Commit:
    """The commit a revision names (``HEAD``, ``main``, ``HEAD~1``, ``:/message``, a sha, a tag), as git reads it
    (:func:`~goldkeeper.store.git_command.commit_of`, which ``show`` uses too)."""
    try:
        return repo.commit(commit_of(_top(repo), rev))
    except NoCommitsYet:
        raise
    except UnknownRevision as unknown:
        _raise_if_cut_off(repo, rev, unknown)
        raise


def _raise_if_cut_off(repo: git.Repo, rev: str, unknown: UnknownRevision) -> None:
    """Name a shallow clone's missing commit (HEAD~1): git calls it unknown, GitPython finds the parent's sha."""
    try:
        obj = repo.rev_parse(rev)
    except (BadName, BadObject, ValueError, IndexError, git.GitCommandError):
        return
    if isinstance(obj, git.TagObject):
        obj = obj.object
    if not isinstance(obj, git.Commit):
        return
    try:
        obj.tree  # noqa: B018 - reading the commit: a shallow clone's cut-off parent is named but not there
    except ValueError:
        raise UsageError(
            f"git revision {rev!r} ({obj.hexsha[:12]}) is not in {repo.working_dir or repo.git_dir}: "
            "a shallow clone? (`git fetch --unshallow`)"
        ) from unknown


def store_path_in_repo(repo: git.Repo, base: Path | str, store_relpath: str | Path) -> str:
    """POSIX path of the store relative to the repository root.

    ``store_relpath`` is taken relative to ``base`` (the project directory,
    which may be a subdirectory of the repository) unless it is absolute.
    """
    # resolved like an absolute path: a store reached through a link (golden -> data/golden) is
    # versioned where git sees its files, not as the link
    store = (Path(base).resolve() / store_relpath).resolve()
    if repo.working_tree_dir is None:  # bare repository: the path is already repository-relative
        return PurePosixPath(*Path(store_relpath).parts).as_posix()
    root = Path(repo.working_tree_dir).resolve()
    try:
        rel = store.relative_to(root)
    except ValueError as exc:
        raise UsageError(f"{store}: the store is outside the git repository {root}") from exc
    return rel.as_posix()


class GitTreeSource:
    """A :class:`~goldkeeper.store.source.StoreSource` over the tree of one commit."""

    def __init__(self, repo: git.Repo, commit: git.Commit, store_path: str, rev: str) -> None:
        self.repo = repo
        self.commit = commit
        self.store_path = store_path.strip("/")
        self.rev = rev
        self._tree = self._subtree(commit.tree, self.store_path)
        self._listings: dict[str, dict[str, Any] | None] = {}

    @staticmethod
    def _subtree(tree: git.Tree, path: str) -> git.Tree | None:
        if path in ("", "."):
            return tree
        try:
            obj = tree / path
        except KeyError:
            return None
        return obj if isinstance(obj, git.Tree) else None

    @property
    def exists(self) -> bool:
        return self._tree is not None

    def _object(self, relpath: str) -> Any:
        """The blob or tree at ``relpath`` in the store (FileNotFoundError: none)."""
        if self._tree is None:
            raise FileNotFoundError(self.describe(relpath))
        parent, _, name = relpath.strip("/").rpartition("/")
        if not name:
            return self._tree
        found = (self._listing(parent) or {}).get(name)
        if found is None:
            raise FileNotFoundError(self.describe(relpath))
        return found

    def _listing(self, reldir: str) -> dict[str, Any] | None:
        """A directory's entries by name (None: not a directory), read once: a diff looks up each shard on
        both sides, and every ``tree / path`` would read and parse the directory's tree object again."""
        if reldir not in self._listings:
            tree: Any = self._tree
            try:
                tree = tree / reldir if reldir and tree is not None else tree
            except KeyError:
                tree = None
            self._listings[reldir] = {entry.name: entry for entry in tree} if isinstance(tree, git.Tree) else None
        return self._listings[reldir]

    def read_bytes(self, relpath: str) -> bytes:
        obj = self._object(relpath)
        if not isinstance(obj, git.Blob):
            raise IsADirectoryError(self.describe(relpath))
        return as_committed(obj.data_stream.read())  # a blob committed with CRLF: as a checkout reads it

    def content_id(self, relpath: str) -> str | None:
        """The git blob id of a file: a hash of its bytes, so equal ids are equal bytes (None: not a file)."""
        try:
            obj = self._object(relpath)
        except FileNotFoundError:
            return None
        return obj.hexsha if isinstance(obj, git.Blob) else None

    def list_files(self, reldir: str) -> list[str]:
        try:
            obj = self._object(reldir)
        except FileNotFoundError:
            return []
        if not isinstance(obj, git.Tree):
            return []
        prefix = reldir.strip("/")
        return sorted(f"{prefix}/{blob.name}" if prefix else blob.name for blob in obj.blobs)

    def describe(self, relpath: str) -> str:
        path = f"{self.store_path}/{relpath}" if self.store_path else relpath
        return f"{self.rev}:{path}"

    def close(self) -> None:
        self.repo.close()

    def __repr__(self) -> str:
        return f"GitTreeSource({self.rev!r} = {self.commit.hexsha[:12]}, {self.store_path!r})"


def git_store_source(
    repo: Path | str, rev: str, store_relpath: str | Path, *, must_exist: bool = True
) -> GitTreeSource:
    """The store at ``store_relpath`` as it is in revision ``rev`` of the repository holding ``repo``.

    ``repo`` may be any path inside the working tree; ``store_relpath`` is
    relative to ``repo`` (the project directory). With ``must_exist`` (the
    default) a revision without the store is a DataIntegrityError; otherwise
    check :attr:`GitTreeSource.exists`.
    """
    repository = open_repo(repo)
    commit = resolve_commit(repository, rev)
    path = store_path_in_repo(repository, repo, store_relpath)
    source = _located(
        GitTreeSource(repository, commit, path, rev), Path(repo), store_path_in_repo(repository, repo, ".")
    )
    if must_exist and not source.exists:
        raise DataIntegrityError(
            f"{rev}:{path}: no golden store at revision {rev} ({commit.hexsha[:12]}); "
            "was it committed there? (`git log -- " + path + "`)"
        )
    return source


def _located(source: GitTreeSource, project_dir: Path, project: str) -> GitTreeSource:
    """``source``, or where its revision holds the store when it has none there: a submodule on the path is
    refused, a store moved since is read where that revision's params.yaml put it (:func:`_moved`)."""
    if source.exists:
        return source
    refuse_submodule(_top(source.repo), source.commit.hexsha, source.store_path, source.rev)
    return _moved(source, project_dir, project)


def _moved(source: GitTreeSource, project_dir: Path | str, project: str) -> GitTreeSource:
    """:func:`~goldkeeper.store.git_command.moved_source` read with GitPython: the same revision at the path
    that revision's params.yaml names, when ``store.path`` changed since; else ``source``."""
    return moved_source(
        source, lambda path: GitTreeSource(source.repo, source.commit, path, source.rev), Path(project_dir), project
    )


class RevisionStores:
    """The store at many commits of one repository, for ``log``: the repository is opened once and each
    commit named by its sha (no ``git rev-parse`` per commit); a missing store as :func:`git_store_source`
    reads it (a submodule refused, a store moved since found where that revision's params.yaml put it)."""

    def __init__(self, repo: Path | str, store_relpath: str | Path) -> None:
        self.repository = open_repo(repo)
        self.project_dir = Path(repo)
        self.path = store_path_in_repo(self.repository, repo, store_relpath)
        self.project = store_path_in_repo(self.repository, repo, ".")

    def at(self, sha: str) -> GitTreeSource:
        """The store at commit ``sha`` (check :attr:`GitTreeSource.exists`); messages name the sha."""
        return _located(
            GitTreeSource(self.repository, self.repository.commit(sha), self.path, sha), self.project_dir, self.project
        )


def has_store(repo: Path | str, rev: str, store_relpath: str | Path) -> bool:
    """Whether revision ``rev`` holds a store directory at ``store_relpath``."""
    return git_store_source(repo, rev, store_relpath, must_exist=False).exists


@dataclass(frozen=True)
class CommitInfo:
    """One commit of the store's history."""

    sha: str
    date: datetime
    author: str
    author_email: str
    summary: str
    parents: tuple[str, ...]
    #: the oldest commit of a shallow clone: its parents are named but not in the repository
    shallow: bool = False

    @property
    def short(self) -> str:
        return self.sha[:12]

    def to_json(self) -> dict[str, object]:
        return {
            "commit": self.sha,
            "date": self.date.isoformat().replace("+00:00", "Z"),
            "author": self.author,
            "author_email": self.author_email,
            "summary": self.summary,
            "parents": list(self.parents),
            "shallow": self.shallow,
        }


def store_history(
    repo: Path | str, store_relpath: str | Path, rev: str = "HEAD", max_count: int | None = None
) -> list[CommitInfo]:
    """Commits reachable from ``rev`` that changed the store path, newest first."""
    repository = open_repo(repo)
    start = resolve_commit(repository, rev).hexsha  # as git reads the revision, like every other command
    path = store_path_in_repo(repository, repo, store_relpath)
    refuse_submodule(_top(repository), start, path, rev)  # git log -- PATH does not look into a submodule
    shallow = _shallow_commits(repository)
    commits = _commits_changing(repository, start, path, rev, max_count)
    commits = _across_moves(
        repository, commits, path, (repo, store_path_in_repo(repository, repo, ".")), shallow, max_count
    )
    return [
        CommitInfo(
            sha=c.hexsha,
            date=datetime.fromtimestamp(c.committed_date, tz=UTC),
            author=c.author.name or "",
            author_email=c.author.email or "",
            summary=c.summary if isinstance(c.summary, str) else c.summary.decode("utf-8", "replace"),
            parents=tuple(p.hexsha for p in c.parents),
            shallow=c.hexsha in shallow,
        )
        for c in commits
    ]


def _across_moves(
    repo: git.Repo,
    commits: list[git.Commit],
    path: str,
    project: tuple[Path | str, str],
    shallow: set[str],
    max_count: int | None,
) -> list[git.Commit]:
    """``commits`` (those that changed the store at ``path``), then those that changed it where it was before
    it was moved there (``store.path`` changed: see :func:`_moved`), as far back as the store goes."""
    while commits and (max_count is None or len(commits) < max_count):
        # the oldest commit found created the store at `path`; when its parent holds the store where that
        # revision's params.yaml put it, the commit moved it: go on from the parent at the old path
        oldest = commits[-1]
        if not oldest.parents or oldest.hexsha in shallow:
            break
        parent = GitTreeSource(repo, oldest.parents[0], path, oldest.parents[0].hexsha)
        before = parent if parent.exists else _moved(parent, *project)
        if before.store_path == path or not before.exists:
            break
        path = before.store_path
        remaining = None if max_count is None else max_count - len(commits)
        listed = {c.hexsha for c in commits}  # a side branch merged after the move may touch both paths
        more = _commits_changing(repo, parent.commit.hexsha, path, parent.commit.hexsha, remaining)
        commits = commits + [c for c in more if c.hexsha not in listed]
    return commits


def _commits_changing(repo: git.Repo, start: str, path: str, rev: str, max_count: int | None) -> list[git.Commit]:
    """``git log START -- PATH``: the commits reachable from ``start`` that changed ``path``, newest first."""
    try:
        if max_count is None:
            return list(repo.iter_commits(start, paths=path or "."))
        return list(repo.iter_commits(start, paths=path or ".", max_count=max_count))
    except git.GitCommandError as exc:
        raise UsageError(f"git log of {path} at {rev} failed: {exc.stderr.strip() or exc}") from exc


def _top(repo: git.Repo) -> Path:
    """Where git commands run for ``repo``: its working tree, or its git directory when bare."""
    return Path(repo.working_tree_dir or repo.git_dir)


def _shallow_commits(repo: git.Repo) -> set[str]:
    """The commits whose parents a shallow clone cut off (``.git/shallow``; empty in a full clone)."""
    try:
        text = Path(repo.common_dir, "shallow").read_text(encoding="ascii")
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return set(text.split())
