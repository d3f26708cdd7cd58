"""``dump``: database -> golden store.

Streams analyses (status in ``dump.statuses``, recorded as the manifest's
``scope`` unless it is the default ``completed``) with their chunks, findings and artifact, then every query, straight from COPY streams into the
:class:`~goldkeeper.store.StoreWriter`, so memory is bounded by one record and
the stream buffers. The new store replaces the old one atomically; unchanged
data gives byte-identical files (and so the same dataset version).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldkeeper.config import Settings
from goldkeeper.dataset.dump_guard import revert_guard
from goldkeeper.db.connection import connection
from goldkeeper.db.documents import golden_documents
from goldkeeper.db.golden_privileges import RECORD_TABLES, refuse_unreadable
from goldkeeper.db.mapped_reader import mapped_reader
from goldkeeper.db.mapping import Mapping
from goldkeeper.db.schema import NO_GOLDEN_SCHEMA
from goldkeeper.errors import DatabaseError
from goldkeeper.models import DEFAULT_SCOPE, StoreScope
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import MANIFEST, StoreWriter
from goldkeeper.store.canonical import sha256_hex
from goldkeeper.store.source import as_committed


@dataclass(frozen=True)
class DumpReport:
    path: Path
    dataset: str
    version: str
    counts: dict[str, int]
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "dataset": self.dataset,
            "version": self.version,
            "counts": dict(self.counts),
            "changed": self.changed,
        }


def _golden_schema_exists(url: str) -> bool:
    """Whether there is a golden schema to dump; a role that may not read it is told the GRANTs it lacks."""
    with connection(url) as conn:
        refuse_unreadable(conn, RECORD_TABLES)  # else `permission denied for schema golden`, no role named
        return conn.execute("SELECT to_regclass('golden.analyses') IS NOT NULL").fetchone() == (True,)


def _scope(settings: Settings) -> StoreScope | None:
    """The manifest records what the dump wrote, so ``restore --replace`` replaces only that.

    None (not written) for the default scope, so a default store's bytes and version never change.
    """
    if settings.database is not None:
        return None  # the mapping's `where` is the scope
    scope = StoreScope(statuses=list(settings.dump.statuses))
    return None if scope == DEFAULT_SCOPE else scope


def dump(
    url: str, settings: Settings, out: Path | None = None, progress: Progress = SILENT, *, guard: bool = True
) -> DumpReport:
    """Write the golden rows at ``url`` into the store at ``out`` (default: ``settings.store_path``); ``guard=False``
    skips :func:`~goldkeeper.dataset.dump_guard.revert_guard` (``init --force --from-database`` asks for the
    database's records over golden/)."""
    target = Path(out) if out is not None else settings.store_path
    reader: AbstractContextManager[tuple[Iterator[Any], Iterator[Any]]]
    if settings.database is not None:  # the application's own tables (issue 12); `where` is the scope
        reader = mapped_reader(url, Mapping.from_params(settings.database), expected_in_scope=True)
    elif not _golden_schema_exists(url):
        raise DatabaseError(NO_GOLDEN_SCHEMA)
    else:
        reader = golden_documents(url, settings.dump.statuses)  # dicts, no models: see db/documents.py
    old_manifest = as_committed((target / MANIFEST).read_bytes()) if (target / MANIFEST).is_file() else None
    # only over the project's own store: `dump --out DIR` over an older copy is what was asked for
    own_store = guard and target.resolve() == settings.store_path.resolve()
    check = revert_guard(url, target, old_manifest) if own_store else None
    shards = dict(settings.store.shards)
    with (
        StoreWriter(target, settings.dataset.name, shards, _scope(settings), before_swap=check) as writer,
        reader as (analyses, queries),
    ):
        mapped = settings.database is not None
        add_analysis: Callable[[Any], None] = writer.add_analysis if mapped else writer.add_analysis_document
        add_query: Callable[[Any], None] = writer.add_query if mapped else writer.add_query_document
        # queries first: the analyses' COPY sorts the chunks meanwhile (see db/documents.py)
        with progress.task("dumping queries", None) as task:
            for query in queries:
                add_query(query)
                task.advance(1)
        with progress.task("dumping analyses", None) as task:
            for analysis in analyses:
                add_analysis(analysis)
                task.advance(1)
    assert writer.manifest is not None and writer.manifest_bytes is not None
    return DumpReport(
        path=target,
        dataset=settings.dataset.name,
        version=sha256_hex(writer.manifest_bytes),
        counts=dict(writer.manifest.counts),
        changed=old_manifest != writer.manifest_bytes,
    )


__all__ = ["DumpReport", "dump"]
