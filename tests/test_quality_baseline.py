"""Baselines: the identity (dataset id + version, model version, prompt version), record / show / list."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_support import run_cli as cli
from goldkeeper.config import load_settings
from goldkeeper.errors import DataIntegrityError
from goldkeeper.project import Project
from goldkeeper.quality.baseline import BaselineStore
from goldkeeper.store import open_store
from quality_support import GROUNDED, POLICY_FILE, RETRIEVAL, write_metrics, write_tiny_store


@pytest.fixture
def tiny(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_store(project / "golden")
    write_metrics(project)
    for var in ("GOLDKEEPER_MODEL_VERSION", "GOLDKEEPER_PROMPT_VERSION"):
        monkeypatch.delenv(var, raising=False)
    return project


def test_identity_from_store_params_and_env(tiny: Path) -> None:
    (tiny / "params.yaml").write_text(
        "prompt:\n  version: cite-or-refuse-v3\ngrounded:\n  answerer: responses:answers.jsonl\n"
    )
    env = {"GOLDKEEPER_MODEL_VERSION": "my-model@sha256:abc"}
    ident = Project(load_settings(tiny, env=env)).identity(env=env)
    assert ident.dataset_id == "tiny"
    assert ident.dataset_version == open_store(tiny / "golden").version
    assert ident.model_version == "my-model@sha256:abc"
    assert ident.prompt_version == "cite-or-refuse-v3"
    env2 = {**env, "GOLDKEEPER_PROMPT_VERSION": "p-override"}
    other = Project(load_settings(tiny, env=env2)).identity(env=env2)
    assert other.prompt_version == "p-override" and other.key != ident.key


@pytest.mark.slow
def test_model_version_is_embedding_model_id_plus_answerer(tiny: Path) -> None:
    from goldkeeper.config import EmbeddingParams
    from goldkeeper.embed import load_embedder

    ident = Project(load_settings(tiny, env={})).identity(env={})
    model_id = load_embedder(EmbeddingParams()).model_id
    assert model_id.startswith("sentence-transformers/all-MiniLM-L6-v2@sha256:")
    assert ident.model_version == f"{model_id}+answerer=extractive;judge=aligned"


def test_dataset_version_changes_the_key(tiny: Path) -> None:
    env = {"GOLDKEEPER_MODEL_VERSION": "m"}
    before = Project(load_settings(tiny, env=env)).identity(env=env)
    write_tiny_store(tiny / "golden", dataset="tiny")
    assert Project(load_settings(tiny, env=env)).identity(env=env).key == before.key  # same bytes, same version
    write_tiny_store(tiny / "golden", dataset="tiny-2")
    after = Project(load_settings(tiny, env=env)).identity(env=env)
    assert after.dataset_version != before.dataset_version and after.key != before.key


def test_record_show_list(tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "m1")
    code, out, _ = cli(["baseline", "record", "--json"], capsys)
    assert code == 0
    recorded = json.loads(out)
    path = Path(recorded["path"])
    assert path.parent == tiny / "baselines" and path.name == f"{recorded['key']}.json"
    stored = json.loads(path.read_text())
    assert stored["schemaVersion"] == 1 and stored["identity"]["modelVersion"] == "m1"
    assert stored["metrics"]["faithfulness"] == 0.9134 and "cases" not in stored["metrics"]
    assert stored["sources"] == ["metrics/retrieval.json", "metrics/grounded.json"]
    code, out, _ = cli(["baseline", "show"], capsys)
    assert code == 0 and f"baseline {recorded['key']}" in out and "faithfulness" in out
    monkeypatch.setenv("GOLDKEEPER_PROMPT_VERSION", "v2")
    code, _, err = cli(["baseline", "show"], capsys)
    assert code == 3 and "no baseline for the current identity" in err
    assert cli(["baseline", "record"], capsys)[0] == 0
    code, out, _ = cli(["baseline", "list", "--json"], capsys)
    listed = json.loads(out)
    assert sorted(b["identity"]["promptVersion"] for b in listed) == ["v1", "v2"]
    code, out, _ = cli(["baseline", "show", "--key", recorded["key"], "--json"], capsys)
    assert json.loads(out)["identity"]["promptVersion"] == "v1"


def test_record_without_metrics_is_an_eval_error(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "m1")
    (tiny / "metrics" / "grounded.json").unlink()
    code, _, err = cli(["baseline", "record"], capsys)
    assert code == 6 and "grounded.json: metrics file not found" in err


def test_metrics_measured_on_two_dataset_versions_are_an_eval_error(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One eval rerun after a restore, the other's file stale: its metrics were recorded (and gated) silently
    under the first file's version."""
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "m1")
    (tiny / "config").mkdir()
    shutil.copy(POLICY_FILE, tiny / "config" / "regression-policy.json")
    label = {"dataset_version_source": "database", "dataset_version_differs": False}
    write_metrics(
        tiny,
        retrieval={**RETRIEVAL, **label, "dataset_version": "a" * 64},
        grounded={**GROUNDED, **label, "dataset_version": "b" * 64},
    )
    for command in (["baseline", "record"], ["gate", "--no-record"]):
        code, _, err = cli(command, capsys)
        assert code == 6, err
        assert f"{Path('metrics') / 'grounded.json'}: measured dataset version bbbbbbbbbbbb, but " in err
        assert "retrieval.json measured aaaaaaaaaaaa: rerun the stale eval" in err
    assert not (tiny / "baselines").exists()
    write_metrics(tiny, grounded={**GROUNDED, **label, "dataset_version": "a" * 64})  # one version: recorded
    code, out, _ = cli(["baseline", "record", "--json"], capsys)
    assert code == 0 and json.loads(out)["identity"]["datasetVersion"] == "a" * 64


