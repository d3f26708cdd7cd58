"""The result of ``verify``: :class:`Issue`, :class:`VerifyReport`, and the :class:`IssueList` a run appends to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from goldkeeper.dataset.inert import terminal_safe

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One contract violation: where (file, record id, field) and what (code, message)."""

    severity: Severity
    code: str
    message: str
    file: str | None = None
    record_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "file": self.file,
            "record_id": self.record_id,
            "field": self.field,
            "message": self.message,
        }

    def render(self) -> str:
        where = [self.file] if self.file else []
        if self.record_id is not None:
            where.append(f"record {self.record_id}")
        if self.field:
            where.append(f"field {self.field}")
        location = ": ".join(where)
        return f"{self.severity} [{self.code}] " + (f"{location}: " if location else "") + self.message


@dataclass(frozen=True)
class VerifyReport:
    """The result of ``verify``: every issue found, plus what was checked."""

    target: str
    issues: tuple[Issue, ...] = ()
    version: str | None = None
    checked: tuple[tuple[str, int], ...] = ()
    #: with ``--db``: what the database records it holds (``golden.dataset_state``); None when unknown
    database: dict[str, Any] | None = None

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    def codes(self) -> set[str]:
        return {i.code for i in self.issues}

    def ok(self, strict: bool = False) -> bool:
        """Valid: no errors (and, when ``strict``, no warnings)."""
        return not self.errors and not (strict and self.warnings)

    def merged(self, other: VerifyReport) -> VerifyReport:
        return VerifyReport(
            target=self.target,
            issues=self.issues + other.issues,
            version=self.version or other.version,
            checked=self.checked + other.checked,
            database=self.database or other.database,
        )

    def summary(self, strict: bool = False) -> str:
        state = "valid" if self.ok(strict) else "INVALID"
        return f"{self.target}: {state}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)" + (
            " (strict: warnings fail)" if strict else ""
        )

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "target": self.target,
            "version": self.version,
            "valid": self.ok(strict),
            "strict": strict,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checked": dict(self.checked),
            "issues": [i.to_dict() for i in self.issues],
            **({"database": self.database} if self.database is not None else {}),
        }

    def to_json(self, strict: bool = False) -> str:
        return orjson.dumps(self.to_dict(strict), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()

    def to_text(self, strict: bool = False) -> str:
        lines = [i.render() for i in self.errors + self.warnings]
        if self.version:
            lines.append(f"dataset version {self.version}")
        if self.database is not None:
            lines.append(f"database holds {self.database['description']}")
        if self.checked:
            lines.append("checked: " + ", ".join(f"{k} {v}" for k, v in self.checked))
        lines.append(self.summary(strict))
        # one line each whatever they quote: a store path or record text holding a newline must not add one
        return "\n".join(map(terminal_safe, lines))


class IssueList:
    """The mutable list a verification run appends to; :meth:`report` freezes it, errors first."""

    def __init__(self) -> None:
        self.items: list[Issue] = []

    def error(
        self, code: str, message: str, file: str | None = None, record_id: Any = None, field: str | None = None
    ) -> None:
        self.items.append(Issue("error", code, message, file, None if record_id is None else str(record_id), field))

    def warning(
        self, code: str, message: str, file: str | None = None, record_id: Any = None, field: str | None = None
    ) -> None:
        self.items.append(Issue("warning", code, message, file, None if record_id is None else str(record_id), field))

    def report(self, target: str, version: str | None, checked: dict[str, int]) -> VerifyReport:
        ordered = [i for i in self.items if i.severity == "error"] + [i for i in self.items if i.severity == "warning"]
        return VerifyReport(target=target, issues=tuple(ordered), version=version, checked=tuple(checked.items()))


def field_of(loc: Sequence[Any]) -> str:
    """A pydantic error location as the dotted field path an :class:`Issue` names (``chunks.0.id``)."""
    return ".".join(str(part) for part in loc)


__all__ = ["Severity", "Issue", "VerifyReport", "IssueList", "field_of"]
