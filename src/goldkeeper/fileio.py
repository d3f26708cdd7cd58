"""The one way goldkeeper writes a file: atomically, fsynced, with OSError mapped once (and the one folder lock).

A reader (a concurrent ``dvc repro``, a browser on the dashboard) or a crash
sees the old bytes or the new, never half a file: data goes to a uniquely
named temporary file beside the target, is fsynced, renamed over the target,
and the directory is fsynced so the rename survives a power cut. Any OSError
(full disk, permission denied, a directory where a file should be) becomes a
:class:`~goldkeeper.errors.FileError` naming the path, and the temporary file
is removed.

JSON files goldkeeper writes for people and DVC (metrics, baselines, runs,
reports) use :func:`json_bytes`: sorted keys, two-space indentation, a
trailing newline, so the same data always gives the same bytes.

Writers of a folder that must not interleave (a store, the eval trend) hold :func:`directory_lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from goldkeeper.errors import DataIntegrityError, FileError
from goldkeeper.programs import process_alive

_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
#: UTF-8's byte order mark: Windows tools (PowerShell's Out-File, Notepad) write one before JSON and text files
#: a user hands goldkeeper; every reader of such a file drops it
UTF8_BOM = b"\xef\xbb\xbf"


def file_error(exc: OSError, path: Path | str, action: str, detail: str = "") -> FileError:
    """The one translation of an OSError into a one-line error naming the path (``detail``: what the caller
    adds after the reason, e.g. ``; nothing was written``)."""
    reason = exc.strerror or type(exc).__name__
    return FileError(f"{path}: cannot {action}: {reason}{detail}", path=str(path), errno=exc.errno)


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory fsync makes renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: the temporary file of an atomic write: ``.<name>.tmp-<pid of the writer>-<8 hex digits>``
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)-[0-9a-f]{8}", re.DOTALL)


def stale_temporary(name: str) -> bool:
    """Whether ``name`` is the temporary file of an atomic write whose writer is gone (killed mid-write)."""
    match = _TEMPORARY.fullmatch(name)
    return match is not None and not process_alive(int(match["pid"]))


@contextlib.contextmanager
def directory_lock(directory: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the flock of ``directory`` itself while the block runs: exclusive for a writer (the folder created if
    missing), ``shared`` for readers that must not see a writer's steps half done. A lock on the folder leaves no
    lock file to commit or prune, and a killed holder releases it. Not re-entrant: a process holds it once (two
    opens of the folder are two locks, so an exclusive holder asking for it shared waits for itself). An OSError
    creating or opening the folder is the caller's to name; a file system without locks (some network mounts)
    is used unserialised."""
    if not shared:
        directory.mkdir(parents=True, exist_ok=True)
    fd = _open_folder(directory, shared)
    try:
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _open_folder(directory: Path, shared: bool) -> int | None:
    """The folder opened to lock it; None for a reader that cannot open it: it reads unlocked, as readers did
    (a missing folder has nothing to read and a reader creates none; one it may list but not open)."""
    try:
        return os.open(directory, os.O_RDONLY)
    except OSError:
        if shared:
            return None
        raise


def _remove_stale_temporaries(path: Path) -> None:
    """Remove what killed writes of ``path`` left beside it: git would commit them, a dump carry them over."""
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
            if stale_temporary(leftover.name):
                _remove_quietly(leftover)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (see the module doc); returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        _remove_stale_temporaries(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)
    except OSError as exc:
        _remove_quietly(tmp)
        raise file_error(exc, path, "write") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _remove_quietly(tmp: Path) -> None:
    """Remove a temporary file, if there is one (its directory may not even exist, or be a file)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def json_bytes(data: Any) -> bytes:
    """Stable JSON bytes: sorted keys, two-space indentation, trailing newline."""
    return orjson.dumps(data, option=_JSON_OPTIONS) + b"\n"


def write_json(path: Path | str, data: Any) -> Path:
    """Write ``data`` as stable JSON (:func:`json_bytes`), atomically."""
    return atomic_write_bytes(path, json_bytes(data))


def write_text(path: Path | str, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def append_text(path: Path | str, text: str) -> None:
    """Append UTF-8 text to a file goldkeeper does not own (e.g. $GITHUB_STEP_SUMMARY)."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise file_error(exc, path, "append to") from exc


def write_backup(path: Path, data: bytes) -> Path:
    """Write ``data`` beside ``path`` as ``<name>.bak``, else the first free ``<name>.bak.1``, ``.bak.2``, ...:
    created exclusively, so an existing backup (an earlier one, or the user's own file of that name, a link
    too) is never overwritten nor followed. Fsynced before it is returned (the caller overwrites ``path`` next),
    and removed when it cannot be written whole: a cut backup would pass for the user's version. Returns its
    path."""
    for number in itertools.count():
        backup = path.with_name(path.name + (".bak" if number == 0 else f".bak.{number}"))
        try:
            handle = backup.open("xb")
        except FileExistsError:
            continue
        except OSError as exc:
            raise file_error(exc, backup, "write") from exc
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            fsync_path(backup.parent)
        except OSError as exc:
            _remove_quietly(backup)  # created above, exclusively: goldkeeper's own
            raise file_error(exc, backup, "write") from exc
        except BaseException:
            _remove_quietly(backup)
            raise
        return backup
    raise AssertionError("unreachable: itertools.count() never ends")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook`` for files a user writes (a policy, metrics): a key given twice is a
    ValueError naming it, where a parser keeps the last value and the other is silently ignored."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_json(path: Path | str, what: str) -> Any:
    """Parse a JSON file goldkeeper wrote (a baseline, a run, a summary); any problem is a DataIntegrityError."""
    try:
        return json.loads(Path(path).read_bytes())
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"{path}: {what} not found") from exc
    except OSError as exc:
        raise DataIntegrityError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    except ValueError as exc:
        raise DataIntegrityError(f"{path}: {what} is not valid JSON: {exc}") from exc


__all__ = [
    "UTF8_BOM",
    "file_error",
    "fsync_path",
    "directory_lock",
    "stale_temporary",
    "atomic_write_bytes",
    "json_bytes",
    "write_json",
    "write_text",
    "append_text",
    "read_json",
    "write_backup",
    "unique_keys",
]
