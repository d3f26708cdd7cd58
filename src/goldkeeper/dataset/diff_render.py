"""The diff renderers' former home, kept as an import path: they live in
:mod:`goldkeeper.dataset.diff.render`, the JSON Schema in :mod:`goldkeeper.dataset.diff.schema`."""

from __future__ import annotations

from goldkeeper.dataset.diff.render import (
    GITHUB_COMMENT_LIMIT,
    MAX_FIELDS,
    MAX_VALUE,
    render,
    to_json_bytes,
    to_markdown,
    to_text,
)
from goldkeeper.dataset.diff.schema import DIFF_JSON_SCHEMA

__all__ = [
    "GITHUB_COMMENT_LIMIT",
    "MAX_FIELDS",
    "MAX_VALUE",
    "DIFF_JSON_SCHEMA",
    "render",
    "to_json_bytes",
    "to_markdown",
    "to_text",
]
