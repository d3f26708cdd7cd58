"""The dataset's history from git: ``goldkeeper log`` and ``goldkeeper show``.

Each commit that changed the store path is listed with its dataset version
(the sha256 of the manifest at that commit), the manifest's record counts and
the record changes against its first parent (computed with the fast path of
:mod:`goldkeeper.dataset.diff`: only shards whose bytes changed are parsed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goldkeeper.dataset import WORKTREE
from goldkeeper.dataset.known import KnownSettings, manifest_memo
from goldkeeper.errors import DataIntegrityError
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store.git_command import git_command_source
from goldkeeper.store.source import MANIFEST

if TYPE_CHECKING:
    from goldkeeper.config import Settings
    from goldkeeper.models import Manifest
    from goldkeeper.store import Store
    from goldkeeper.store.git_source import CommitInfo, RevisionStores


@dataclass(frozen=True)
class LogEntry:
    commit: CommitInfo
    version: str | None  # None: the commit removed the store
    dataset: str | None
    counts: dict[str, int]
    changes: dict[str, dict[str, int]]
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            **self.commit.to_json(),
            "version": self.version,
            "dataset": self.dataset,
            "counts": self.counts,
            "changes": self.changes,
            "changes_summary": self.summary,
        }


def dataset_log(
    settings: Settings, rev: str = "HEAD", max_count: int | None = None, progress: Progress = SILENT
) -> list[LogEntry]:
    """The commits reachable from ``rev`` that changed the store, newest first."""
    from goldkeeper.store.git_source import RevisionStores, store_history  # noqa: PLC0415 - start-up: GitPython, not for show

    history = store_history(settings.root, settings.store.path, rev=rev, max_count=max_count)
    stores = _StoresAt(RevisionStores(settings.root, settings.store.path))
    entries = []
    with progress.task("reading the store's history", len(history)) as task:
        for info in history:
            entries.append(_entry(info, stores, settings))
            task.advance(1)
    return entries


class _StoresAt:
    """The opened store at a commit (None: none there), the last two kept: a commit's parent is usually the
    next commit of the log, so each store is opened once, not twice (once as a commit, once as a parent)."""

    def __init__(self, stores: RevisionStores) -> None:
        self.stores = stores
        self.kept: dict[str, Store | None] = {}

    def __call__(self, sha: str) -> Store | None:
        if sha not in self.kept:
            from goldkeeper.store import open_store  # noqa: PLC0415 - start-up: pydantic, not for show

            source = self.stores.at(sha)
            self.kept = {**dict(list(self.kept.items())[-1:]), sha: open_store(source) if source.exists else None}
        return self.kept[sha]


def _entry(info: CommitInfo, store_at: _StoresAt, settings: Settings) -> LogEntry:
    """The log entry of one commit: its store's version and counts, and what it changed."""
    try:
        here = store_at(info.sha)
    except DataIntegrityError as exc:  # history cannot be fixed: a broken commit is listed, not fatal
        return LogEntry(info, None, None, {}, {}, f"store unreadable: {exc}")
    manifest = here.manifest if here else None
    changes, summary = _changes(info, here, store_at, settings)
    return LogEntry(
        commit=info,
        version=here.version if here else None,
        dataset=manifest.dataset if manifest else None,
        counts=dict(manifest.counts) if manifest else {},
        changes=changes,
        summary=summary,
    )


def _changes(
    info: CommitInfo, here: Store | None, store_at: _StoresAt, settings: Settings
) -> tuple[dict[str, dict[str, int]], str]:
    """The record changes of a commit against its first parent, or why they are unknown."""
    from goldkeeper.dataset.diff import diff_stores  # noqa: PLC0415 - start-up: not for show

    if info.shallow:  # its parent was not fetched: what the commit changed cannot be known here
        return {}, "changes unknown: the parent commit is not in this shallow clone (`git fetch --unshallow`)"
    try:
        parent = store_at(info.parents[0]) if info.parents else None
        result = diff_stores(parent, here, verify=settings.verify)
    except DataIntegrityError as exc:  # e.g. a shard committed with merge-conflict markers, fixed later
        return {}, f"changes unknown: {exc}"
    return result.counts(), result.summary_line() if here else "store removed"


def show_revision(
    settings: Settings | KnownSettings, rev: str = "HEAD", *, full_settings: Callable[[], Settings] | None = None
) -> dict[str, Any]:
    """The manifest summary of the store at ``rev`` (a git revision or a store directory).

    A revision is read with the git command (``store.git_command``), not GitPython: ``show`` reads
    one file, and GitPython's import would be a fifth of its start-up. A manifest that validated
    before (the same sha256, see :mod:`goldkeeper.dataset.known`) is summarised without pydantic.
    ``settings`` may be :class:`KnownSettings` (what an earlier run validated); a store directory is
    opened with the diff's reader, which needs the full settings: ``full_settings()`` gives them.
    """
    if rev == WORKTREE or settings.given(rev).is_dir():  # a directory the user named: relative to their cwd
        from goldkeeper.dataset.diff import open_side  # noqa: PLC0415 - start-up: show HEAD needs no diff

        if isinstance(settings, KnownSettings):
            if full_settings is None:
                raise TypeError("show_revision: a store directory needs the full Settings (full_settings)")
            settings = full_settings()
        store = open_side(rev, settings, missing_ok=False).store
        assert store is not None
        return {"rev": rev, "commit": None, "store": settings.store.path, **_store_summary(store)}
    store_path = settings.store.path
    source = git_command_source(settings.root, rev, store_path)
    memo = manifest_memo(settings.home_path)
    try:
        version = hashlib.sha256(source.read_bytes(MANIFEST)).hexdigest()
    except OSError:
        version = None  # no manifest (or a directory): open_store says so
    summary = memo.get(version) if version is not None else None
    if not isinstance(summary, dict) or set(summary) != _SUMMARY_KEYS or summary["version"] != version:
        from goldkeeper.store import open_store  # noqa: PLC0415 - start-up: pydantic, for a manifest not seen before

        summary = _store_summary(open_store(source))
        memo.put(summary["version"], summary)
    # a revision from before store.path changed: where its own params.yaml put the store (repository-relative)
    return {"rev": rev, "commit": source.commit, "store": source.store_path if source.moved else store_path, **summary}


#: the keys of :func:`_store_summary` (a remembered summary without them is not used)
_SUMMARY_KEYS = {"version", "dataset", "format_version", "schema_version", "counts", "shard_counts", "shards"}


def _store_summary(store: Store) -> dict[str, Any]:
    """What ``show`` prints of an opened store, but the revision, commit and store path."""
    manifest: Manifest = store.manifest
    per_entity: dict[str, dict[str, int]] = {}
    for shard in manifest.shards:
        stats = per_entity.setdefault(shard.entity, {"shards": 0, "records": 0})
        stats["shards"] += 1
        stats["records"] += shard.records
    return {
        "version": store.version,
        "dataset": manifest.dataset,
        "format_version": manifest.format_version,
        "schema_version": manifest.schema_version,
        "counts": dict(manifest.counts),
        "shard_counts": dict(manifest.shard_counts),
        "shards": per_entity,
    }
