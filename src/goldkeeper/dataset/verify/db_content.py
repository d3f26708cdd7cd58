"""``verify --db``'s content contract: every record in the database is the store's, byte for byte.

Each record's canonical bytes (what ``dump`` would write: :func:`goldkeeper.store.canonical.canonical_bytes`)
are hashed on both sides. The store is read once into ``{id: sha256}`` per kind (memory: one digest per
record, never a record); the database is streamed through :func:`goldkeeper.db.reader.golden_reader`,
or :func:`goldkeeper.db.mapped_reader.mapped_reader` with params ``database:`` (the same snapshot, scope and order as ``dump``), and each record's digest is compared as it arrives. The URL
contract is checked on every database row on the way. Only when records differ is the store read a
second time, for those records alone, to name the fields (and chunk ids) that differ.

Codes: ``db.content`` (a record differs from the store's), ``db.record_missing`` (in the store, not in the
database), ``db.record_extra`` (in the database, not in the store), and the URL contract's own codes
(``url.placeholder``, ``url.scheme``, ``url.invalid``) with the database as their place, and ``db.record_invalid``
(a database row ``dump`` refuses: a NULL in a required column, two chunks at one index).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from goldkeeper.config import Settings
from goldkeeper.dataset.url_contract import url_problem
from goldkeeper.dataset.verify.report import IssueList
from goldkeeper.db.mapped_reader import mapped_reader
from goldkeeper.db.mapping import Mapping
from goldkeeper.db.reader import golden_reader
from goldkeeper.errors import RecordValidationError
from goldkeeper.models import Analysis, Query
from goldkeeper.store import Store
from goldkeeper.store.canonical import canonical_bytes

#: the ``file`` column of the issues, per kind of record
PLACES = {"analyses": "database golden.analyses", "queries": "database golden.queries"}


def record_digest(record: Analysis | Query) -> bytes:
    """sha256 of the record's canonical bytes (the bytes ``dump`` writes for it)."""
    return hashlib.sha256(canonical_bytes(record)).digest()


@dataclass
class ContentScan:
    """What the database pass found: differing records (the first ``limit`` kept), extras, and counts."""

    limit: int
    #: the ``file`` column of the issues, per kind of record
    places: dict[str, str] = field(default_factory=lambda: dict(PLACES))
    compared: int = 0
    differing: dict[str, list[Analysis | Query]] = field(default_factory=lambda: {"analyses": [], "queries": []})
    differing_count: dict[str, int] = field(default_factory=lambda: {"analyses": 0, "queries": 0})
    extra: dict[str, list[str]] = field(default_factory=lambda: {"analyses": [], "queries": []})
    missing: dict[str, list[str]] = field(default_factory=lambda: {"analyses": [], "queries": []})


def store_digests(store: Store) -> dict[str, dict[str, bytes]]:
    """``{"analyses": {id: digest}, "queries": {id: digest}}`` of every record of ``store``."""
    return {
        "analyses": {str(a.id): record_digest(a) for a in store.analyses(check=False)},
        "queries": {q.id: record_digest(q) for q in store.queries(check=False)},
    }


def _compare(
    kind: str, records: Iterable[Analysis | Query], digests: dict[str, bytes], scan: ContentScan
) -> Iterator[Analysis | Query]:
    """Compare each record with the store's digest (popping it); yield every record for further checks."""
    for record in records:
        key = str(record.id)
        scan.compared += 1
        expected = digests.pop(key, None)
        if expected is None:
            scan.extra[kind].append(key)
        elif expected != record_digest(record):
            scan.differing_count[kind] += 1
            if len(scan.differing[kind]) < scan.limit:
                scan.differing[kind].append(record)
        yield record


def scan_database(url: str, settings: Settings, store: Store, issues: IssueList, *, limit: int = 20) -> ContentScan:
    """Stream the database's records, compare them with ``store``'s and check their URLs."""
    digests = store_digests(store)
    scan = ContentScan(limit=limit)
    if settings.database is not None:  # the application's own tables (issue 12), read as dump reads them
        mapping = Mapping.from_params(settings.database)
        scan.places["analyses"] = f"database {mapping.tables['analyses'].name}"
        reader = mapped_reader(url, mapping)
    else:
        reader = golden_reader(url, settings.dump.statuses)
    url_issues = 0
    try:
        with reader as (analyses, queries):
            for analysis in _compare("analyses", analyses, digests["analyses"], scan):
                problem = url_problem(analysis.url, settings.verify)  # type: ignore[union-attr]
                if problem is not None:
                    url_issues += 1
                    if url_issues <= limit:
                        issues.error(problem.code, problem.message, scan.places["analyses"], analysis.id, "url")
            for _ in _compare("queries", queries, digests["queries"], scan):
                pass
    except RecordValidationError as exc:
        # a row dump refuses (a NULL in a required column...): the database does not hold the store's record
        # (the stream stops there, so the records after it are neither compared nor called missing)
        message = f"{exc.problem} (dump refuses this row; the records after it were not compared)"
        issues.error("db.record_invalid", message, f"database {exc.file}", exc.record_id, exc.field)
        return scan
    if url_issues > limit:
        issues.error(
            "url.invalid", f"and {url_issues - limit} more analyses breaking the URL contract", scan.places["analyses"]
        )
    for kind, left in digests.items():
        scan.missing[kind] = sorted(left)
    return scan


def _changed(old: Any, new: Any, prefix: str) -> list[str]:
    """The dotted paths where two JSON values differ (objects field by field, lists of records by id)."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _changed(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(x, dict) and "id" in x for x in old + new):
        before, after = {x["id"]: x for x in old}, {x["id"]: x for x in new}
        out = []
        for key in sorted(set(before) | set(after)):
            out += _changed(before.get(key), after.get(key), f"{prefix}[{key}]")
        if not out:  # the same records in another order
            out.append(f"{prefix} (order)")
        return out
    return [prefix]


def report_content(scan: ContentScan, store: Store, issues: IssueList) -> None:
    """Turn a :class:`ContentScan` into issues: one per differing, missing or extra record (up to the limit)."""
    for kind, read in (("analyses", store.analyses), ("queries", store.queries)):
        wanted = {str(r.id): r for r in scan.differing[kind]}
        if wanted:
            for stored in read(check=False):
                db_record = wanted.pop(str(stored.id), None)
                if db_record is None:
                    continue
                paths = _changed(stored.model_dump(mode="json"), db_record.model_dump(mode="json"), "")
                issues.error(
                    "db.content",
                    f"differs from the store's record (canonical hash): {', '.join(paths[:10])}"
                    + (f" and {len(paths) - 10} more" if len(paths) > 10 else ""),
                    scan.places[kind],
                    stored.id,
                    paths[0] if len(paths) == 1 else None,
                )
        more = scan.differing_count[kind] - len(scan.differing[kind])
        if more > 0:
            issues.error("db.content", f"and {more} more {kind} differing from the store", scan.places[kind])
        _listed(issues, "db.record_missing", "is in the store but not in the database", kind, scan.missing[kind], scan)
        _listed(issues, "db.record_extra", "is in the database but not in the store", kind, scan.extra[kind], scan)


def _listed(issues: IssueList, code: str, what: str, kind: str, ids: list[str], scan: ContentScan) -> None:
    for record_id in ids[: scan.limit]:
        issues.error(code, what, scan.places[kind], record_id)
    if len(ids) > scan.limit:
        issues.error(code, f"and {len(ids) - scan.limit} more {kind}: {what}", scan.places[kind])


__all__ = ["ContentScan", "record_digest", "store_digests", "scan_database", "report_content"]
