"""Eval run history: artifacts/evals/runs/<timestamp>.json, indexed by trend-index.json, with retention.

Retention keeps the newest ``max_runs`` runs in the index (``GOLDKEEPER_EVAL_RETENTION_MAX_RUNS``,
default 200). A JSON file in runs/ that the index does not name is *orphaned* and pruned; any
other file there (an operator's notes) is *preserved*. In dry-run mode no run is deleted or
dropped from the index; the report says what would have been deleted. The last report is kept
in the index (``retention``) for the summary.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from goldkeeper.errors import ConfigError, DataIntegrityError, UsageError
from goldkeeper.fileio import directory_lock, file_error, read_json, write_json

RETENTION_ENV = "GOLDKEEPER_EVAL_RETENTION_MAX_RUNS"
DEFAULT_RETENTION = 200
TREND_SCHEMA_VERSION = 1
RUN_SCHEMA_VERSION = 1
DEFAULT_ARTIFACTS = "artifacts/evals"
_NUMBER = (int, float)
#: the severities a verdict names (gate.SEVERITIES; here, as the trend is below the gate)
VERDICT_SEVERITIES = ("regression", "watch", "stable", "improved")
#: what a gate verdict (a stored run's ``gate``, a ``gate --output`` document) holds and the report reads:
#: field -> its type(s); and the fields of the items of its lists
VERDICT_FIELDS: dict[str, Any] = {
    "status": str,
    "reviewPriority": str,
    "severity": (str, type(None)),
    "severityHistory": list,
    "reasons": list,
    "warnings": list,
    "comparisons": list,
    "freshness": (dict, type(None)),
    "failFast": bool,
    "baselineKey": str,
    "baselineFound": bool,
}
VERDICT_ITEMS: dict[str, dict[str, Any]] = {
    "reasons": {"code": str, "message": str},
    "warnings": {"code": str, "message": str},
    "comparisons": {"metric": str, "severity": str, "previous": _NUMBER, "latest": _NUMBER, "delta": _NUMBER},
}
#: the values the gate writes (anything else is no verdict of goldkeeper's: its text would reach a CI log as it is)
VERDICT_VALUES = {"status": ("pass", "fail"), "reviewPriority": (*VERDICT_SEVERITIES, "none")}
_RUN_FIELDS: dict[str, Any] = {"id": str, "timestamp": str, "metrics": dict, "identity": dict, "gate": dict}
#: how an index entry names its run file: one file directly in runs/ (no ``..``, no other folder, no control)
_RUN_FILE = re.compile(r"runs/[^/\\.\x00-\x1f][^/\\\x00-\x1f]*\.json")


def retention_limit(option: int | None, env: Mapping[str, str] | None = None) -> int:
    """The retention limit: the CLI option, else the environment variable, else 200."""
    if option is not None:
        if option < 1:
            raise ConfigError(f"--retention-max-runs must be at least 1, got {option}")
        return option
    env = os.environ if env is None else env
    raw = env.get(RETENTION_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_RETENTION
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{RETENTION_ENV}: must be a whole number, got {raw!r}", key=RETENTION_ENV) from exc
    if value < 1:
        raise ConfigError(f"{RETENTION_ENV}: must be at least 1, got {value}", key=RETENTION_ENV)
    return value


@dataclass(frozen=True)
class RetentionReport:
    mode: Literal["delete", "dry-run"]
    max_runs: int
    retained: int
    orphaned: int
    deleted: int
    preserved: int
    orphaned_files: list[str] = field(default_factory=list)
    preserved_files: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "mode": data["mode"],
            "maxRuns": data["max_runs"],
            "retained": data["retained"],
            "orphaned": data["orphaned"],
            "deleted": data["deleted"],
            "preserved": data["preserved"],
            "orphanedFiles": data["orphaned_files"],
            "preservedFiles": data["preserved_files"],
        }


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, filename-safe UTC timestamp: 20261122T071023.123456Z."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


class TrendStore:
    """artifacts/evals/: the runs, their index and the rendered reports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs_dir = root / "runs"
        self.index_path = root / "trend-index.json"

    @contextmanager
    def locked(self, shared: bool = False) -> Iterator[None]:
        """Hold the trend for one writer: two gates at once would each write the index they read, one of them
        without the other's run, whose file the next retention then prunes as an orphan (the folder's own lock:
        :func:`~goldkeeper.fileio.directory_lock`). ``shared``: for readers of the index and the runs it names
        (report, serve, a gate that records nothing), which between a gate's steps saw a run recorded and not
        yet retention, or an index naming a run file retention then deleted. Not inside an exclusive hold."""
        with ExitStack() as stack:
            try:
                stack.enter_context(directory_lock(self.root, shared=shared))
            except OSError as exc:
                raise file_error(exc, self.root, "lock") from exc
            yield

    # -- index -------------------------------------------------------------------------------------------

    def index(self) -> dict[str, Any]:
        if not self.index_path.exists():
            return {"schemaVersion": TREND_SCHEMA_VERSION, "runs": [], "retention": None}
        data = read_json(self.index_path, "trend index")
        if not isinstance(data, dict) or data.get("schemaVersion") != TREND_SCHEMA_VERSION:
            raise DataIntegrityError(f"{self.index_path}: unsupported trend index (expected schemaVersion 1)")
        if not isinstance(data.get("runs"), list):
            raise DataIntegrityError(f"{self.index_path}: field runs: must be a list")
        for number, entry in enumerate(data["runs"]):
            self._check_entry(number, entry)
        return data

    def _check_entry(self, number: int, entry: Any) -> None:
        """An index entry names its run ``runs/<name>.json`` as ``record`` writes it, never a file elsewhere.

        The index is a file in the repository: ``../../secrets.json`` or an absolute path there would have
        ``report`` and ``serve`` read (and show) a JSON file outside the trend directory.
        """
        where = f"{self.index_path}: field runs[{number}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise DataIntegrityError(f"{where}: must be an object with a string id", field=f"runs[{number}].id")
        file = entry.get("file")
        if not isinstance(file, str) or not _RUN_FILE.fullmatch(file):
            raise DataIntegrityError(
                f"{where}.file: {file!r} is not runs/<name>.json (a run inside {self.runs_dir})",
                field=f"runs[{number}].file",
            )

    def _write_index(self, runs: list[dict[str, Any]], retention: dict[str, Any] | None) -> None:
        write_json(self.index_path, {"schemaVersion": TREND_SCHEMA_VERSION, "runs": runs, "retention": retention})

    # -- runs --------------------------------------------------------------------------------------------

    def record(self, run: dict[str, Any]) -> Path:
        """Store one run (its ``id`` names the file) and add it to the index."""
        run_id = run["id"]
        index = self.index()
        runs = [r for r in index["runs"] if r["id"] != run_id]
        path = self.runs_dir / f"{run_id}.json"
        write_json(path, run)
        gate = run.get("gate") or {}
        runs.append(
            {
                "id": run_id,
                "file": f"runs/{run_id}.json",
                "timestamp": run["timestamp"],
                "status": gate.get("status"),
                "severity": gate.get("severity"),
            }
        )
        runs.sort(key=lambda r: r["id"])
        self._write_index(runs, index.get("retention"))
        return path

    def load_run(self, entry: dict[str, Any], number: int = 0) -> dict[str, Any]:
        """The run the index's entry ``runs[number]`` names, checked as the report reads it."""
        path = self.root / entry["file"]
        if not path.exists():
            # a run file deleted by hand stops every later gate: say which entry names it and how to get out
            raise DataIntegrityError(
                f"{path}: eval run not found; {self.index_path} names it (runs[{number}], id {entry['id']}): "
                f"restore the file (from Git: `git checkout -- {path}`) or delete that entry from the trend index",
                field=f"runs[{number}].file",
            )
        data = read_json(path, "eval run")
        if not isinstance(data, dict) or data.get("schemaVersion") != RUN_SCHEMA_VERSION:
            raise DataIntegrityError(f"{path}: unsupported eval run record (expected schemaVersion 1)")
        check_fields(f"{path}: eval run", data, _RUN_FIELDS)
        for name, value in data["metrics"].items():
            if not _has_type(value, _NUMBER):
                raise DataIntegrityError(
                    f"{path}: eval run: field metrics.{name}: not a number (a finite JSON number)",
                    field=f"metrics.{name}",
                )
        check_verdict(f"{path}: eval run: field gate", data["gate"], VERDICT_FIELDS)
        return data

    def runs(self, last: int | None = None) -> list[dict[str, Any]]:
        """The indexed runs, oldest first (only the newest ``last`` when given)."""
        entries = list(enumerate(self.index()["runs"]))
        if last is not None:
            entries = entries[-last:] if last > 0 else []
        return [self.load_run(entry, number) for number, entry in entries]

    def require_index(self, shown: str, default: str) -> None:
        """A trend directory the user named (``--dir``) holds a trend index: else a typo rendered, or served, an
        empty dashboard with exit 0. ``default``: the folder ``gate`` records runs in (params report.dir)."""
        if not self.index_path.is_file():
            raise UsageError(
                f"--dir {shown}: no eval runs there (no {self.index_path.name} in {self.root}): name the folder "
                f"`goldkeeper gate` records its runs in (report.dir: {default})"
            )

    def latest(self) -> dict[str, Any] | None:
        runs = self.runs(last=1)
        return runs[0] if runs else None

    # -- retention ---------------------------------------------------------------------------------------

    def apply_retention(self, max_runs: int, dry_run: bool = False) -> RetentionReport:
        index = self.index()
        runs = index["runs"]
        kept = runs[-max_runs:]
        kept_files = {Path(r["file"]).name for r in kept}
        orphaned: list[str] = []
        preserved: list[str] = []
        if self.runs_dir.is_dir():
            for path in sorted(self.runs_dir.iterdir()):
                if not path.is_file():
                    continue
                if path.suffix.lower() != ".json":
                    preserved.append(path.name)
                elif path.name not in kept_files:
                    orphaned.append(path.name)
        report = RetentionReport(
            mode="dry-run" if dry_run else "delete",
            max_runs=max_runs,
            retained=len(kept),
            orphaned=len(orphaned),
            deleted=0 if dry_run else len(orphaned),
            preserved=len(preserved),
            orphaned_files=orphaned,
            preserved_files=preserved,
        )
        if dry_run:
            if self.index_path.exists():
                self._write_index(runs, report.as_json())
            return report
        self._write_index(kept, report.as_json())
        for name in orphaned:
            try:
                (self.runs_dir / name).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ConfigError(f"{self.runs_dir / name}: cannot delete: {exc.strerror}") from exc
        return report


