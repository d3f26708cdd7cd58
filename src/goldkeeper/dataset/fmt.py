"""``goldkeeper fmt``: bring a hand-edited golden store back to canonical form.

A reviewer who fixes a typo in ``golden/queries/03.json`` breaks the shard's sha256 in the
manifest; ``fmt`` makes such an edit a normal change again. It validates the store exactly as
``verify`` does (schema, references, URL and prompt contracts), except for what it recomputes
itself: the manifest's per-shard sha256 and record counts and its totals, the records' shard
placement and order, and the canonical bytes (:data:`FIXED_CODES`). Any other error refuses the
store (``VerificationFailed``, exit 5, every problem listed) and nothing is written.

Then every shard is rewritten in canonical form, records that sit in the wrong shard are moved
to the one their id hashes to (the manifest's ``shard_counts`` are kept), and the manifest is
recomputed. The new store is written through :class:`~goldkeeper.store.writer.StoreWriter`
(staging directory, fsync, atomic swap), and only when some byte would change. With ``check``
nothing is written: the result says what would change, and a store the writer would refuse (a file
under ``analyses/`` or ``queries/`` the manifest does not list, a ``.git``) is refused the same way.

A leading UTF-8 byte order mark (what some Windows editors save) is not JSON, and verify refuses it;
fmt reads each file without it and rewrites every file that had one (reported as rewritten). So are the files
whose CRLF line ends are their own, not a git checkout's (see :mod:`goldkeeper.store.line_endings`).

Cost: verify's pass, then one more pass that stages the canonical store while comparing it with
the old bytes (discarded when nothing differs); shards verify found misplaced records in are read
once more first. Memory: one shard at a time, plus the records found in a wrong shard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldkeeper.config import Settings
from goldkeeper.dataset.verify import verify_store
from goldkeeper.dataset.verify.report import Issue, VerifyReport
from goldkeeper.errors import DataIntegrityError, VerificationFailed
from goldkeeper.fileio import UTF8_BOM
from goldkeeper.models import ENTITIES, Analysis, Manifest, Query, ShardEntry, count_records
from goldkeeper.progress import SILENT, Progress, ProgressTask
from goldkeeper.store.canonical import canonical_bytes, sha256_hex
from goldkeeper.store.guard import check_target
from goldkeeper.store.line_endings import kept_crlf
from goldkeeper.store.reader import MODEL_OF, Store, open_store, parse_json, validate_record
from goldkeeper.store.sharding import shard_name, shard_path
from goldkeeper.store.source import DirectorySource
from goldkeeper.store.writer import MANIFEST, StoreWriter

#: the verify codes that ``fmt`` repairs (everything else refuses the store)
FIXED_CODES = frozenset(
    {
        "shard.checksum",
        "shard.record_count",
        "manifest.counts",
        "record.wrong_shard",
        "record.order",
        "chunk.order",
        "shard.not_canonical",
        "manifest.not_canonical",
        "shard.line_endings",
        "manifest.line_endings",
    }
)

Record = Analysis | Query


class _BomStripped(DirectorySource):
    """The store's files as fmt reads them: a leading UTF-8 BOM dropped, and each file that had one noted
    (so it is rewritten even when the rest of its bytes are canonical). A DirectorySource still: links are
    refused as verify refuses them."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.stripped: set[str] = set()

    def read_bytes(self, relpath: str) -> bytes:
        data = super().read_bytes(relpath)
        if not data.startswith(UTF8_BOM):
            return data
        self.stripped.add(relpath)
        return data[len(UTF8_BOM) :]


@dataclass(frozen=True)
class MovedRecord:
    """A record found in a shard its id does not hash to, and the shard it belongs in."""

    entity: str
    id: str
    from_path: str
    to_path: str

    def to_json(self) -> dict[str, str]:
        return {"entity": self.entity, "id": self.id, "from": self.from_path, "to": self.to_path}


