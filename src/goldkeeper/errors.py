"""The exception tree and its exit codes.

The library raises these and never prints or exits; ``goldkeeper.cli`` maps
each to a one-line message and the exit code below. Foreign errors (psycopg,
git, OSError, pydantic) are translated once, at the boundary that meets them,
with ``raise ... from exc`` so ``--debug`` still shows the cause::

    GoldkeeperError                 exit 1  (internal bug: should never surface)
    ├── UsageError                  exit 2  bad arguments / option combinations
    ├── ConfigError                 exit 3  params.yaml, policy file, model path
    ├── DatabaseError               exit 4  connection, server, SQL failure
    │   └── ConflictError           exit 4  restore would overwrite differing rows
    ├── DataIntegrityError          exit 5  a golden store / record breaks a contract
    │   ├── RecordValidationError   exit 5  one record fails its schema (file, id, field)
    │   └── VerificationFailed      exit 5  ``verify`` found errors (carries the report)
    ├── EvalError                   exit 6  an evaluation could not be computed
    ├── FileError                   exit 7  a file cannot be written or read (disk full, permissions)
    └── NegativeVerdict             exit 10 a failed gate, a non-empty ``diff --exit-code``
"""

from __future__ import annotations

from typing import Any


class GoldkeeperError(Exception):
    """Base of every error goldkeeper raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class UsageError(GoldkeeperError):
    exit_code = 2


class ConfigError(GoldkeeperError):
    exit_code = 3


class DatabaseError(GoldkeeperError):
    exit_code = 4


class ConflictError(DatabaseError):
    """Restore found rows that exist with different content (ids in ``details['ids']``)."""


class DataIntegrityError(GoldkeeperError):
    exit_code = 5


class DuplicateRecordError(DataIntegrityError):
    """Two records of one load share an id (``ids``: the first duplicated ones); an importer names its file."""


class RecordValidationError(DataIntegrityError):
    """One record failed validation; names the file, the record id and the field."""

    def __init__(self, file: str, record_id: str | None, field: str | None, problem: str) -> None:
        where = file
        if record_id is not None:
            where += f": record {record_id}"
        if field:
            where += f": field {field}"
        super().__init__(f"{where}: {problem}", file=file, record_id=record_id, field=field)
        self.file = file
        self.record_id = record_id
        self.field = field
        self.problem = problem


class VerificationFailed(DataIntegrityError):
    """``verify`` found contract violations; ``report`` holds them all."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class EvalError(GoldkeeperError):
    exit_code = 6


class FileError(GoldkeeperError):
    """The operating system refused a file operation (full disk, permission denied); names the path."""

    exit_code = 7


class NegativeVerdict(GoldkeeperError):
    """Not a failure of the tool: the answer is "no" (gate failed, diff not empty)."""

    exit_code = 10