def test_unsupported_baseline_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"schemaVersion": 9}))
    with pytest.raises(DataIntegrityError, match="unsupported baseline schemaVersion 9"):
        BaselineStore(tmp_path).load_file(tmp_path / "x.json")


def test_show_list_and_gate_print_hostile_metric_names_inert(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a metric named by a user's eval script, and a model version from the environment, holding a terminal
    # hyperlink (OSC 8) and a screen clear: printed escaped, never as escape sequences
    hostile = "x\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\x1b[2J"
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", f"m{hostile}")
    (tiny / "metrics" / "grounded.json").write_text(json.dumps({"faithfulness": 0.9, hostile: 0.5}))
    assert cli(["baseline", "record"], capsys)[0] == 0
    policy = tiny / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "floors": {hostile: 0.9},
                "diffSeverityPolicy": {"watch": 0.005, "regression": 0.02, "improved": 0.005},
                "severityHistoryPolicy": {"maxComparisons": 20},
                "citationFreshnessAging": {"threshold": 0.8},
            }
        )
    )
    for argv, expected_code in [
        (["baseline", "show"], 0),
        (["baseline", "list"], 0),
        (["gate", "--policy", str(policy), "--no-record", "--no-report"], 10),
    ]:
        code, out, err = cli(argv, capsys)
        assert code == expected_code, err
        assert "x\\x1b]8;;http://evil.example" in out and "\x1b" not in out + err, argv


@pytest.mark.parametrize(
    "key", ["../outside", "../outside-0123456789abcdef", "sub/x-0123456789abcdef", "/abs-0123456789abcdef"]
)
def test_show_refuses_a_key_that_is_not_a_baseline_key(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    # a JSON baseline just outside baselines/ (and one in a sub-directory): a key must never reach it
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "m1")
    assert cli(["baseline", "record", "--json"], capsys)[0] == 0
    recorded = next((tiny / "baselines").glob("*.json"))
    for copy in (
        tiny / "outside.json",
        tiny / "outside-0123456789abcdef.json",
        tiny / "baselines" / "sub" / "x-0123456789abcdef.json",
    ):
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(recorded.read_bytes())
    code, out, err = cli(["baseline", "show", "--key", key], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"baseline key {key!r} is not a baseline key" in err and "Traceback" not in err


@pytest.mark.parametrize("directory", ["golden/baselines", "golden", "link/baselines"])
def test_a_baselines_directory_inside_the_store_is_refused(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, directory: str
) -> None:
    """params `baseline.dir: golden/baselines`: `baseline record` wrote a JSON into the golden store, which every
    later dump, fmt and verify trips over. Refused (exit 2) by the check every other output path goes through."""
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "m1")
    (tiny / "link").symlink_to("golden")
    (tiny / "params.yaml").write_text(f"baseline:\n  dir: {directory}\n")
    before = sorted((p, p.read_bytes()) for p in (tiny / "golden").rglob("*") if p.is_file())
    expected = (
        f"error: {directory}: inside the golden store {tiny / 'golden'}; goldkeeper does not write its outputs "
        "into the store (name a path outside it)\n"
    )
    policy = tiny / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "floors": {},
                "diffSeverityPolicy": {"watch": 0.005, "regression": 0.02, "improved": 0.005},
                "severityHistoryPolicy": {"maxComparisons": 20},
                "citationFreshnessAging": {"threshold": 0.8},
            }
        )
    )
    gate = ["gate", "--policy", str(policy), "--no-record", "--no-report"]
    for argv in (["baseline", "record"], ["baseline", "show"], gate):
        assert cli(argv, capsys) == (2, "", expected), argv
    assert sorted((p, p.read_bytes()) for p in (tiny / "golden").rglob("*") if p.is_file()) == before
    (tiny / "params.yaml").write_text("baseline:\n  dir: elsewhere/baselines\n")
    assert cli(["baseline", "record"], capsys)[0] == 0 and len(list((tiny / "elsewhere" / "baselines").iterdir())) == 1
