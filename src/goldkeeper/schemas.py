"""The JSON Schemas of goldkeeper's file formats (``goldkeeper schema NAME``).

``golden``: one shard file of a golden store (an array of Analysis records under ``analyses/``, or
of Query records under ``queries/``); ``analysis`` / ``query``: one record; ``manifest``:
``manifest.json``; ``response``: one line of a grounded-answer response file (defined by
:mod:`goldkeeper.evals.response`). All generated from the pydantic models, so they cannot drift.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from goldkeeper.errors import UsageError
from goldkeeper.models import FORMAT_VERSION, SCHEMA_VERSION, Analysis, Manifest, Query

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _model_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DRAFT, **schema, "title": title}


def golden_schema() -> dict[str, Any]:
    """A shard file: a JSON array of Analysis (analyses/<n>.json) or of Query (queries/<n>.json)."""
    _, defs = models_json_schema([(Analysis, "validation"), (Query, "validation")])
    return {
        "$schema": DRAFT,
        "title": f"goldkeeper golden store shard (format {FORMAT_VERSION}, schema {SCHEMA_VERSION})",
        "description": "analyses/<n>.json holds an array of Analysis sorted by id (chunks by chunk_index); "
        "queries/<n>.json an array of Query sorted by id. Unknown fields are rejected.",
        "anyOf": [
            {"type": "array", "items": {"$ref": "#/$defs/Analysis"}},
            {"type": "array", "items": {"$ref": "#/$defs/Query"}},
        ],
        **defs,
    }


def _response_schema() -> dict[str, Any]:
    try:
        module = importlib.import_module("goldkeeper.evals.response")
    except ImportError as exc:  # pragma: no cover - present once the grounded eval is installed
        raise UsageError("the response schema is not available in this build of goldkeeper") from exc
    return module.response_json_schema()


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "golden": golden_schema,
    "analysis": lambda: _model_schema(Analysis, "goldkeeper Analysis record"),
    "query": lambda: _model_schema(Query, "goldkeeper Query record"),
    "manifest": lambda: _model_schema(Manifest, "goldkeeper manifest.json"),
    "response": _response_schema,
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema called ``name`` (one of :data:`SCHEMAS`)."""
    try:
        factory = SCHEMAS[name]
    except KeyError as exc:
        raise UsageError(f"unknown schema {name!r}; choose one of {', '.join(SCHEMAS)}") from exc
    return factory()