def _has_type(value: Any, kind: Any) -> bool:
    """``isinstance``, except that a JSON true/false is no number, nor is a NaN or an infinity: Python's json reads
    ``NaN`` / ``Infinity`` of a hand-edited file, which summary.json then held as null (against its schema) and the
    summary API as ``NaN`` (not JSON)."""
    if isinstance(value, bool):
        return kind is bool or (isinstance(kind, tuple) and bool in kind)
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kind)


def _wrong(where: str, field: str) -> DataIntegrityError:
    return DataIntegrityError(f"{where}: {field} missing or of the wrong type", field=field)


def check_fields(where: str, document: Any, fields: Mapping[str, Any]) -> None:
    """``document`` is an object with every field of ``fields`` of its type(s) (else exit 5 naming it, not a crash)."""
    if not isinstance(document, dict):
        raise DataIntegrityError(f"{where}: must be a JSON object")
    for name, kind in fields.items():
        if name not in document or not _has_type(document[name], kind):
            raise _wrong(where, name)


def check_verdict(where: str, verdict: Any, fields: Mapping[str, Any]) -> None:
    """A gate verdict as the report and the annotations read it: ``fields`` (of :data:`VERDICT_FIELDS`), the
    items of its lists, and the values the gate writes; stored text of other shapes would crash the report."""
    check_fields(where, verdict, fields)
    for name, allowed in VERDICT_VALUES.items():
        if verdict[name] not in allowed:
            raise DataIntegrityError(f"{where}: {name} is none of {', '.join(allowed)}", field=name)
    for key, item_fields in VERDICT_ITEMS.items():
        for index, item in enumerate(verdict[key]):
            for name, kind in item_fields.items():
                if not isinstance(item, dict) or not _has_type(item.get(name), kind):
                    raise _wrong(where, f"{key}[{index}].{name}")
    for index, severity in enumerate(verdict.get("severityHistory", [])):
        if severity not in VERDICT_SEVERITIES:
            raise DataIntegrityError(f"{where}: severityHistory[{index}] is none of {', '.join(VERDICT_SEVERITIES)}")
