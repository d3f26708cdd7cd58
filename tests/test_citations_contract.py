"""The MetaMuseum citation contract (issue 14 point 4): domain entity ids, property paths, must_not, identity."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_support import run_cli as run
from goldkeeper.config import Settings, load_settings
from goldkeeper.dataset.verify import verify_store
from goldkeeper.evals.evidence import EvidenceIndex, resolve_citation, resolve_path
from goldkeeper.evals.grounded import Rubric, score_case
from goldkeeper.evals.judges import AlignedJudge
from goldkeeper.evals.response import Citation, Claim, Response
from goldkeeper.models import Analysis, Artifact, Chunk, ExpectedBehavior
from goldkeeper.quality.baseline import resolve_identity
from test_grounded_e2e import make_project, oracle_responses, squad_slice  # noqa: F401 - fixture
from verify_helpers import build_store, make_analysis, make_query, settings_for

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
URL1 = "https://www.metmuseum.org/art/collection/search/1"


def museum(n: int, entity_ids: object) -> Analysis:
    aid = uuid.uuid5(uuid.NAMESPACE_URL, f"museum-{n}")
    return Analysis(
        id=aid,
        url=f"https://www.metmuseum.org/art/collection/search/{n}",
        title=f"Object {n}",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        chunks=[
            Chunk(id=uuid.uuid5(aid, f"c{i}"), content=f"Bronze vessel {n}, part {i}.", chunk_index=i) for i in range(2)
        ],
        artifact=Artifact(
            id=uuid.uuid5(aid, "artifact"),
            summary="A bronze vessel.",
            metadata={"entity_ids": entity_ids, "provenance": {"donor": "Rogers Fund", "years": [1917, 1920]}},
        ),
    )


@pytest.fixture(scope="module")
def index() -> EvidenceIndex:
    # 11417 declared by one analysis; shared:1 by two
    return EvidenceIndex.from_analyses(
        [museum(1, ["met:11417", "shared:1"]), museum(2, ["shared:1"]), museum(3, "met:99"), museum(4, None)]
    )


def first(index: EvidenceIndex, n: int) -> tuple[Analysis, uuid.UUID]:
    aid = uuid.uuid5(uuid.NAMESPACE_URL, f"museum-{n}")
    return aid, index.analyses[aid].chunk_ids[0]


def check(index: EvidenceIndex, **fields) -> str | None:
    return resolve_citation(Citation(**fields), ["entity_id"] if "entity_id" in fields else [], index).error


def test_domain_entity_ids_declared_by_the_analysis_are_accepted(index) -> None:
    a1, c1 = first(index, 1)
    a2, _ = first(index, 2)
    assert check(index, entity_id="met:11417") is None  # declared once: names analysis 1
    assert resolve_citation(Citation(entity_id="met:11417"), [], index).analysis_id == a1
    assert check(index, entity_id="met:11417", chunk_id=c1) is None
    assert check(index, entity_id="met:99") is None  # one string instead of a list
    assert check(index, entity_id="shared:1", analysis_id=a2) is None
    assert check(index, entity_id=str(a1), chunk_id=c1) is None  # goldkeeper UUIDs still accepted


def test_domain_entity_ids_are_checked_against_the_declarations(index) -> None:
    a1, _ = first(index, 1)
    a2, c2 = first(index, 2)
    assert "names no analysis, chunk or declared entity" in check(index, entity_id="met:404")
    assert "is not declared by analysis" in check(index, entity_id="met:11417", chunk_id=c2)
    assert "is not declared by analysis" in check(index, entity_id="met:11417", analysis_id=a2)
    assert "declared by 2 analyses: cite chunk_id or analysis_id" in check(index, entity_id="shared:1")
    assert "names no analysis" in check(index, entity_id=str(uuid.uuid4()))


def test_property_path_must_resolve_in_the_cited_record(index) -> None:
    a1, c1 = first(index, 1)
    ok = ["content", "chunks[0].content", "title", "artifact.metadata.provenance.donor", "provenance.years[1]"]
    for path in ok:
        assert check(index, chunk_id=c1, property_path=path) is None, path
    assert check(index, analysis_id=a1, property_path="chunks[1].content") is None  # the whole analysis cited
    bad = {
        "nonsense.path.that.does.not.exist": "does not resolve in the cited record",
        "chunks[1].content": "not the cited chunk",
        "provenance.years[2]": "does not resolve",
        "chunks[0]..content": "does not resolve",
        "": "does not resolve",
    }
    for path, message in bad.items():
        error = check(index, chunk_id=c1, property_path=path)
        assert error is not None and message in error, (path, error)


def test_resolve_path_parses_dots_and_indexes() -> None:
    record = {"a": {"b": [{"c": 1}, {"d": 2}]}}
    assert resolve_path(record, "a.b[1].d") == (True, ["a", "b", 1, "d"])
    assert resolve_path(record, "a.b[2]")[0] is False
    assert resolve_path(record, "a.b.1")[0] is False  # a list is indexed with [N]
    assert resolve_path(record, "a[0]")[0] is False


def test_an_invalid_property_path_fails_the_case_as_a_fabricated_citation(index) -> None:
    a1, c1 = first(index, 1)
    query = make_query(1, make_analysis(1)).model_copy(
        update={
            "expected": make_query(1, make_analysis(1)).expected.model_copy(update={"chunks": [], "analyses": []}),
            "reference_answers": [],
        }
    )
    claim = Claim(
        text="Bronze vessel 1, part 0.",
        citations=[Citation(chunk_id=c1, source_url=URL1, property_path="nonsense.path.that.does.not.exist")],
    )
    response = Response(query_id=query.id, answer="Bronze vessel 1, part 0.", refused=False, claims=[claim])
    case = score_case(query, response, index, AlignedJudge(), Rubric(), as_of=AS_OF, max_age_days=3650)
    assert not case.passed and case.citation_coverage == 0.0
    assert case.reasons[0].endswith(
        "property_path 'nonsense.path.that.does.not.exist' does not resolve in the cited record (its fields or its metadata)"
    )
    assert any("must_not fabricate_citation" in r for r in case.reasons)


# ------------------------------------------------------------------ must_not rules


def test_verify_rejects_unknown_must_not_rules(tmp_path: Path) -> None:
    analysis = make_analysis(0)
    query = make_query(0, analysis)
    unknown = query.model_copy(
        update={
            "expected_behavior": ExpectedBehavior(
                behavior="answer", must_not=["fabricate_citation", "guess_donor", "answer_without_evidence"]
            )
        }
    )
    store = build_store(tmp_path, analyses=[analysis], queries=[unknown])
    report = verify_store(store, settings_for(tmp_path))
    issues = [i for i in report.issues if i.code == "prompt.must_not"]
    assert [(i.severity, i.record_id, i.field) for i in issues] == [
        ("error", query.id, "expected_behavior.must_not[1]")
    ]
    assert "unknown must_not rule 'guess_donor'" in issues[0].message
    assert report.errors


def test_scoring_fails_a_case_with_an_unknown_must_not_rule(index) -> None:
    _, c1 = first(index, 1)
    base = make_query(1, make_analysis(1))
    query = base.model_copy(
        update={
            "expected": base.expected.model_copy(update={"chunks": [], "analyses": []}),
            "expected_behavior": ExpectedBehavior(behavior="answer", must_not=["guess_donor"]),
            "reference_answers": [],
        }
    )
    claim = Claim(text="Bronze vessel 1, part 0.", citations=[Citation(chunk_id=c1, source_url=URL1)])
    response = Response(query_id=query.id, answer="Bronze vessel 1, part 0.", refused=False, claims=[claim])
    case = score_case(query, response, index, AlignedJudge(), Rubric(), as_of=AS_OF, max_age_days=3650)
    assert case.reasons == ["must_not guess_donor: unknown rule, cannot be checked (verify rejects it)"]


# ------------------------------------------------------------------ the run's identity


def test_the_baseline_identity_names_the_runs_answerer_and_judge(project: Path, squad_slice, capsys) -> None:  # noqa: F811
    make_project(project, squad_slice)
    settings: Settings = load_settings(project, env={})
    before = resolve_identity(settings, model_id=lambda: "model", env={})
    assert before.model_version == "model+answerer=extractive;judge=aligned"  # params.yaml: no run yet
    lines = oracle_responses(squad_slice)
    (project / "answers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, _, err = run(["eval", "grounded", "--answerer", "responses:answers.jsonl"], capsys)
    assert code == 0, err
    metrics = json.loads((project / "metrics" / "grounded.json").read_text())
    assert (metrics["answerer"], metrics["judge"]) == ("responses:answers.jsonl", "aligned@0.65")
    after = resolve_identity(settings, model_id=lambda: "model", env={})
    assert after.model_version == "model+answerer=responses:answers.jsonl;judge=aligned@0.65"
    assert after.key != before.key
