"""verify on files: one test per contract violation class, each naming code, file, record and field."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from goldkeeper.config import Settings
from goldkeeper.dataset.verify import Issue, VerifyReport, verify_store
from goldkeeper.models import ExpectedBehavior
from verify_helpers import (
    build_store,
    edit_shard,
    find_record,
    locate,
    make_analysis,
    make_query,
    read_manifest,
    reseal_shard,
    settings_for,
    write_manifest,
)


def only(report: VerifyReport, code: str) -> list[Issue]:
    """The issues of ``code``, after asserting that no other error is reported."""
    others = [i.render() for i in report.errors if i.code != code]
    assert others == [], others
    found = [i for i in report.issues if i.code == code]
    assert found, report.to_text()
    return found


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


def first_analysis(store: Path) -> tuple[str, str]:
    aid = str(make_analysis(0).id)
    return aid, locate(store, "analyses", aid)


def first_query(store: Path) -> tuple[str, str]:
    return "q0000", locate(store, "queries", "q0000")


# ---------------------------------------------------------------- a valid store


def test_valid_store_has_no_issue_even_strict(store: Path, settings: Settings) -> None:
    report = verify_store(store, settings)
    assert report.issues == ()
    assert report.ok(strict=True)
    assert report.version == __import__("hashlib").sha256((store / "manifest.json").read_bytes()).hexdigest()
    assert dict(report.checked) == {
        "shards": len(read_manifest(store)["shards"]),
        "analyses": 6,
        "chunks": 18,
        "findings": 6,
        "artifacts": 6,
        "queries": 12,
    }


def test_report_json_and_text_name_every_issue(store: Path, settings: Settings) -> None:
    aid, path = first_analysis(store)
    edit_shard(store, path, lambda raw: find_record(raw, aid).update(url="https://placeholder.invalid/x"))
    report = verify_store(store, settings)
    data = orjson.loads(report.to_json())
    assert data["valid"] is False and data["errors"] == 1
    assert data["issues"] == [
        {
            "severity": "error",
            "code": "url.placeholder",
            "file": str(store / path),
            "record_id": aid,
            "field": "url",
            "message": data["issues"][0]["message"],
        }
    ]
    assert f"error [url.placeholder] {store / path}: record {aid}: field url:" in report.to_text()


# ---------------------------------------------------------------- manifest


def test_missing_manifest(store: Path, settings: Settings) -> None:
    (store / "manifest.json").unlink()
    (issue,) = only(verify_store(store, settings), "manifest.missing")
    assert issue.file == str(store / "manifest.json")


def test_manifest_not_json(store: Path, settings: Settings) -> None:
    (store / "manifest.json").write_text("{not json")
    (issue,) = only(verify_store(store, settings), "manifest.invalid_json")
    assert issue.file == str(store / "manifest.json")


def test_manifest_schema_names_the_field(store: Path, settings: Settings) -> None:
    manifest = read_manifest(store)
    manifest["shards"][0]["sha256"] = "not-a-hash"
    manifest["surprise"] = 1
    write_manifest(store, manifest)
    issues = only(verify_store(store, settings), "manifest.schema")
    assert {i.field for i in issues} == {"shards.0.sha256", "surprise"}


def test_manifest_from_a_newer_format(store: Path, settings: Settings) -> None:
    manifest = read_manifest(store)
    manifest["format_version"] = 99
    write_manifest(store, manifest)
    (issue,) = only(verify_store(store, settings), "manifest.format_version")
    assert issue.field == "format_version" and "99" in issue.message


def test_manifest_counts_against_records(store: Path, settings: Settings) -> None:
    manifest = read_manifest(store)
    manifest["counts"]["chunks"] += 1
    write_manifest(store, manifest)
    (issue,) = only(verify_store(store, settings), "manifest.counts")
    assert issue.field == "counts.chunks" and "19" in issue.message and "18" in issue.message


def test_manifest_shard_path_outside_the_store(store: Path, settings: Settings) -> None:
    manifest = read_manifest(store)
    manifest["shards"][0]["path"] = "../../etc/passwd"
    write_manifest(store, manifest)
    report = verify_store(store, settings)
    (issue,) = [i for i in report.issues if i.code == "manifest.shard_path"]
    assert issue.field == "shards.0.path"


# ---------------------------------------------------------------- shards


def test_shard_checksum(store: Path, settings: Settings) -> None:
    aid, path = first_analysis(store)
    edit_shard(store, path, lambda raw: find_record(raw, aid).update(title="edited by hand"), reseal=False)
    (issue,) = only(verify_store(store, settings), "shard.checksum")
    assert issue.file == str(store / path)


def test_shard_record_count(store: Path, settings: Settings) -> None:
    manifest = read_manifest(store)
    manifest["shards"][0]["records"] += 2
    write_manifest(store, manifest)
    (issue,) = only(verify_store(store, settings), "shard.record_count")
    assert issue.file == str(store / manifest["shards"][0]["path"])


def test_unlisted_shard(store: Path, settings: Settings) -> None:
    (store / "queries" / "99.json").write_bytes(b"[]\n")
    (issue,) = only(verify_store(store, settings), "shard.unlisted")
    assert issue.file == str(store / "queries" / "99.json")


def test_missing_shard(store: Path, settings: Settings) -> None:
    _, path = first_query(store)
    (store / path).unlink()
    report = verify_store(store, settings)
    (issue,) = [i for i in report.issues if i.code == "shard.missing"]
    assert issue.file == str(store / path)
    # the records it held are missing from the counts too
    assert {i.code for i in report.errors} <= {"shard.missing", "manifest.counts"}


def test_shard_not_json(store: Path, settings: Settings) -> None:
    _, path = first_query(store)
    data = b"[{"
    (store / path).write_bytes(data)
    reseal_shard(store, path, data, 1)
    report = verify_store(store, settings)
    (issue,) = [i for i in report.issues if i.code == "shard.invalid_json"]
    assert issue.file == str(store / path)


# ---------------------------------------------------------------- records


def test_record_schema_names_record_and_field(store: Path, settings: Settings) -> None:
    aid, path = first_analysis(store)

    def corrupt(raw: list) -> None:
        record = find_record(raw, aid)
        record["chunks"][1]["chunk_index"] = "second"
        record["colour"] = "blue"

    edit_shard(store, path, corrupt)
    issues = only(verify_store(store, settings), "record.schema")
    assert {(i.file, i.record_id, i.field) for i in issues} == {
        (str(store / path), aid, "chunks.1.chunk_index"),
        (str(store / path), aid, "colour"),
    }


def test_query_schema_error(store: Path, settings: Settings) -> None:
    qid, path = first_query(store)
    edit_shard(store, path, lambda raw: find_record(raw, qid)["expected_behavior"].update(behavior="shrug"))
    (issue,) = only(verify_store(store, settings), "record.schema")
    assert (issue.record_id, issue.field) == (qid, "expected_behavior.behavior")


def test_record_in_the_wrong_shard(store: Path, settings: Settings) -> None:
    manifest = read_manifest(store)
    qid, path = first_query(store)
    other = next(e["path"] for e in manifest["shards"] if e["entity"] == "queries" and e["path"] != path)
    moved: list = []
    edit_shard(store, path, lambda raw: moved.append(raw.pop(raw.index(find_record(raw, qid)))))

    def insert(raw: list) -> None:
        raw.append(moved[0])
        raw.sort(key=lambda r: r["id"])

    edit_shard(store, other, insert)
    (issue,) = only(verify_store(store, settings), "record.wrong_shard")
    assert (issue.file, issue.record_id, issue.field) == (str(store / other), qid, "id")
    assert path in issue.message


def test_records_out_of_order(tmp_path: Path, settings: Settings) -> None:
    store = build_store(tmp_path, n=30)
    manifest = read_manifest(store)
    entry = max((e for e in manifest["shards"] if e["entity"] == "analyses"), key=lambda e: e["records"])
    raw = orjson.loads((store / entry["path"]).read_bytes())
    later = raw[-1]["id"]
    edit_shard(store, entry["path"], lambda r: r.insert(0, r.pop()))
    report = verify_store(store, settings)
    (issue,) = only(report, "record.order")
    assert (issue.file, issue.record_id, issue.field) == (str(store / entry["path"]), raw[0]["id"], "id")
    assert later in issue.message


def test_chunks_out_of_order(store: Path, settings: Settings) -> None:
    aid, path = first_analysis(store)
    edit_shard(store, path, lambda raw: find_record(raw, aid)["chunks"].reverse())
    (issue,) = only(verify_store(store, settings), "chunk.order")
    assert (issue.record_id, issue.field) == (aid, "chunks")


def test_duplicate_analysis_id(store: Path, settings: Settings) -> None:
    aid, path = first_analysis(store)
    # the same analysis twice in its shard: its chunks are duplicated as well
    edit_shard(store, path, lambda raw: raw.insert(raw.index(find_record(raw, aid)), dict(find_record(raw, aid))))
    manifest = read_manifest(store)
    manifest["counts"] = {**manifest["counts"], "analyses": 7, "chunks": 21, "findings": 7, "artifacts": 7}
    write_manifest(store, manifest)
    report = verify_store(store, settings)
    assert {i.code for i in report.errors} == {"analysis.duplicate_id", "chunk.duplicate_id"}
    (issue,) = [i for i in report.errors if i.code == "analysis.duplicate_id"]
    assert (issue.file, issue.record_id, issue.field) == (str(store / path), aid, "id")


def test_chunk_id_shared_across_analyses(store: Path, settings: Settings) -> None:
    first = make_analysis(0)
    second = make_analysis(1)
    path = locate(store, "analyses", str(second.id))
    edit_shard(
        store, path, lambda raw: find_record(raw, str(second.id))["chunks"][2].update(id=str(first.chunks[0].id))
    )
    (issue,) = only(verify_store(store, settings), "chunk.duplicate_id")
    assert (issue.record_id, issue.field) == (str(second.id), "chunks.2.id") or (
        issue.record_id == str(first.id) and issue.field == "chunks.0.id"
    )
    assert str(first.chunks[0].id) in issue.message


def test_duplicate_query_id(tmp_path: Path, settings: Settings) -> None:
    analyses = [make_analysis(i) for i in range(3)]
    queries = [make_query(i, a) for i, a in enumerate(analyses)]
    store = build_store(tmp_path, analyses=analyses, queries=queries)
    qid, path = first_query(store)
    edit_shard(store, path, lambda raw: raw.insert(raw.index(find_record(raw, qid)), dict(find_record(raw, qid))))
    manifest = read_manifest(store)
    manifest["counts"]["queries"] += 1
    write_manifest(store, manifest)
    (issue,) = only(verify_store(store, settings), "query.duplicate_id")
    assert (issue.file, issue.record_id, issue.field) == (str(store / path), qid, "id")


def test_query_expecting_a_missing_chunk(store: Path, settings: Settings) -> None:
    qid, path = first_query(store)
    ghost = str(uuid.uuid4())
    edit_shard(
        store, path, lambda raw: find_record(raw, qid)["expected"]["chunks"].append({"id": ghost, "relevance": 1})
    )
    (issue,) = only(verify_store(store, settings), "query.dangling_chunk")
    assert (issue.file, issue.record_id, issue.field) == (str(store / path), qid, "expected.chunks.1.id")
    assert ghost in issue.message


def test_query_expecting_a_missing_analysis(store: Path, settings: Settings) -> None:
    qid, path = first_query(store)
    ghost = str(uuid.uuid4())
    edit_shard(
        store,
        path,
        lambda raw: find_record(raw, qid)["expected"]["analyses"].__setitem__(0, {"id": ghost, "relevance": 2}),
    )
    (issue,) = only(verify_store(store, settings), "query.dangling_analysis")
    assert (issue.record_id, issue.field) == (qid, "expected.analyses.0.id")


# ---------------------------------------------------------------- URL contract


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://example.com/doc", "url.placeholder"),
        ("https://www.EXAMPLE.com/doc", "url.placeholder"),
        ("http://localhost:8000/a", "url.placeholder"),
        ("https://docs.acme.org/TODO", "url.placeholder"),
        ("https://placeholder.acme.org/", "url.placeholder"),
        ("ftp://files.acme.org/a", "url.scheme"),
        ("en.wikipedia.org/wiki/Normans", "url.scheme"),
        ("https:///wiki/Normans", "url.invalid"),
        ("https://en.wikipedia.org/wiki/Two words", "url.invalid"),
        ("https://[::1/x", "url.invalid"),
    ],
)
def test_url_contract(tmp_path: Path, settings: Settings, url: str, code: str) -> None:
    analyses = [make_analysis(0, url=url), make_analysis(1)]
    store = build_store(tmp_path, analyses=analyses)
    (issue,) = only(verify_store(store, settings), code)
    assert (issue.record_id, issue.field) == (str(analyses[0].id), "url")
    assert issue.file == str(store / locate(store, "analyses", str(analyses[0].id)))


@pytest.mark.parametrize("url", ["https://en.wikipedia.org/wiki/Todos_Santos", "https://www.example.community/x"])
def test_placeholder_patterns_match_whole_words_only(tmp_path: Path, settings: Settings, url: str) -> None:
    store = build_store(tmp_path, analyses=[make_analysis(0, url=url)])
    assert verify_store(store, settings).errors == ()


def test_placeholder_patterns_come_from_params(tmp_path: Path) -> None:
    store = build_store(tmp_path, analyses=[make_analysis(0, url="https://staging.acme.org/a")])
    settings = Settings(root=tmp_path, verify={"placeholder_patterns": ["staging"], "url_schemes": ["https"]})
    (issue,) = only(verify_store(store, settings), "url.placeholder")
    assert "staging" in issue.message


# ---------------------------------------------------------------- prompt contract (issue 5)


def test_prompt_minimum(store: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rubric={"min_prompts": 50})
    (issue,) = only(verify_store(store, settings), "prompt.min_count")
    assert "12 prompt(s)" in issue.message and "50" in issue.message
    assert issue.file == str(store / "queries")


def test_prompt_domain_diversity(store: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rubric={"min_domains": 4})
    (issue,) = only(verify_store(store, settings), "prompt.domain_diversity")
    assert issue.field == "domain" and "3 distinct domain(s) (history, law, science)" in issue.message


def test_prompt_required_fields(store: Path, settings: Settings) -> None:
    qid, path = first_query(store)

    def strip(raw: list) -> None:
        record = find_record(raw, qid)
        record["domain"] = "  "
        record["expected_behavior"]["citation_fields"] = []
        record["expected_behavior"]["must_not"] = []
        del record["expected_behavior"]["refusal"]  # has a default: the schema alone would accept it

    edit_shard(store, path, strip)
    report = verify_store(store, settings)
    issues = only(report, "prompt.required_field")
    assert {(i.record_id, i.field) for i in issues} == {
        (qid, "domain"),
        (qid, "expected_behavior.citation_fields"),
        (qid, "expected_behavior.refusal"),
        (qid, "expected_behavior.must_not"),
    }
    # says how to satisfy it: a first verify of one's own records (must_not left empty) failed with no hint
    must_not = next(i for i in issues if i.field == "expected_behavior.must_not")
    assert "answer_without_evidence, fabricate_citation" in must_not.message
    assert "params rubric.required_fields" in must_not.message
    citations = next(i for i in issues if i.field == "expected_behavior.citation_fields")
    assert "params rubric.answer_required_fields" in citations.message


def test_prompt_required_fields_are_a_parameter(store: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rubric={"required_fields": ["id", "tags"]})
    issues = only(verify_store(store, settings), "prompt.required_field")
    assert len(issues) == 12 and {i.field for i in issues} == {"tags"}


def test_prompt_policy_cite_or_refuse(tmp_path: Path, settings: Settings) -> None:
    analysis = make_analysis(0)
    query = make_query(0, analysis)
    loose = query.model_copy(
        update={
            "expected_behavior": ExpectedBehavior(
                behavior="answer", grounding="optional", must_not=["fabricate_citation"]
            )
        }
    )
    store = build_store(tmp_path, analyses=[analysis], queries=[loose])
    (issue,) = only(verify_store(store, settings), "prompt.policy")
    assert (issue.record_id, issue.field) == (query.id, "expected_behavior.grounding")


def test_unknown_rubric_key_is_a_config_error(store: Path, tmp_path: Path) -> None:
    from goldkeeper.errors import ConfigError

    with pytest.raises(ConfigError, match="rubric.min_promts"):
        verify_store(store, settings_for(tmp_path, rubric={"min_promts": 3}))


# ---------------------------------------------------------------- warnings


def test_warnings_pass_unless_strict(tmp_path: Path, settings: Settings) -> None:
    empty = make_analysis(0, chunks=0)
    blank = make_analysis(1)
    blank = blank.model_copy(
        update={"chunks": [blank.chunks[0].model_copy(update={"content": " "}), *blank.chunks[1:]]}
    )
    unexpected = make_query(1, blank).model_copy(update={"expected": make_query(1, blank, refuse=True).expected})
    store = build_store(tmp_path, analyses=[empty, blank], queries=[unexpected])
    report = verify_store(store, settings)
    assert report.errors == ()
    assert {(i.code, i.record_id, i.field) for i in report.warnings} == {
        ("analysis.no_chunks", str(empty.id), "chunks"),
        ("chunk.empty_content", str(blank.id), "chunks.0.content"),
        ("query.no_expected", unexpected.id, "expected"),
    }
    assert report.ok() and not report.ok(strict=True)


def test_non_canonical_shard_is_a_warning(store: Path, settings: Settings) -> None:
    _, path = first_query(store)
    data = orjson.dumps(orjson.loads((store / path).read_bytes()))  # compact, not canonical
    (store / path).write_bytes(data)
    reseal_shard(store, path, data, len(orjson.loads(data)))
    report = verify_store(store, settings)
    assert report.errors == ()
    assert [(i.code, i.file) for i in report.warnings] == [("shard.not_canonical", str(store / path))]


def test_shard_counts_differing_from_params_is_a_warning(store: Path, tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, store={"shards": {"analyses": 8, "queries": 4}})
    report = verify_store(store, settings)
    assert report.errors == ()
    assert [(i.code, i.field) for i in report.warnings] == [("manifest.shard_counts", "shard_counts.queries")]


def test_every_error_is_listed_not_just_the_first(store: Path, settings: Settings) -> None:
    aid, apath = first_analysis(store)
    qid, qpath = first_query(store)
    edit_shard(store, apath, lambda raw: find_record(raw, aid).update(url="http://localhost/x"))
    edit_shard(
        store,
        qpath,
        lambda raw: find_record(raw, qid)["expected"]["chunks"].append({"id": str(uuid.uuid4()), "relevance": 1}),
    )
    (store / "analyses" / "77.json").write_bytes(b"[]\n")
    report = verify_store(store, settings)
    assert {i.code for i in report.errors} == {"url.placeholder", "query.dangling_chunk", "shard.unlisted"}


def test_the_projects_golden_dataset_verifies_clean_even_strict() -> None:
    from goldkeeper.config import load_settings

    root = Path(__file__).resolve().parent.parent
    settings = load_settings(root=root, env={})
    report = verify_store(settings.store_path, settings)
    assert report.issues == (), report.to_text()
    checked = dict(report.checked)
    assert (checked["analyses"], checked["chunks"], checked["queries"]) == (12, 468, 4449)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["id", "chunks", "url", "expected", "x"]), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings_h(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=json_values)
def test_verify_reports_any_garbage_shard_and_never_raises(tmp_path: Path, garbage: object) -> None:
    store = tmp_path / "golden"
    if not store.exists():
        build_store(tmp_path, n=2)
    qid, path = first_query(store)
    data = orjson.dumps(garbage)
    (store / path).write_bytes(data)
    reseal_shard(store, path, data, 1)
    report = verify_store(store, settings_for(tmp_path))
    assert not report.ok()
    assert all(i.code for i in report.errors)


@settings_h(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=json_values)
def test_verify_reports_any_garbage_manifest_and_never_raises(tmp_path: Path, garbage: object) -> None:
    store = tmp_path / "golden"
    if not store.exists():
        build_store(tmp_path, n=2)
    (store / "manifest.json").write_bytes(orjson.dumps(garbage))
    report = verify_store(store, settings_for(tmp_path))
    assert not report.ok()
    assert {i.code for i in report.errors} <= {"manifest.schema", "manifest.format_version", "manifest.schema_version"}
