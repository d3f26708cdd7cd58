"""MetaMuseum prompt file import / export: the mapping, the difficulty rule, errors, a lossless round trip,
and 120 prompts imported, evaluated with a responses file and gated."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli_support import run_cli as run
from goldkeeper.errors import RecordValidationError
from goldkeeper.importers.prompts import export_prompts, parse_prompts, to_row

DATA = Path(__file__).parent / "data" / "metamuseum"
PROMPTS = DATA / "golden-museum-questions.v1.json"
RESPONSES = DATA / "responses.jsonl"

MINIMAL = {
    "id": "MM-EVAL-9001",
    "domain": "provenance",
    "difficulty": "Advanced",
    "prompt": "Who donated the Ardabil carpet?",
    "expectedBehavior": {"outcome": "refuse"},
}


def rows() -> list[dict[str, Any]]:
    return orjson.loads(PROMPTS.read_bytes())


def test_the_file_maps_to_queries_field_by_field() -> None:
    queries = parse_prompts(rows(), file="p.json")
    assert len(queries) == 120 and [q.id for q in queries][:2] == ["MM-EVAL-0001", "MM-EVAL-0002"]
    assert len({q.domain for q in queries}) == 12
    first = queries[0]
    assert first.text == "In what country is Normandy located?" and first.domain == "Normans"
    behavior = first.expected_behavior
    assert behavior.behavior == "answer" and behavior.grounding == "required"
    assert behavior.grounding_requirements[0].startswith("Every factual claim cites")
    assert behavior.citation_fields == ["entity_id", "property_path", "source_url", "retrieved_at"]
    assert behavior.refusal.startswith("Decline when no collection record")
    assert behavior.must_not == ["answer_without_evidence", "fabricate_citation"]
    assert first.reference_answers == ["France"] and len(first.expected.chunks) == 1
    assert sum(q.expected_behavior.behavior == "refuse" for q in queries) == 36


def test_export_of_the_parsed_file_is_byte_identical() -> None:
    data, counts = export_prompts([], reversed(parse_prompts(rows())))
    assert counts == {"queries": 120}
    assert data == PROMPTS.read_bytes()


def test_the_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("metamuseum_generate", DATA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    prompts, responses = module.generate(tmp_path)
    assert prompts.read_bytes() == PROMPTS.read_bytes() and responses.read_bytes() == RESPONSES.read_bytes()


def test_difficulty_is_kept_or_mapped_and_written_back_as_written() -> None:
    written = ["Advanced", "intermediate", "basic", "Easy", "hard"]
    file_rows = [{**MINIMAL, "id": f"MM-EVAL-900{n}", "difficulty": d} for n, d in enumerate(written)]
    queries = parse_prompts(file_rows)
    assert [q.difficulty for q in queries] == ["hard", "medium", "easy", "easy", "hard"]
    assert queries[0].tags == ["difficulty:Advanced"] and queries[4].tags == []
    assert [to_row(q)["difficulty"] for q in queries] == written


def test_absent_behaviour_keys_take_documented_defaults() -> None:
    (query,) = parse_prompts([MINIMAL])
    behavior = query.expected_behavior
    assert behavior.citation_fields == ["chunk_id", "source_url"] and behavior.grounding_requirements == []
    assert behavior.refusal == "refuse_when_evidence_missing" and behavior.must_not == []
    assert to_row(query)["expectedBehavior"] == {
        "outcome": "refuse",
        "groundingRequirements": [],
        "citationRequirements": {"perClaim": ["chunkId", "sourceUrl"]},
        "refusalBehavior": "refuse_when_evidence_missing",
        "mustNot": [],
    }
    optional = {**MINIMAL, "expectedBehavior": {"outcome": "answer", "grounding": "optional"}}
    assert to_row(parse_prompts([optional])[0])["expectedBehavior"]["grounding"] == "optional"


def _with(path: str, value: Any) -> dict[str, Any]:
    row = copy.deepcopy(rows()[0])
    *parents, last = path.split(".")
    target = row
    for part in parents:
        target = target[part]
    target[last] = value
    return row


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_with("difficulty", "legendary"), "p.json: record MM-EVAL-0001: field difficulty: 'legendary' is not one of"),
        (_with("expectedBehavior.outcome", "maybe"), "field expectedBehavior.outcome: Input should be 'answer' or"),
        (_with("expectedBehavior.tone", "polite"), "field expectedBehavior.tone: unknown field"),
        (_with("expectedBehavior.mustNot", [3]), "field expectedBehavior.mustNot.0: Input should be a valid string"),
        (
            _with("expectedBehavior.citationRequirements", {"perClaim": ["museumId"]}),
            "field expectedBehavior.citationRequirements.perClaim.0: 'museumId' is not one of chunkId",
        ),
        (_with("expectedBehavior.groundingRequirements", "cite"), "field expectedBehavior.groundingRequirements:"),
        (_with("expectedEvidence", {"chunks": [{"id": "x"}]}), "field expectedEvidence.chunks.0.id: Input should be"),
        (_with("prompt", ""), "field prompt: String should have at least 1 character"),
        (_with("prompt", " \t\n"), "field prompt: String should have a character other than whitespace"),
        (_with("author", "me"), "field author: unknown field"),
        (_with("tags", ["difficulty:x"]), "field tags: the tag prefix 'difficulty:' is reserved"),
        ({**MINIMAL, "id": "MM EVAL 1"}, "p.json: record MM EVAL 1: field id: String should match pattern"),
        ({k: v for k, v in MINIMAL.items() if k != "prompt"}, "record MM-EVAL-9001: field prompt: missing"),
    ],
)
def test_errors_name_the_row_and_the_files_field(row: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordValidationError) as info:
        parse_prompts([row], file="p.json")
    assert message in str(info.value)


def test_duplicate_ids_and_a_non_array_file_are_errors() -> None:
    with pytest.raises(RecordValidationError, match="record MM-EVAL-9001: field id: duplicate prompt id"):
        parse_prompts([MINIMAL, MINIMAL])
    with pytest.raises(RecordValidationError, match="must be list, got dict"):
        parse_prompts({"prompts": []})


PARAMS = """\
store:
  path: golden
