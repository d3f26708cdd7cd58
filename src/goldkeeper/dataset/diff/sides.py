"""Naming the sides of a diff: a store directory, the working tree, or a git revision; and ``diff`` itself."""

from __future__ import annotations

from dataclasses import dataclass

from goldkeeper.config import Settings
from goldkeeper.dataset import WORKTREE  # the NEW spec that means "the store in the working tree" (the default)
from goldkeeper.dataset.diff.compare import diff_stores, side_of
from goldkeeper.dataset.diff.model import DatasetDiff, Side
from goldkeeper.errors import UsageError
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import DirectorySource, Store, open_store
from goldkeeper.store.hash_cache import ShardHashes


@dataclass(frozen=True)
class OpenedSide:
    """An opened side: its store (None: there is none at that revision) and its description."""

    store: Store | None
    side: Side


def open_side(
    spec: str | None,
    settings: Settings,
    *,
    missing_ok: bool = True,
    hashes: ShardHashes | None = None,
    from_params: bool = False,
) -> OpenedSide:
    """Open ``spec``: a store directory, ``WORKTREE`` / None (the project's store), or a git revision.

    A directory wins over a revision of the same name; a relative one is taken from the user's cwd
    (:meth:`Settings.given`), or from the project root when ``from_params`` (params ``diff.base``). A revision without the
    store gives an empty side when ``missing_ok`` (a pull request that adds
    the store shows everything as added), else a DataIntegrityError. ``hashes``: the sha256 of
    shard files already hashed, for a directory side (see :func:`shard_hashes`).
    """
    if spec is None or spec == WORKTREE:
        store = open_store(DirectorySource(settings.store_path, hashes))
        return OpenedSide(store, side_of(store, "working tree"))
    as_path = settings.resolve(spec) if from_params else settings.given(spec)
    if as_path.is_dir():
        store = open_store(DirectorySource(as_path, hashes))
        return OpenedSide(store, side_of(store, spec))
    # GitPython costs about 0.1 s of start-up; only a git revision needs it (the only module that imports git)
    from goldkeeper.store.git_source import git_store_source  # noqa: PLC0415 - start-up: GitPython, see above

    source = git_store_source(settings.root, spec, settings.store.path, must_exist=not missing_ok)
    if not source.exists:
        return OpenedSide(None, side_of(None, spec, source.commit.hexsha))
    store = open_store(source)
    return OpenedSide(store, side_of(store, spec, source.commit.hexsha))


def open_base(base: str | None, settings: Settings) -> OpenedSide:
    """The base of the DVC diff stage: ``base``, else the repository's default branch.

    It never fails the pipeline: no base to name (no git repository, no default branch) or one that
    does not resolve (a ``master`` repository, a shallow clone) is an empty side whose label says so,
    so every record shows as added.
    """
    from goldkeeper.store.git_source import default_branch  # noqa: PLC0415 - start-up: GitPython, see open_side

    spec = base or default_branch(settings.root)
    if spec is None:
        return OpenedSide(None, side_of(None, "(no base branch found: everything is added)"))
    try:
        return open_side(spec, settings, from_params=True)
    except UsageError as exc:
        return OpenedSide(None, side_of(None, f"{spec} (not usable as the base, everything is added: {exc})"))


def shard_hashes(settings: Settings) -> ShardHashes:
    """The sha256 of shard files earlier diffs hashed, kept in ``home`` (``cache/shard-sha256.json``)."""
    return ShardHashes.load(settings.home_path / "cache" / "shard-sha256.json")


def diff(
    old: str | None,
    new: str | None,
    settings: Settings,
    *,
    context_words: int | None = None,
    progress: Progress = SILENT,
) -> DatasetDiff:
    """``goldkeeper diff OLD NEW``: OLD defaults to ``HEAD``, NEW to the working tree store."""
    hashes = shard_hashes(settings)
    old_side, new_side = open_side(old or "HEAD", settings, hashes=hashes), open_side(new, settings, hashes=hashes)
    result = diff_sides(old_side, new_side, settings, context_words, progress)
    hashes.save()
    return result


def diff_base(base: str | None, new: str | None, settings: Settings, progress: Progress = SILENT) -> DatasetDiff:
    """The DVC diff stage: NEW (default: the working tree) against :func:`open_base`."""
    hashes = shard_hashes(settings)
    old_side = open_base(base, settings)
    result = diff_sides(old_side, open_side(new, settings, hashes=hashes), settings, progress=progress)
    hashes.save()
    return result


def diff_sides(
    old_opened: OpenedSide,
    new_opened: OpenedSide,
    settings: Settings,
    context_words: int | None = None,
    progress: Progress = SILENT,
) -> DatasetDiff:
    params = settings.diff
    if old_opened.store is None and new_opened.store is None:
        raise UsageError(
            f"neither {old_opened.side.label} nor {new_opened.side.label} has a golden store at {settings.store.path}"
        )
    return diff_stores(
        old_opened.store,
        new_opened.store,
        old_side=old_opened.side,
        new_side=new_opened.side,
        verify=settings.verify,
        context_words=params.context_words if context_words is None else context_words,
        progress=progress,
    )


__all__ = ["WORKTREE", "OpenedSide", "open_side", "open_base", "shard_hashes", "diff", "diff_base", "diff_sides"]
