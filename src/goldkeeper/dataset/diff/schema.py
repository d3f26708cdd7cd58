"""The JSON Schema (draft 2020-12) of ``goldkeeper diff --format json``: :data:`DIFF_JSON_SCHEMA`.

It describes :meth:`~goldkeeper.dataset.diff.DatasetDiff.to_json`, schema_version 1; the tests
validate every JSON output against it.
"""

from __future__ import annotations

from typing import Any


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_NULLABLE_STR = {"type": ["string", "null"]}
_SIDE = {
    "type": "object",
    "required": ["label", "commit", "version", "dataset", "counts"],
    "additionalProperties": False,
    "properties": {
        "label": {"type": "string"},
        "commit": _NULLABLE_STR,
        "version": _NULLABLE_STR,
        "dataset": _NULLABLE_STR,
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}
_COUNTS = {
    "type": "object",
    "required": ["added", "removed", "modified"],
    "additionalProperties": False,
    "properties": {a: {"type": "integer", "minimum": 0} for a in ("added", "removed", "modified")},
}
_REF = {
    "type": "object",
    "required": ["id", "label"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "label": {"type": "string"},
        "analysis_id": {"type": "string"},
        "url": {"type": "string"},
    },
}
_CHANGE = {
    "type": "object",
    "required": ["path", "action", "old", "new", "text_diff"],
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string"},
        "action": {"enum": ["changed", "added", "removed"]},
        "old": {},
        "new": {},
        "text_diff": _NULLABLE_STR,
    },
}
_MODIFIED = {
    "type": "object",
    "required": ["id", "label", "changes"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "label": {"type": "string"},
        "analysis_id": {"type": "string"},
        "changes": {**_list_of(_CHANGE), "minItems": 1},
    },
}
_ENTITY = {
    "type": "object",
    "required": ["added", "removed", "modified"],
    "additionalProperties": False,
    "properties": {"added": _list_of(_REF), "removed": _list_of(_REF), "modified": _list_of(_MODIFIED)},
}

#: JSON Schema (draft 2020-12) of ``goldkeeper diff --format json``, schema_version 1.
DIFF_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "goldkeeper dataset diff",
    "type": "object",
    "required": [
        "schema_version",
        "old",
        "new",
        "identical",
        "summary",
        "analyses",
        "chunks",
        "queries",
        "impact",
        "url_violations",
        "stats",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": 1},
        "old": _SIDE,
        "new": _SIDE,
        "identical": {"type": "boolean"},
        "summary": {
            "type": "object",
            "required": ["analyses", "chunks", "queries", "impacted_queries", "url_violations"],
            "additionalProperties": False,
            "properties": {
                "analyses": _COUNTS,
                "chunks": _COUNTS,
                "queries": _COUNTS,
                "impacted_queries": {"type": "integer", "minimum": 0},
                "url_violations": {"type": "integer", "minimum": 0},
                "store_problems": {"type": "integer", "minimum": 0},
            },
        },
        "analyses": _ENTITY,
        "chunks": _ENTITY,
        "queries": _ENTITY,
        "impact": _list_of(
            {
                "type": "object",
                "required": ["query_id", "reasons"],
                "additionalProperties": False,
                "properties": {
                    "query_id": {"type": "string"},
                    "reasons": _list_of(
                        {
                            "type": "object",
                            "required": ["kind", "id", "action"],
                            "additionalProperties": False,
                            "properties": {
                                "kind": {"enum": ["chunk", "analysis"]},
                                "id": {"type": "string"},
                                "action": {"enum": ["added", "removed", "modified"]},
                            },
                        }
                    ),
                },
            }
        ),
        "url_violations": _list_of(
            {
                "type": "object",
                "required": ["analysis_id", "url", "problem", "old_url"],
                "additionalProperties": False,
                "properties": {
                    "analysis_id": {"type": "string"},
                    "url": {"type": "string"},
                    "problem": {"type": "string"},
                    "old_url": _NULLABLE_STR,
                },
            }
        ),
        "store_problems": _list_of(
            {
                "type": "object",
                "required": ["side", "file", "problem"],
                "additionalProperties": False,
                "properties": {
                    "side": {"enum": ["old", "new"]},
                    "file": {"type": "string"},
                    "problem": {"type": "string"},
                },
            }
        ),
        "stats": {
            "type": "object",
            "required": ["shards_total", "shards_parsed"],
            "additionalProperties": False,
            "properties": {
                "shards_total": {
                    "type": "integer",
                    "description": "shard paths (analyses/03.json) listed by either side's manifest, each once",
                },
                "shards_parsed": {
                    "type": "integer",
                    "description": "of those, the paths whose bytes differ between the sides (parsed on each side)",
                },
            },
        },
    },
}


__all__ = ["DIFF_JSON_SCHEMA"]