@dataclass(frozen=True)
class FmtResult:
    """What ``fmt`` changed (or, with ``check``, would change) in a store."""

    target: str
    check: bool
    #: store-relative paths rewritten, created or removed (``manifest.json`` included), sorted
    changed: tuple[str, ...]
    moved: tuple[MovedRecord, ...]
    previous_version: str
    #: the dataset version after fmt (with ``check``: the one fmt would produce)
    version: str
    written: bool
    #: verify's warnings that fmt does not repair (e.g. ``manifest.shard_counts``)
    warnings: tuple[Issue, ...] = ()

    @property
    def would_change(self) -> bool:
        return bool(self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "check": self.check,
            "changed": list(self.changed),
            "moved": [m.to_json() for m in self.moved],
            "previous_version": self.previous_version,
            "version": self.version,
            "written": self.written,
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def to_text(self) -> str:
        verb = "would rewrite" if self.check else "rewrote"
        lines = [f"{verb} {self.target}/{path}" for path in self.changed]
        move = "would move" if self.check else "moved"
        lines += [f"{move} {m.entity} record {m.id}: {m.from_path} -> {m.to_path}" for m in self.moved]
        lines += [w.render() for w in self.warnings]
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        if not self.changed:
            return f"{self.target}: already canonical (version {self.version[:12]})"
        files = f"{len(self.changed)} file(s)"
        if self.check:
            return f"{self.target}: {files} would change (run `goldkeeper fmt`)"
        return f"{self.target}: formatted, {files} changed, version {self.previous_version[:12]} -> {self.version[:12]}"


@dataclass
class _Layout:
    """Where the records of one entity are, and where they belong."""

    entity: str
    shard_count: int
    sources: dict[str, ShardEntry]
    misplaced: dict[str, list[Record]] = field(default_factory=dict)
    moved: list[MovedRecord] = field(default_factory=list)

    def targets(self) -> list[str]:
        return sorted((set(self.sources) & _target_names(self.entity, self.shard_count)) | set(self.misplaced))


@dataclass
class _Plan:
    """The canonical store, shard by shard: what changes and the manifest it gets."""

    changed: list[str] = field(default_factory=list)
    entries: list[ShardEntry] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _target_names(entity: str, shard_count: int) -> set[str]:
    """The shard paths this shard count produces (``queries/3.json`` is not one: it is ``queries/03.json``)."""
    return {f"{entity}/{shard_name(index, shard_count)}" for index in range(shard_count)}


def _read(store: Store, entry: ShardEntry) -> tuple[bytes, list[Record]]:
    """A shard's bytes and its records (validated; verify has already vouched for them)."""
    name = store.source.describe(entry.path)
    data = store.shard_bytes(entry, check=False)
    model = MODEL_OF[entry.entity]
    return data, [validate_record(model, raw, name) for raw in parse_json(data, name)]


def _misplaced(report: VerifyReport, store: Store) -> dict[str, set[str]]:
    """The ids verify found in a wrong shard, by shard path: only those shards need a first read."""
    path_of = {store.source.describe(e.path): e.path for e in store.manifest.shards}
    found: dict[str, set[str]] = {}
    for issue in report.errors:
        if issue.code == "record.wrong_shard" and issue.file in path_of and issue.record_id is not None:
            found.setdefault(path_of[issue.file], set()).add(issue.record_id)
    return found


def _layout(store: Store, entity: str, shard_count: int, misplaced: dict[str, set[str]]) -> _Layout:
    """The records that sit in a wrong shard (read from the shards verify named), kept by target."""
    layout = _Layout(entity, shard_count, {e.path: e for e in store.shards(entity)})
    for path, entry in layout.sources.items():
        if path not in misplaced:
            continue
        for record in _read(store, entry)[1]:
            target = shard_path(entity, str(record.id), layout.shard_count)
            if target != path:
                layout.misplaced.setdefault(target, []).append(record)
                layout.moved.append(MovedRecord(entity, str(record.id), path, target))
    return layout


def _shards(store: Store, layout: _Layout) -> Iterator[tuple[str, bytes | None, list[Record]]]:
    """Each target shard: its path, its bytes now (None: no such file), its records in canonical order."""
    for path in layout.targets():
        old: bytes | None = None
        records = list(layout.misplaced.get(path, ()))
        entry = layout.sources.get(path)
        if entry is not None:
            old, mine = _read(store, entry)
            records += [r for r in mine if shard_path(layout.entity, str(r.id), layout.shard_count) == path]
        yield path, old, sorted((r.canonical() for r in records), key=lambda r: str(r.id))


def _count(records: list[Record]) -> dict[str, int]:
    analyses = [r for r in records if isinstance(r, Analysis)]
    queries = [r for r in records if isinstance(r, Query)]
    return count_records(analyses, queries)


def _feed(writer: StoreWriter, records: list[Record]) -> None:
    for record in records:
        if isinstance(record, Analysis):
            writer.add_analysis(record)
        else:
            writer.add_query(record)


def _run(store: Store, layouts: list[_Layout], writer: StoreWriter | None, progress: Progress = SILENT) -> _Plan:
    """Walk the canonical store shard by shard (feeding ``writer`` when given) and note what differs."""
    plan = _Plan()
    plan.counts.update(count_records([], []))
    with progress.task("rewriting shards" if writer is not None else "comparing shards", None) as task:
        for layout in layouts:
            _run_layout(store, layout, writer, plan, task)
    return plan


def _run_layout(store: Store, layout: _Layout, writer: StoreWriter | None, plan: _Plan, task: ProgressTask) -> None:
    """One entity's shards of :func:`_run`."""
    kept: set[str] = set()
    for path, old, records in _shards(store, layout):
        if not records:
            continue
        kept.add(path)
        data = canonical_bytes(records)
        if data != old:
            plan.changed.append(path)
        plan.entries.append(ShardEntry(path=path, entity=layout.entity, records=len(records), sha256=sha256_hex(data)))
        plan.counts.update(_count(records))
        if writer is not None:
            _feed(writer, records)
        task.advance()
    plan.changed += sorted(set(layout.sources) - kept)  # emptied (or misnamed) shards disappear


def _manifest_bytes(store: Store, plan: _Plan, shard_counts: dict[str, int]) -> bytes:
    manifest = Manifest(
        dataset=store.manifest.dataset,
        counts=dict(plan.counts),
        shard_counts=dict(shard_counts),
        shards=sorted(plan.entries, key=lambda e: e.path),
        scope=store.manifest.scope,  # as the writer writes it: the bytes compared are the bytes written
    )
    return canonical_bytes(manifest)


def _refuse(report: VerifyReport) -> None:
    """Raise when verify found an error fmt cannot repair (every such problem in the report)."""
    problems = tuple(i for i in report.errors if i.code not in FIXED_CODES)
    if problems:
        refused = VerifyReport(target=report.target, issues=problems, version=report.version, checked=report.checked)
        raise VerificationFailed(
            f"{report.target}: not formatted: {len(problems)} problem(s) fmt cannot repair (nothing written)",
            report=refused,
        )


class _Unchanged(Exception):
    """Raised inside the writer to discard its staging directory when no byte would change."""


def _changed(store: Store, plan: _Plan, shard_counts: dict[str, int], read: dict[str, int]) -> tuple[list[str], str]:
    """The store-relative paths that differ (manifest included, every file read without its BOM or with its own
    CRLF) and the new dataset version.

    ``read`` holds the records verify counted in the files: the canonical store must hold exactly as
    many, or fmt stops (inside the writer: nothing is written) rather than lose a record.
    """
    lost = {k: (n, plan.counts[k]) for k, n in read.items() if k in plan.counts and plan.counts[k] != n}
    if lost:
        raise DataIntegrityError(f"fmt would change the record counts {lost} (read, written); nothing written")
    manifest_bytes = _manifest_bytes(store, plan, shard_counts)
    changed = set(plan.changed) | ({MANIFEST} if manifest_bytes != store.manifest_bytes else set())
    if isinstance(store.source, _BomStripped):
        changed |= store.source.stripped
        changed |= set(kept_crlf(store.source.root, store.source.crlf))  # verify's *.line_endings: LF now
    return sorted(changed), sha256_hex(manifest_bytes)


def _refuse_target(directory: Path) -> None:
    """What the real run's writer refuses before it writes (an unlisted ``.DS_Store`` under ``queries/``,
    a ``.git``): ``--check`` refuses it too (exit 5), so a check never passes a store ``fmt`` will not write."""
    check_target(directory.resolve() if directory.is_symlink() else directory, directory)


def format_store(
    directory: Path | str, settings: Settings | None = None, *, check: bool = False, progress: Progress = SILENT
) -> FmtResult:
    """Validate, then rewrite the store at ``directory`` in canonical form (``check``: only report)."""
    settings = settings if settings is not None else Settings()
    source = _BomStripped(Path(directory))
    report = verify_store(source, settings, progress=progress)
    _refuse(report)
    store = open_store(source)
    # the manifest's shard counts are kept (params.yaml's for an entity it has none for)
    shard_counts = {e: store.manifest.shard_counts.get(e) or settings.store.shards[e] for e in ENTITIES}
    misplaced = _misplaced(report, store)
    read = {key: count for key, count in report.checked if key != "shards"}
    layouts = [_layout(store, entity, shard_counts[entity], misplaced) for entity in ENTITIES]
    written = False
    if check:
        _refuse_target(Path(directory))
        changed, version = _changed(store, _run(store, layouts, None, progress), shard_counts, read)
    else:
        try:  # one pass: the new store is staged while it is compared, and discarded when nothing differs
            with StoreWriter(
                Path(directory), store.manifest.dataset, shard_counts, store.manifest.scope, per_shard_order=True
            ) as writer:
                changed, version = _changed(store, _run(store, layouts, writer, progress), shard_counts, read)
                if not changed:
                    raise _Unchanged
            written = True
        except _Unchanged:
            pass
    return FmtResult(
        target=report.target,
        check=check,
        changed=tuple(sorted(changed)),
        moved=tuple(m for layout in layouts for m in sorted(layout.moved, key=lambda m: m.id)),
        previous_version=store.version,
        version=version,
        written=written,
        warnings=tuple(i for i in report.warnings if i.code not in FIXED_CODES),
    )


__all__ = ["FIXED_CODES", "MovedRecord", "FmtResult", "format_store"]
