"""What an answerer returns for one prompt: the answer, a refusal flag, claims with citations.

One response is one JSON object (one line of a JSON-lines stream)::

    {"query_id": "56ddde6b9a695914005b9628",
     "answer": "Normandy is a region in France.",
     "refused": false,
     "claims": [{"text": "Normandy is a region in France.",
                 "citations": [{"chunk_id": "...", "analysis_id": "...",
                                "source_url": "https://en.wikipedia.org/wiki/Normans",
                                "retrieved_at": "2026-01-01T00:00:00Z"}]}]}

The shape is strict (unknown fields and wrong types are errors) and its JSON
Schema is published by ``goldkeeper schema response``. Which citation fields a
claim must carry is per query (``expected_behavior.citation_fields``) and is
checked when scoring, not here. A line that does not parse is never an
exception of the run: :func:`parse_response_line` returns the reason, and the
case it belongs to is scored as a failure with that reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

RESPONSE_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    """Where a claim's evidence is. Any field may be required by the query's ``citation_fields``."""

    chunk_id: UUID | None = Field(default=None, description="id of the cited chunk (passage)")
    analysis_id: UUID | None = Field(default=None, description="id of the analysis (document) the chunk belongs to")
    source_url: StrictStr | None = Field(default=None, description="canonical URL of the cited document")
    retrieved_at: AwareDatetime | None = Field(default=None, description="when the evidence was retrieved (RFC 3339)")
    entity_id: StrictStr | None = Field(
        default=None,
        description=(
            "identifier of the cited entity: the analysis or chunk id, or a domain id (e.g. 'met:11417') "
            "that the cited analysis declares in its artifact metadata entity_ids"
        ),
    )
    property_path: StrictStr | None = Field(
        default=None,
        description=(
            "path of the cited property; must resolve in the cited chunk, the analysis record or its artifact "
            "metadata, e.g. 'chunks[3].content' or 'provenance.donor'"
        ),
    )


class Claim(_Strict):
    """One statement of the answer, with the evidence it rests on."""

    text: StrictStr = Field(min_length=1)
    citations: list[Citation] = Field(default_factory=list)


class Response(_Strict):
    """The answer of the system under test to one prompt."""

    query_id: StrictStr = Field(min_length=1, description="the id of the prompt (query) answered")
    answer: StrictStr = Field(default="", description="the answer text; empty when refused")
    refused: StrictBool = Field(description="true when the system declined to answer (cite-or-refuse)")
    claims: list[Claim] = Field(default_factory=list, description="the answer's claims, each with its citations")


def response_json_schema() -> dict[str, Any]:
    """The JSON Schema of one response line (draft 2020-12)."""
    schema = Response.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://goldkeeper.dev/schemas/response-v{RESPONSE_SCHEMA_VERSION}.json"
    schema["title"] = "goldkeeper grounded-answer response"
    return schema


@dataclass(frozen=True)
class ParsedLine:
    """One parsed line: a response, or the reason it is malformed (and the query id if readable)."""

    response: Response | None
    query_id: str | None
    error: str | None


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def parse_response_obj(raw: Any) -> ParsedLine:
    """Validate an already-decoded JSON value as a response."""
    query_id = raw.get("query_id") if isinstance(raw, dict) else None
    query_id = query_id if isinstance(query_id, str) and query_id else None
    if not isinstance(raw, dict):
        return ParsedLine(None, None, f"malformed response: expected a JSON object, got {type(raw).__name__}")
    try:
        return ParsedLine(Response.model_validate(raw), query_id, None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _field_path(first["loc"])
        return ParsedLine(None, query_id, f"malformed response: field {where or '(root)'}: {first['msg']}")


def parse_response_line(line: str | bytes) -> ParsedLine:
    """Parse one JSON line into a :class:`Response`, never raising."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _not_json(line, exc)
    return parse_response_obj(raw)


#: a line's query id, read from text that is not JSON (a truncated line, a stray quote)
_QUERY_ID = re.compile(r'"query_id"\s*:\s*"((?:[^"\\]|\\.)+)"')


def _decoded(line: bytes, problem: str) -> tuple[str, str]:
    """The line's text, and the problem: its bytes that are not UTF-8, when they are the problem."""
    try:
        return line.decode(), problem
    except UnicodeDecodeError as bad:
        where = f"not UTF-8 at byte offset {bad.start} of the line; write the response in UTF-8"
        return line.decode(errors="replace"), where


def _not_json(line: str | bytes, exc: orjson.JSONDecodeError) -> ParsedLine:
    """A line orjson refused: the reason in words the user can act on, and the query id when it is readable.

    The id lets the case say why it failed (not "missing response"). Python's json reads what strict JSON
    forbids but programs write anyway (NaN, Infinity: ``json.dumps``'s default), which tells the two apart."""
    text, problem = (line, f"{exc}") if isinstance(line, str) else _decoded(line, f"{exc}")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting, which orjson refuses at 1024 levels, overflows json's
        match = _QUERY_ID.search(text)
        query_id = match.group(1) if match else None
    else:
        query_id = raw.get("query_id") if isinstance(raw, dict) else None
        if problem == f"{exc}":
            problem = "NaN, Infinity and -Infinity are not JSON; write null or a finite number"
    query_id = query_id if isinstance(query_id, str) and query_id else None
    return ParsedLine(None, query_id, f"malformed response: not valid JSON ({problem})")


__all__ = [
    "RESPONSE_SCHEMA_VERSION",
    "Citation",
    "Claim",
    "Response",
    "ParsedLine",
    "response_json_schema",
    "parse_response_obj",
    "parse_response_line",
]