grounded:
  as_of: "2026-11-01T00:00:00Z"
  max_evidence_age_days: 3650
rubric:  # this project's floors (the policy's 0.9): the seed's 0.95 would fail citation coverage 0.94
  grounded_precision: 0.9
  citation_coverage: 0.9
  citation_freshness: 0.9
"""
REPO_POLICY = Path(__file__).resolve().parent.parent / "config" / "regression-policy.json"


def grounded_policy() -> dict[str, Any]:
    """The project's policy with floors on grounded metrics only (this project evaluates no retrieval)."""
    policy = orjson.loads(REPO_POLICY.read_bytes())
    policy.pop("maxHybridNdcgCut10Drop", None)
    policy["floors"] = {"pass_rate": 0.9, "faithfulness": 0.9, "citation_coverage": 0.9}
    return policy


def test_120_prompts_import_round_trip_evaluate_and_gate(
    project: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "params.yaml").write_text(PARAMS)
    (project / "policy.json").write_bytes(orjson.dumps(grounded_policy()))
    db = ["--database-url", database_url]
    assert run([*db, "import", "squad", "--sample"], capsys)[0] == 0
    code, out, err = run([*db, "import", "prompts", str(PROMPTS), "--dry-run", "--json"], capsys)
    assert code == 0, err
    assert orjson.loads(out)["queries"]["counts"]["added"] == 120
    code, out, err = run([*db, "import", "prompts", str(PROMPTS), "--replace", "--json"], capsys)
    assert code == 0, err
    report = orjson.loads(out)
    assert report["queries"]["counts"] == {"added": 120, "skipped": 0, "replaced": 0, "removed": 4449, "conflicts": 0}
    assert report["analyses"]["counts"]["removed"] == 0  # --replace replaces the kind the file holds only

    code, out, err = run([*db, "dump", "--json"], capsys)
    assert code == 0, err
    assert orjson.loads(out)["counts"]["queries"] == 120 and orjson.loads(out)["counts"]["analyses"] == 12
    code, out, err = run(["export", "prompts", "exported.json"], capsys)
    assert code == 0, err
    assert (project / "exported.json").read_bytes() == PROMPTS.read_bytes()  # lossless through the database

    code, out, err = run(["eval", "grounded", "--answerer", f"responses:{RESPONSES}", "--json"], capsys)
    assert code == 0, err
    metrics = orjson.loads(out)
    assert metrics["cases"] == 120 and metrics["malformed"] == 0
    assert metrics["refused"] == 36 + 7 and metrics["refusal_recall"] == 1.0
    assert metrics["refusal_precision"] == pytest.approx(36 / 43, abs=1e-4)
    assert metrics["pass_rate"] == pytest.approx(113 / 120, abs=1e-4)

    code, out, err = run(["gate", "--policy", "policy.json", "--metrics", "metrics/grounded.json", "--json"], capsys)
    assert code == 0, err  # floors 0.9 on pass rate (0.94), faithfulness and coverage; no baseline yet
    assert orjson.loads(out)["passed"] == 1
