"""Why ``dump`` refuses to write the restored version back over a store changed since the restore.

The database records the store version a restore loaded (``golden.dataset_state``; an import clears it).
When the dump is about to write exactly that version while the store on disk is another one, the database
contributed nothing since the restore and the dump would only undo what changed in golden/ meanwhile: a
hand edit + ``fmt``, or a teammate's change brought in by ``git pull`` (then ``dvc repro`` had not run). That
is lost work (an uncommitted edit) or a silent revert in the next commit, so the dump stops before the swap.
A database changed since the restore (an import, SQL, the application) dumps as before. A hand edit without
``fmt`` leaves the manifest as restored: the shards' sha256 against it tell that edit apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from goldkeeper.db.state import dataset_state
from goldkeeper.errors import DatabaseError, DataIntegrityError
from goldkeeper.store.canonical import sha256_hex
from goldkeeper.store.reader import open_store


def _edited_shard(target: Path) -> str | None:
    """The first shard listed in the manifest that the store's own reading refuses (missing, outside the store, its
    bytes not the listed ones: :meth:`~goldkeeper.store.Store.shard_bytes`); None: the store is as written."""
    store = open_store(target)
    for entry in store.shards():
        try:
            store.shard_bytes(entry)
        except DataIntegrityError:
            return entry.path
    return None


def _restored_version(url: str) -> str | None:
    try:
        state = dataset_state(url)
    except DatabaseError:  # a role that may not read goldkeeper's bookkeeping: nothing to compare with
        return None
    return state.version if state is not None else None


def revert_guard(url: str, target: Path, manifest: bytes | None) -> Callable[[bytes], None]:
    """A check for :class:`~goldkeeper.store.StoreWriter`'s ``before_swap``: raises ``DataIntegrityError``
    when the dumped manifest is the restored version and the store on disk is another; ``manifest``: the bytes of
    the store's manifest.json as committed (None: the target holds no store)."""
    on_disk, restored = (None if manifest is None else sha256_hex(manifest)), _restored_version(url)

    def check(manifest_bytes: bytes) -> None:
        if restored is None or on_disk is None or sha256_hex(manifest_bytes) != restored:
            return
        if on_disk == restored:  # the manifest as restored: only shards edited without `fmt` would be undone
            edited = _edited_shard(target)
            if edited is not None:
                raise DataIntegrityError(
                    f"{target}: {edited} was edited since the manifest was written (a hand edit without `goldkeeper "
                    f"fmt`) and the database holds version {restored[:12]}, unchanged since it was restored: the dump "
                    "would only write it back over the edit; run `goldkeeper fmt` and `goldkeeper restore --replace` "
                    "first to load the edit, or `git checkout` the shard to drop it"
                )
            return
        raise DataIntegrityError(
            f"{target}: the database holds version {restored[:12]}, unchanged since it was restored, and the store "
            f"is version {on_disk[:12]}: the dump would only write {restored[:12]} back over it (undoing a hand edit or "
            "a `git pull` made since); run `goldkeeper restore --replace` first to load the store, or `git checkout` "
            "the store of that version to go back to it"
        )

    return check


__all__ = ["revert_guard"]
