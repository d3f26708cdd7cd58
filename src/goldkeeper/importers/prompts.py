"""The MetaMuseum prompt file <-> golden queries (``import prompts`` / ``export prompts``).

The format (``evals/golden-museum-questions.v1.json``): a JSON array of rows, camelCase as written::

    {"id": "MM-EVAL-0001", "domain": "provenance", "difficulty": "medium", "prompt": "Who ...?",
     "tags": ["..."],                                                         (optional)
     "expectedBehavior": {
         "outcome": "answer" | "refuse",
         "grounding": "optional",                          (optional; absent means required)
         "groundingRequirements": ["free text", ...],
         "citationRequirements": {"perClaim": ["entityId", "propertyPath", "sourceUrl", "retrievedAt"]},
         "refusalBehavior": "free text",
         "mustNot": ["fabricate_citation", ...]},
     "expectedEvidence": {"chunks": [{"id": "<uuid>", "relevance": 1}], "analyses": [...]},  (optional)
     "referenceAnswers": ["..."]}                                             (optional)

Mapping to a Query: ``prompt`` -> ``text``; ``expectedBehavior.outcome`` -> ``behavior``;
``groundingRequirements`` -> ``grounding_requirements`` (free text kept as written, never forced
into an enum); ``citationRequirements.perClaim`` -> ``citation_fields`` (``chunkId``, ``analysisId``,
``entityId``, ``propertyPath``, ``sourceUrl``, ``retrievedAt``); ``refusalBehavior`` -> ``refusal``
(free text); ``mustNot`` -> ``must_not`` (as written); ``expectedEvidence`` -> ``expected``;
``referenceAnswers`` -> ``reference_answers``. Defaults when a behaviour key is absent: no grounding
requirements, per-claim ``chunkId`` + ``sourceUrl``, refusal ``refuse_when_evidence_missing``, no
``mustNot``.

Difficulty: ``easy``, ``medium`` and ``hard`` are kept as written. Other values are mapped by this
rule, case-insensitively: ``basic``/``simple`` -> easy, ``intermediate``/``moderate`` -> medium,
``advanced``/``expert``/``difficult`` -> hard (and ``Easy`` -> easy ...); the value as written is kept
in the tag ``difficulty:<as written>``, which export turns back into ``difficulty``. Anything else
is an error naming the row and the field.

Export writes every query of a store as a row, in id order (the file's order when ids are
zero-padded like ``MM-EVAL-0001``), keys in the order above, optional keys only when non-empty,
every ``expectedBehavior`` key written, evidence sorted by id: a file in that form round-trips
byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from goldkeeper.errors import RecordValidationError
from goldkeeper.importers.common import (
    ImportedRecords,
    export_bytes,
    read_json_file,
    refuse_unknown,
    require,
    validation_error,
)
from goldkeeper.models import DEFAULT_CITATION_FIELDS, Analysis, Query

ROW_KEYS = (
    "id",
    "domain",
    "difficulty",
    "prompt",
    "tags",
    "expectedBehavior",
    "expectedEvidence",
    "referenceAnswers",
)
BEHAVIOR_KEYS = (
    "outcome",
    "grounding",
    "groundingRequirements",
    "citationRequirements",
    "refusalBehavior",
    "mustNot",
)
#: the file's citation field names -> goldkeeper's
CITATION_NAMES = {
    "chunkId": "chunk_id",
    "analysisId": "analysis_id",
    "entityId": "entity_id",
    "propertyPath": "property_path",
    "sourceUrl": "source_url",
    "retrievedAt": "retrieved_at",
}
DIFFICULTIES = ("easy", "medium", "hard")
DIFFICULTY_SYNONYMS = {
    "basic": "easy",
    "simple": "easy",
    "intermediate": "medium",
    "moderate": "medium",
    "advanced": "hard",
    "expert": "hard",
    "difficult": "hard",
}
DIFFICULTY_TAG = "difficulty:"
DEFAULT_REFUSAL = "refuse_when_evidence_missing"
#: Query field paths -> the file's, for validation errors
_FILE_NAMES = {
    "text": "prompt",
    "expected": "expectedEvidence",
    "reference_answers": "referenceAnswers",
    "expected_behavior.behavior": "expectedBehavior.outcome",
    "expected_behavior.grounding_requirements": "expectedBehavior.groundingRequirements",
    "expected_behavior.citation_fields": "expectedBehavior.citationRequirements.perClaim",
    "expected_behavior.refusal": "expectedBehavior.refusalBehavior",
    "expected_behavior.must_not": "expectedBehavior.mustNot",
    "expected_behavior": "expectedBehavior",
}
_CITATION_FILE_NAMES = {v: k for k, v in CITATION_NAMES.items()}


def map_difficulty(value: Any, file: str, record: str) -> tuple[str, list[str]]:
    """(goldkeeper's difficulty, the tag that keeps the value as written) by the rule of the module doc."""
    written = require(value, str, file, record, "difficulty")
    if written in DIFFICULTIES:
        return written, []
    mapped = written.strip().lower()
    mapped = DIFFICULTY_SYNONYMS.get(mapped, mapped)
    if mapped not in DIFFICULTIES:
        accepted = ", ".join([*DIFFICULTIES, *DIFFICULTY_SYNONYMS])
        raise RecordValidationError(file, record, "difficulty", f"{written!r} is not one of {accepted}")
    return mapped, [DIFFICULTY_TAG + written]


def _citation_fields(requirements: Any, file: str, record: str) -> list[str]:
    path = "expectedBehavior.citationRequirements"
    requirements = require(requirements, dict, file, record, path)
    refuse_unknown(requirements, ("perClaim",), file, record, path + ".")
    names = require(requirements.get("perClaim", []), list, file, record, path + ".perClaim")
    fields = []
    for index, name in enumerate(names):
        if name not in CITATION_NAMES:
            raise RecordValidationError(
                file, record, f"{path}.perClaim.{index}", f"{name!r} is not one of {', '.join(CITATION_NAMES)}"
            )
        fields.append(CITATION_NAMES[name])
    return fields


def _behavior(raw: Any, file: str, record: str) -> dict[str, Any]:
    behavior = require(raw, dict, file, record, "expectedBehavior")
    refuse_unknown(behavior, BEHAVIOR_KEYS, file, record, "expectedBehavior.")
    if "outcome" not in behavior:
        raise RecordValidationError(file, record, "expectedBehavior.outcome", "missing")
    citation = behavior.get("citationRequirements", {"perClaim": list(_file_citations(DEFAULT_CITATION_FIELDS))})
    return {
        "behavior": behavior["outcome"],
        "grounding": behavior.get("grounding", "required"),
        "grounding_requirements": behavior.get("groundingRequirements", []),
        "citation_fields": _citation_fields(citation, file, record),
        "refusal": behavior.get("refusalBehavior", DEFAULT_REFUSAL),
        "must_not": behavior.get("mustNot", []),
    }


def _file_citations(fields: Iterable[str]) -> list[str]:
    return [_CITATION_FILE_NAMES[f] for f in fields]


def parse_row(raw: Any, index: int, file: str) -> Query:
    """One prompt row -> a Query (the mapping of the module doc)."""
    record = f"row {index + 1}"
    row = require(raw, dict, file, record, "")
    if isinstance(row.get("id"), str):
        record = row["id"]
    refuse_unknown(row, ROW_KEYS, file, record)
    for key in ("id", "domain", "difficulty", "prompt", "expectedBehavior"):
        if key not in row:
            raise RecordValidationError(file, record, key, "missing")
    difficulty, difficulty_tags = map_difficulty(row["difficulty"], file, record)
    tags = require(row.get("tags", []), list, file, record, "tags")
    if any(isinstance(t, str) and t.startswith(DIFFICULTY_TAG) for t in tags):
        raise RecordValidationError(file, record, "tags", f"the tag prefix {DIFFICULTY_TAG!r} is reserved")
    fields = {
        "id": row["id"],
        "text": row["prompt"],
        "domain": row["domain"],
        "difficulty": difficulty,
        "tags": [*tags, *difficulty_tags],
        "expected": row.get("expectedEvidence", {}),
        "reference_answers": row.get("referenceAnswers", []),
        "expected_behavior": _behavior(row["expectedBehavior"], file, record),
    }
    try:
        return Query.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(file, record, exc, _FILE_NAMES) from exc


def parse_prompts(data: Any, *, file: str = "<prompts>") -> list[Query]:
    """A decoded prompt file -> its queries, in the file's order; duplicate ids are an error."""
    rows = require(data, list, file, None, "(top level: an array of prompt rows)")
    queries: list[Query] = []
    seen: set[str] = set()
    for index, raw in enumerate(rows):
        query = parse_row(raw, index, file)
        if query.id in seen:
            raise RecordValidationError(file, query.id, "id", "duplicate prompt id")
        seen.add(query.id)
        queries.append(query)
    return queries


def load_prompts(path: Path, kind: str | None = None) -> ImportedRecords:
    """Read a prompt file; its queries are what ``replace`` replaces (analyses are left alone)."""
    del kind  # one kind of record only
    queries = parse_prompts(read_json_file(path, "prompt file"), file=str(path))
    return ImportedRecords(analyses=[], queries=queries, kinds=frozenset({"queries"}), totals=(0, len(queries)))


def to_row(query: Query) -> dict[str, Any]:
    """A Query -> its prompt row (the inverse of :func:`parse_row` on rows in export form)."""
    q = query.canonical()
    written = [t[len(DIFFICULTY_TAG) :] for t in q.tags if t.startswith(DIFFICULTY_TAG)]
    tags = [t for t in q.tags if not t.startswith(DIFFICULTY_TAG)]
    row: dict[str, Any] = {
        "id": q.id,
        "domain": q.domain,
        "difficulty": written[0] if written else q.difficulty,
        "prompt": q.text,
    }
    if tags:
        row["tags"] = tags
    b = q.expected_behavior
    behavior: dict[str, Any] = {"outcome": b.behavior}
    if b.grounding != "required":
        behavior["grounding"] = b.grounding
    behavior["groundingRequirements"] = list(b.grounding_requirements)
    behavior["citationRequirements"] = {"perClaim": _file_citations(b.citation_fields)}
    behavior["refusalBehavior"] = b.refusal
    behavior["mustNot"] = list(b.must_not)
    row["expectedBehavior"] = behavior
    evidence = {k: v for k, v in q.expected.model_dump(mode="json").items() if v}
    if evidence:
        row["expectedEvidence"] = evidence
    if q.reference_answers:
        row["referenceAnswers"] = list(q.reference_answers)
    return row


def export_prompts(
    analyses: Iterable[Analysis], queries: Iterable[Query], kind: str | None = None
) -> tuple[bytes, dict[str, int]]:
    """The prompt file's bytes for a store's queries (analyses are not part of the format) and its counts."""
    del analyses, kind
    rows = [to_row(q) for q in sorted(queries, key=lambda q: q.id)]
    return export_bytes(rows), {"queries": len(rows)}


__all__ = [
    "CITATION_NAMES",
    "DIFFICULTY_SYNONYMS",
    "DIFFICULTY_TAG",
    "map_difficulty",
    "parse_row",
    "parse_prompts",
    "load_prompts",
    "to_row",
    "export_prompts",
]
