"""What every answerer shares: the :class:`Answerer` interface, the :class:`AnswerSet` it returns, the prompt it sends.

Also the retriever contract of the extractive answerer (:class:`Hit`,
:data:`Retriever`), so that the database retriever and a test's in-memory one
plug in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from goldkeeper.evals.response import Response, parse_response_line
from goldkeeper.fileio import UTF8_BOM
from goldkeeper.models import Query
from goldkeeper.progress import SILENT, Progress


@dataclass
class AnswerSet:
    """What an answerer produced: responses by query id, per-case failures, and unmatched lines."""

    responses: dict[str, Response] = field(default_factory=dict)
    #: query id -> (outcome, reason); outcome is "malformed" (bad line, failed batch) or "missing".
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: lines that belong to no prompt of the run (unknown query id, unreadable line).
    stray: list[str] = field(default_factory=list)

    def fail(self, query_id: str, reason: str, outcome: str = "malformed") -> None:
        self.responses.pop(query_id, None)
        if query_id not in self.failures:
            self.failures[query_id] = (outcome, reason)

    def collect(self, lines: Iterable[bytes | str], wanted: set[str], source: str) -> None:
        """Parse JSON lines into responses for ``wanted`` query ids (blank lines are skipped)."""
        seen: dict[str, int] = {}
        folded = {qid.casefold(): qid for qid in wanted}
        near: dict[str, str] = {}  # query id -> why a line in another case did not answer it
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            # a byte order mark (PowerShell's Out-File, Notepad, Python's utf-8-sig) is no part of the JSON
            parsed = parse_response_line(
                line.removeprefix(UTF8_BOM) if isinstance(line, bytes) else line.removeprefix("\ufeff")
            )
            where = f"{source} line {number}"
            qid = parsed.query_id
            if qid is None:
                self.stray.append(f"{where}: {parsed.error or 'no query_id'}")
                continue
            if qid not in wanted:
                self._unknown(qid, folded.get(qid.casefold()), where, near)
                continue
            if qid in seen:
                self.fail(qid, f"duplicate response: {source} lines {seen[qid]} and {number} both answer this query")
                continue
            seen[qid] = number
            if parsed.response is None:
                self.fail(qid, f"{where}: {parsed.error}")
            else:
                self.responses[qid] = parsed.response
        for qid, reason in near.items():
            if qid not in seen:  # answered under its own id too: that answer counts
                self.fail(qid, reason)

    def _unknown(self, qid: str, same_but_case: str | None, where: str, near: dict[str, str]) -> None:
        """A line for no query of the run; one whose id differs from a query's in case only will fail that query
        (instead of "missing response") unless another line answers it under its own id."""
        if same_but_case is None:
            self.stray.append(f"{where}: unknown query id {qid!r}")
            return
        self.stray.append(f"{where}: unknown query id {qid!r} (query {same_but_case!r} in another case)")
        near.setdefault(
            same_but_case,
            f"{where}: query id {qid!r} differs from this query's id {same_but_case!r} in case only: "
            f"ids are case-sensitive, write {same_but_case!r}",
        )


class Answerer(Protocol):
    name: str

    def answer(self, queries: Sequence[Query], *, progress: Progress = SILENT) -> AnswerSet: ...


def prompt_json(query: Query) -> dict[str, Any]:
    """The prompt an external system sees: the question and the citation contract, not the expected outcome."""
    behavior = query.expected_behavior
    return {
        "query_id": query.id,
        "text": query.text,
        "domain": query.domain,
        "difficulty": query.difficulty,
        "tags": list(query.tags),
        "grounding": behavior.grounding,
        "citation_fields": list(behavior.citation_fields),
        "refusal": behavior.refusal,
        "must_not": list(behavior.must_not),
    }


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk."""

    chunk_id: UUID
    score: float


#: A retriever: (all query texts, k) -> ranked chunk hits per query, in order (one call per run).
Retriever = Callable[[Sequence[str], int], list[list[Hit]]]


__all__ = ["AnswerSet", "Answerer", "prompt_json", "Hit", "Retriever"]
