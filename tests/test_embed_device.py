"""``embedding.device: auto | cpu | cuda``: the execution provider of the fastembed backend (real model, real CLI).

The machines that run this suite have no GPU: ``cpu`` and ``auto`` must give the vectors goldkeeper
always gave, bit for bit, and ``cuda`` must stop with one line naming the fix. Where ONNX Runtime does
offer CUDA the tests assert the GPU side instead (``+cuda`` identity), so they never pass vacuously.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import psycopg
import pytest

from golden_support import make_records
from goldkeeper.config import EmbeddingParams
from goldkeeper.embed import VENDORED_MODEL_DIR, VENDORED_MODEL_NAME, load_embedder
from goldkeeper.embed.fastembed_backend import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    _session_device,
    execution_providers,
    file_sha256,
)
from goldkeeper.errors import ConfigError
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")
HAS_CUDA = CUDA_PROVIDER in onnxruntime.get_available_providers()
CPU_ID = f"{VENDORED_MODEL_NAME}@sha256:{file_sha256(VENDORED_MODEL_DIR / 'model.onnx')[:16]}"
TEXTS = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    "Computational complexity theory classifies problems by their inherent difficulty.",
    "Ünïcödé text with emoji 🚀 and CJK 漢字 is embedded like any other text.",
    "a short one",
    "",
]
QUERY = "Who gave their name to Normandy?"


def _reference() -> tuple[np.ndarray, np.ndarray]:
    """The vectors as goldkeeper computed them before ``device`` existed: fastembed on the CPU, one text per run."""
    from fastembed import TextEmbedding

    model = TextEmbedding(VENDORED_MODEL_NAME, specific_model_path=str(VENDORED_MODEL_DIR), cuda=False)
    docs = np.asarray(list(model.embed(TEXTS, batch_size=1)), dtype=np.float32)
    query = np.asarray(list(model.query_embed(QUERY)), dtype=np.float32)
    docs /= np.maximum(np.linalg.norm(docs, axis=1, keepdims=True), 1e-30)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    return docs.astype(np.float32), query[0].astype(np.float32)


def test_cpu_gives_todays_vectors_bit_for_bit_under_todays_identity() -> None:
    docs, query = _reference()
    embedder = load_embedder(EmbeddingParams(device="cpu"))
    assert embedder.device == "cpu"  # type: ignore[attr-defined]
    assert embedder.model_id == CPU_ID
    assert embedder.embed_documents(TEXTS).tobytes() == docs.tobytes()
    assert embedder.embed_query(QUERY).tobytes() == query.tobytes()


def test_auto_is_the_cpu_without_cuda_and_a_separate_identity_with_it() -> None:
    docs, query = _reference()
    embedder = load_embedder(EmbeddingParams())  # the default is auto
    assert EmbeddingParams().device == "auto"
    if HAS_CUDA:  # a GPU machine: the CUDA session, never under the CPU's identity
        assert (embedder.device, embedder.model_id) == ("cuda", f"{CPU_ID}+cuda")  # type: ignore[attr-defined]
        cosines = np.sum(embedder.embed_documents(TEXTS) * docs, axis=1)
        assert cosines.min() > 0.999, cosines
    else:
        assert (embedder.device, embedder.model_id) == ("cpu", CPU_ID)  # type: ignore[attr-defined]
        assert embedder.embed_documents(TEXTS).tobytes() == docs.tobytes()
        assert embedder.embed_query(QUERY).tobytes() == query.tobytes()


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", ["AzureExecutionProvider", CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
        ("cuda", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
    ],
)
def test_the_providers_each_device_asks_for(device: str, available: list[str], expected: list[str]) -> None:
    assert execution_providers(device, available) == expected  # type: ignore[arg-type]


def test_cuda_without_a_cuda_provider_names_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        execution_providers("cuda", ["AzureExecutionProvider", CPU_PROVIDER])
    assert info.value.exit_code == 3
    assert str(info.value) == (
        "embedding.device is cuda but ONNX Runtime offers no CUDA provider "
        "(it has AzureExecutionProvider, CPUExecutionProvider): "
        "pip install 'goldkeeper[gpu]', or set embedding.device: auto"
    )


def test_cuda_on_a_session_that_runs_on_the_cpu_is_refused_and_auto_accepts_it() -> None:
    cpu = load_embedder(EmbeddingParams(device="cpu"))
    model = cpu._model  # type: ignore[attr-defined]
    assert _session_device(model, "auto") == "cpu"
    with pytest.raises(
        ConfigError, match=r"^embedding.device is cuda but the CUDA provider did not start .*goldkeeper\[gpu\]"
    ):
        _session_device(model, "cuda")


def test_load_embedder_with_cuda_on_this_machine() -> None:
    if HAS_CUDA:
        embedder = load_embedder(EmbeddingParams(device="cuda"))
        assert (embedder.device, embedder.model_id) == ("cuda", f"{CPU_ID}+cuda")  # type: ignore[attr-defined]
    else:
        with pytest.raises(ConfigError, match=r"^embedding.device is cuda but ONNX Runtime offers no CUDA provider"):
            load_embedder(EmbeddingParams(device="cuda"))


def _goldkeeper(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GOLDKEEPER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_restore_with_cuda_and_no_gpu_is_one_line_exit_3_and_writes_nothing(tmp_path: Path, database_url: str) -> None:
    analyses, queries = make_records(2)
    write_store(tmp_path / "golden", "t", analyses, queries, {"analyses": 2, "queries": 2})
    (tmp_path / "params.yaml").write_text("embedding:\n  device: cuda\n")
    # no visible GPU: on a machine with one, the CUDA provider is listed but cannot start
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url, "CUDA_VISIBLE_DEVICES": ""}
    result = _goldkeeper(["restore"], tmp_path, env)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: embedding.device is cuda but "), result.stderr
    assert lines[0].endswith(": pip install 'goldkeeper[gpu]', or set embedding.device: auto")
    assert "Traceback" not in result.stderr + result.stdout
    with psycopg.connect(database_url) as conn:  # the model is loaded before anything is written
        assert conn.execute("SELECT to_regnamespace('golden')").fetchone() == (None,)


def test_an_unknown_device_is_exit_3_at_settings_load(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("embedding:\n  device: tpu\n")
    result = _goldkeeper(["verify"], tmp_path, dict(os.environ))
    assert result.returncode == 3
    assert result.stderr == "error: params: embedding.device: Input should be 'auto', 'cpu' or 'cuda'\n"


def test_the_gpu_benchmark_runs_here_and_reports_what_it_could_measure(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_gpu_embed.py"
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(script), "--texts", "6", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    devices = [row["device"] for row in report["rows"]]
    assert all(row["texts"] == 6 and row["seconds"] > 0 for row in report["rows"])
    if HAS_CUDA:
        assert devices == ["cpu", "cuda"] and report["deviation"]["vectors"] == 6
    else:
        assert devices == ["cpu"] and report["deviation"] is None
        assert "CUDA: not available on this machine (CPU row only): pip install 'goldkeeper[gpu]'." in result.stdout
        assert report["rows"][0]["model_id"] == CPU_ID


def test_device_with_another_provider_is_refused_not_ignored(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        "embedding:\n  provider: openai\n  base_url: http://127.0.0.1:9/v1\n  model: m\n  dimensions: 8\n  device: cuda\n"
    )
    result = _goldkeeper(["verify"], tmp_path, dict(os.environ))
    assert result.returncode == 3
    assert result.stderr == "error: params: embedding: device is only read by provider fastembed (provider is openai)\n"
