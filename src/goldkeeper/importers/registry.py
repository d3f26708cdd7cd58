"""The file formats ``goldkeeper import`` and ``goldkeeper export`` know: one reader and one writer each.

A reader turns a file into :class:`~goldkeeper.importers.common.ImportedRecords`; every format then
takes the same path into the database (:func:`~goldkeeper.importers.common.import_records`). A
writer turns a golden store's records into a file's bytes. Adding a format is one module in
``importers/`` and one line in each table below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from goldkeeper.dataset.restore import RestoreReport
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import UsageError
from goldkeeper.importers.backup import export_backup, load_backup
from goldkeeper.importers.common import ExportReport, ImportedRecords, import_records, write_export
from goldkeeper.importers.jsonl import export_jsonl, load_jsonl
from goldkeeper.importers.prompts import export_prompts, load_prompts
from goldkeeper.importers.squad import read_squad
from goldkeeper.models import Analysis, Query
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import Store

T = TypeVar("T")
Reader = Callable[[Path, str | None], ImportedRecords]
Writer = Callable[[Iterable[Analysis], Iterable[Query], str | None], tuple[bytes, dict[str, int]]]

READERS: dict[str, Reader] = {
    "squad": read_squad,
    "backup": load_backup,
    "prompts": load_prompts,
    "jsonl": load_jsonl,
}
WRITERS: dict[str, Writer] = {"backup": export_backup, "prompts": export_prompts, "jsonl": export_jsonl}


def _lookup(table: dict[str, T], fmt: str, what: str) -> T:
    if fmt not in table:
        raise UsageError(f"unknown {what} format {fmt!r}: use {', '.join(table)}")
    return table[fmt]


def read_file(fmt: str, path: Path, kind: str | None = None, progress: Progress = SILENT) -> ImportedRecords:
    """The records of ``path`` in format ``fmt`` (whole-file formats are parsed here, before any database:
    seconds for a large file, a task of its own; a streamed format only opens it here)."""
    reader = _lookup(READERS, fmt, "import")
    with progress.task(f"reading the {fmt} file", None):
        return reader(path, kind)


def import_file(
    fmt: str,
    url: str,
    path: Path,
    embedder: Embedder,
    *,
    kind: str | None = None,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = SILENT,
    batch_size: int | None = None,
) -> RestoreReport:
    """Read ``path`` in format ``fmt`` and load its records into the database at ``url`` (like restore)."""
    return import_records(
        url,
        read_file(fmt, path, kind, progress),
        embedder,
        replace=replace,
        dry_run=dry_run,
        progress=progress,
        batch_size=batch_size,
        source=str(path),
    )


def export_file(
    fmt: str, store: Store, path: Path, *, kind: str | None = None, progress: Progress = SILENT
) -> ExportReport:
    """Write the records of ``store`` to ``path`` in format ``fmt``, atomically (a task: the whole store is read)."""
    writer = _lookup(WRITERS, fmt, "export")
    with progress.task(f"writing the {fmt} file", None):
        data, counts = writer(store.analyses(), store.queries(), kind)
        write_export(path, data)
    return ExportReport(format=fmt, path=path, version=store.version, counts=counts)


__all__ = ["READERS", "WRITERS", "read_file", "import_file", "export_file"]
