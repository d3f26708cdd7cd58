"""The dataset's own change history: ``golden/CHANGELOG.json``.

``goldkeeper changelog`` diffs the working store against a base revision and
appends one dated entry::

    {"format_version": 1, "entries": [
      {"date": "2026-11-22T08:00:00Z", "base": "HEAD", "base_commit": "3f2a...",
       "version_before": "<sha256 of the base manifest>", "version_after": "<sha256 now>",
       "counts": {"analyses": {"added": 1, "removed": 0, "modified": 0}, "chunks": {...}, "queries": {...}},
       "description": "analyses +1, chunks +3"}]}

Idempotent: when the newest entry already records the current dataset
version, or nothing differs from the base, nothing is appended. The file is
not in the manifest, so writing it does not change the dataset version.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.config import Settings
from goldkeeper.dataset.diff import WORKTREE, DatasetDiff, diff
from goldkeeper.errors import DataIntegrityError
from goldkeeper.fileio import file_error
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store.atomic import store_lock
from goldkeeper.store.sidecar import write_sidecar_json

CHANGELOG_FILE = "CHANGELOG.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ChangelogResult:
    """What ``changelog`` did: the entry appended (None when there was nothing new) and the diff."""

    entry: dict[str, Any] | None
    diff: DatasetDiff
    reason: str
    #: the changelog file (written only when ``entry`` is not None)
    path: Path | None = None


def read_changelog(settings: Settings) -> dict[str, Any]:
    """The changelog document of the working store (empty when there is none yet)."""
    path = settings.store_path / CHANGELOG_FILE
    if path.is_symlink():  # the atomic write would replace the link, a file goldkeeper did not write
        raise DataIntegrityError(
            f"{path}: a symbolic link: the changelog is a regular file of the store (replace the link by its file)"
        )
    if not path.exists():
        return {"format_version": FORMAT_VERSION, "entries": []}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise DataIntegrityError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise DataIntegrityError(f"{path}: must be an object with an 'entries' list")
    version = data.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        # rewritten as format_version 1, a newer goldkeeper's entries would be misread from then on
        raise DataIntegrityError(
            f"{path}: format_version {version} is newer than this goldkeeper understands ({FORMAT_VERSION}); "
            "upgrade goldkeeper"
        )
    return data


def append_changelog(
    settings: Settings,
    base: str = "HEAD",
    message: str | None = None,
    now: datetime | None = None,
    progress: Progress = SILENT,
) -> ChangelogResult:
    """Diff the working store against ``base`` and append an entry unless there is nothing new (holding the
    store's lock: a dump running meanwhile would replace the store, and the entry with it)."""
    with ExitStack() as stack:
        try:
            stack.enter_context(store_lock(settings.store_path))
        except OSError as exc:
            raise file_error(exc, settings.store_path.parent, "write") from exc
        return _append(settings, base, message, now, progress)


def _append(
    settings: Settings, base: str, message: str | None, now: datetime | None, progress: Progress
) -> ChangelogResult:
    result = diff(base, WORKTREE, settings, progress=progress)
    stale = [p for p in result.store_problems if p.side == "new"]
    if stale:  # a hand edit before `fmt`: the manifest's sha256 (version_after) is not the content's version
        raise DataIntegrityError(
            f"{settings.store_path}: the manifest does not match the shards ({stale[0].file}"
            f"{f' and {len(stale) - 1} more' if len(stale) > 1 else ''}): run `goldkeeper fmt` first, the "
            "changelog records dataset versions"
        )
    document = read_changelog(settings)
    entries = document["entries"]
    after = result.new.version
    if entries and isinstance(entries[-1], dict) and entries[-1].get("version_after") == after:
        return ChangelogResult(None, result, f"the newest entry already records version {str(after)[:12]}")
    if result.is_empty and result.old.version == after:
        return ChangelogResult(None, result, f"no changes against {base}")
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    entry = {
        "date": when.isoformat().replace("+00:00", "Z"),
        "base": base,
        "base_commit": result.old.commit,
        "version_before": result.old.version,
        "version_after": after,
        "counts": result.counts(),
        "description": message or generated_description(result),
    }
    document = {**document, "format_version": FORMAT_VERSION, "entries": [*entries, entry]}
    path = write_sidecar_json(settings.store_path, CHANGELOG_FILE, document)
    return ChangelogResult(entry, result, "appended", path)


def generated_description(result: DatasetDiff) -> str:
    """A one-line summary of a diff for a changelog entry."""
    if result.is_empty:
        return "dataset rewritten without record changes (layout or shard count)"
    extra = []
    if result.impacted_queries:
        extra.append(f"{len(result.impacted_queries)} queries impacted")
    if result.url_violations:
        extra.append(f"{len(result.url_violations)} URL contract violations")
    return result.summary_line() + (f" ({', '.join(extra)})" if extra else "")
