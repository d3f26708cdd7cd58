"""The summary API contract: retentionPruneReport, the OpenAPI component AiEvalSummaryResponse, and the
migration fixtures (schema v1 current: accepted; schema v2 planned: rejected by v1 consumers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from goldkeeper.errors import DataIntegrityError
from goldkeeper.quality.report import load_summary, summarize, validate_summary
from goldkeeper.quality.serve import openapi_document
from goldkeeper.quality.trend import TrendStore

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ai-eval-summary"


def component_schema(name: str) -> dict[str, Any]:
    """An OpenAPI component as a standalone JSON Schema (its #/components/schemas refs resolved in place)."""
    document = openapi_document()
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_v1_ready_fixture_is_accepted_by_the_loader_and_the_openapi_component() -> None:
    summary = load_summary(FIXTURES / "schema-v1-ready.json")
    assert summary["schemaVersion"] == 1 and summary["status"] == "pass" and summary["reviewPriority"] == "watch"
    assert summary["retentionPruneReport"] == summary["retention"] and summary["retentionPruneReport"]["retained"] == 2
    jsonschema.validate(summary, component_schema("AiEvalSummaryResponse"))
    jsonschema.validate(summary, component_schema("AiEvalSummary"))  # the first name, an alias


def test_v2_planned_fixture_is_rejected() -> None:
    with pytest.raises(DataIntegrityError, match="unsupported summary schemaVersion 2 \\(this goldkeeper reads 1\\)"):
        load_summary(FIXTURES / "schema-v2-planned.json")
    planned = json.loads((FIXTURES / "schema-v2-planned.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(planned, component_schema("AiEvalSummaryResponse"))
    # it is the v2 shape, not a v1 file with another number: v1 without its version check still rejects it
    with pytest.raises(DataIntegrityError, match="Additional properties|required property"):
        validate_summary({**planned, "schemaVersion": 1})


def test_the_summary_route_answers_with_the_component() -> None:
    route = openapi_document()["paths"]["/api/ai-evals/summary"]["get"]["responses"]["200"]
    assert route["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AiEvalSummaryResponse"}


def test_retention_prune_report_is_the_last_retention_pass(tmp_path: Path) -> None:
    trend = TrendStore(tmp_path)
    assert summarize([], None)["retentionPruneReport"] is None
    report = {
        "mode": "dry-run",
        "maxRuns": 2,
        "retained": 2,
        "orphaned": 1,
        "deleted": 0,
        "preserved": 0,
        "orphanedFiles": ["a.json"],
        "preservedFiles": [],
    }
    summary = validate_summary(summarize(trend.runs(), report))
    assert summary["retentionPruneReport"] == report == summary["retention"]
