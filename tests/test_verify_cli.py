"""`goldkeeper verify` and `goldkeeper schema` through the real CLI entry point (exit codes, output)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import jsonschema
import orjson
import pytest

from cli_support import run_cli as run
from goldkeeper.store import canonical_bytes
from verify_helpers import build_store, edit_shard, find_record, locate, make_analysis, make_query


def test_valid_store_exits_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(project)
    code, out, err = run(["verify"], capsys)  # DIR defaults to params store.path (golden/)
    assert code == 0, out + err
    assert f"{store}: valid: 0 error(s), 0 warning(s)" in out


def test_every_error_listed_and_exit_5(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(project)
    aid = str(make_analysis(2).id)
    edit_shard(
        store, locate(store, "analyses", aid), lambda raw: find_record(raw, aid).update(url="https://example.com/a")
    )
    edit_shard(
        store,
        locate(store, "queries", "q0003"),
        lambda raw: find_record(raw, "q0003")["expected"]["chunks"].append({"id": str(uuid.uuid4()), "relevance": 1}),
    )
    code, out, err = run(["verify", str(store)], capsys)
    assert code == 5
    assert f"[url.placeholder] {store / locate(store, 'analyses', aid)}: record {aid}: field url:" in out
    assert "[query.dangling_chunk]" in out and "record q0003: field expected.chunks.1.id" in out
    assert err.strip().splitlines() == [f"error: {store}: INVALID: 2 error(s), 0 warning(s)"]
    assert "Traceback" not in out + err


def test_json_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = build_store(project)
    (store / "queries" / "42.json").write_bytes(b"[]\n")
    code, out, _ = run(["verify", "golden", "--json"], capsys)
    assert code == 5
    report = orjson.loads(out)
    assert report["valid"] is False and report["errors"] == 1
    assert [(i["code"], i["file"]) for i in report["issues"]] == [
        ("shard.unlisted", str(store / "queries" / "42.json"))
    ]
    assert report["version"] and report["checked"]["queries"] == 12


def test_strict_fails_on_warnings(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    analysis = make_analysis(0, chunks=0)  # a warning: an analysis with no chunks
    build_store(project, analyses=[analysis], queries=[make_query(0, make_analysis(0), refuse=True)])
    code, out, _ = run(["verify"], capsys)
    assert code == 0 and "warning [analysis.no_chunks]" in out
    code, out, err = run(["verify", "--strict", "--json"], capsys)
    assert code == 5
    report = orjson.loads(out)
    assert report["strict"] is True and report["valid"] is False and report["warnings"] == 1
    assert "strict" in err


def test_not_a_store(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "empty").mkdir()
    code, out, _ = run(["verify", "empty"], capsys)
    assert code == 5 and "[manifest.missing]" in out


def test_verify_uses_rubric_from_params_yaml(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_store(project)
    (project / "params.yaml").write_text("rubric:\n  min_domains: 9\n")
    code, out, _ = run(["verify"], capsys)
    assert code == 5 and "[prompt.domain_diversity]" in out


@pytest.mark.parametrize("name", ["golden", "analysis", "query", "manifest"])
def test_schema_is_json_schema(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema", name], capsys)
    assert code == 0
    schema = orjson.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)


def test_golden_schema_accepts_shards_and_rejects_unknown_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build_store(tmp_path)
    _, out, _ = run(["schema"], capsys)
    validator = jsonschema.Draft202012Validator(orjson.loads(out))
    manifest = orjson.loads((store / "manifest.json").read_bytes())
    for entry in manifest["shards"]:
        validator.validate(orjson.loads((store / entry["path"]).read_bytes()))
    bad = orjson.loads((store / manifest["shards"][0]["path"]).read_bytes())
    bad[0]["colour"] = "blue"
    assert not validator.is_valid(bad)
    _, out, _ = run(["schema", "manifest"], capsys)
    jsonschema.validate(manifest, orjson.loads(out))


def test_schema_response_is_available(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema", "response"], capsys)
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(orjson.loads(out))


def test_unknown_schema_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["schema", "nope"], capsys)
    assert code == 2 and "nope" in err


def test_console_script_exit_code(tmp_path: Path) -> None:
    store = build_store(tmp_path)
    (store / "manifest.json").write_bytes(canonical_bytes({"dataset": "x"}))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "goldkeeper"), "verify", str(store)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 5, result.stderr
    assert "[manifest.schema]" in result.stdout and "field counts" in result.stdout


def test_a_store_path_with_a_newline_stays_on_the_summary_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = project / "gold\nen"
    odd.mkdir()
    code, out, err = run(["verify", str(odd)], capsys)
    assert code == 5
    last = out.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"{project}/gold\\nen: INVALID"), out
