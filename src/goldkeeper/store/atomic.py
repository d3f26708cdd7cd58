"""Crash-safe file and directory replacement.

A store is replaced as a whole: the new store is written into a staging
directory beside the old one, every file fsynced, then the two directories are
exchanged in one ``renameat2(RENAME_EXCHANGE)`` call where the kernel offers
it (Linux >= 3.15), so a reader or a crash sees either the old store or the
new one, never a mix. Elsewhere a two-rename fallback is used, with
:func:`recover_interrupted_swap` putting the old store back if a crash fell
between the two renames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
from contextlib import AbstractContextManager
from pathlib import Path

from goldkeeper.fileio import directory_lock, fsync_path
from goldkeeper.programs import process_alive

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def store_lock(target: Path) -> AbstractContextManager[None]:
    """One goldkeeper writer of the store at ``target`` at a time (dump, fmt, changelog): a changelog entry
    written while a dump runs went into the store the dump then replaced. The lock is the folder holding the
    store's (the store itself is exchanged): see :func:`~goldkeeper.fileio.directory_lock`."""
    return directory_lock(Path(target).resolve().parent)  # an OSError is the caller's to name (see StoreWriter)


def staging_dir_for(target: Path) -> Path:
    """A fresh, empty directory beside ``target`` (same filesystem, so renames are atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    return staging


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths; False where the platform cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def replace_directory(staging: Path, target: Path) -> None:
    """Put the fully written ``staging`` directory in place of ``target``."""
    if not target.exists():
        os.rename(staging, target)
        fsync_path(target.parent)
        return
    if _exchange(staging, target):
        fsync_path(target.parent)
        _remove_old_store(staging)  # now holds the old store
        return
    backup = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    os.rename(target, backup)
    os.rename(staging, target)
    fsync_path(target.parent)
    _remove_old_store(backup)


def _remove_old_store(old: Path) -> None:
    """Remove the replaced store. The new one is in place, so what cannot be removed now (a read-only or
    immutable file) is no failure of the write, which must not report the target unchanged: it is left for
    :func:`recover_interrupted_swap` (ignored by git: see goldkeeper.scaffold.init.GITIGNORE_LINES)."""
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted_swap(target: Path) -> None:
    """Undo what a crash can leave behind around ``target``.

    Staging directories of dead writers are removed; if ``target`` is missing
    but a backup from an interrupted fallback swap exists, it is put back.
    """
    parent = target.parent
    if not parent.is_dir():
        return
    for leftover in parent.glob(f".{target.name}.staging-*"):
        pid = _pid_of(leftover.name)
        if pid is None or not process_alive(pid):
            shutil.rmtree(leftover, ignore_errors=True)
    backups = sorted(parent.glob(f".{target.name}.old-*"))
    if backups and not target.exists():
        os.rename(backups[0], target)
        backups = backups[1:]
    for backup in backups:
        shutil.rmtree(backup, ignore_errors=True)


def _pid_of(name: str) -> int | None:
    try:
        return int(name.rsplit(".staging-", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return None
