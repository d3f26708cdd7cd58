"""golden/ tracked by DVC on S3-compatible storage: push, lose the local copy and cache, pull, restore.

The S3 endpoint is a real moto server (PyPI ``moto[server]``) on loopback, started for the test on a
free port and stopped in teardown; DVC talks to it through its ``endpointurl`` (the dvc-s3 plugin).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import pytest

from goldkeeper.config import load_settings
from goldkeeper.dataset.dump import dump
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.store import open_store, write_store

BIN = Path(sys.executable).parent
BUCKET = "goldkeeper-golden"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1:<free port>, stopped after the test."""
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **CREDENTIALS},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {(tmp_path / 'moto.log').read_text()}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def small_dataset() -> tuple[list[Analysis], list[Query]]:
    analyses, queries = [], []
    for i in range(3):
        aid = uuid5(NAMESPACE_URL, f"https://handbook.acme-research.org/pumps/{i}")
        chunks = [
            Chunk(
                id=uuid5(aid, str(j)), content=f"Pump {i} maintenance step {j}: replace seal type {i}{j}", chunk_index=j
            )
            for j in range(2)
        ]
        analyses.append(
            Analysis(
                id=aid,
                url=f"https://handbook.acme-research.org/pumps/{i}",
                title=f"Pump {i}",
                created_at=datetime(2024, 5, 1, tzinfo=UTC),
                chunks=chunks,
            )
        )
        queries.append(
            Query(
                id=f"pump-{i}",
                text=f"Which seal does step 1 of pump {i} replace?",
                domain="maintenance",
                expected=Expected(chunks=[Relevance(id=chunks[1].id)]),
                expected_behavior=ExpectedBehavior(behavior="answer", must_not=["fabricate_citation"]),
            )
        )
    return analyses, queries


@pytest.mark.slow
def test_dvc_remote_on_s3_push_pull_restore(tmp_path: Path, s3_endpoint: str, database_url: str) -> None:
    import boto3

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GOLDKEEPER_HOME")},
        **CREDENTIALS,
        "GOLDKEEPER_DATABASE_URL": database_url,
        "DVC_NO_ANALYTICS": "1",
    }
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)

    repo = tmp_path / "repo"
    repo.mkdir()
    gk, dvc = str(BIN / "goldkeeper"), str(BIN / "dvc")
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([gk, "init", "--dvc-tracked-store"], repo, env)
    settings = load_settings(root=repo, env={})
    analyses, queries = small_dataset()
    write_store(repo / "golden", settings.dataset.name, analyses, queries, dict(settings.store.shards))
    version = open_store(repo / "golden").version
    run([dvc, "add", "golden"], repo, env)
    run([dvc, "remote", "add", "-d", "storage", f"s3://{BUCKET}/golden"], repo, env)
    run([dvc, "remote", "modify", "storage", "endpointurl", s3_endpoint], repo, env)

    run([dvc, "push"], repo, env)
    listed = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).list_objects_v2(Bucket=BUCKET)
    assert listed.get("KeyCount", 0) > 0, "nothing reached the S3 bucket"

    # lose everything local: the store and DVC's cache
    shutil.rmtree(repo / "golden")
    shutil.rmtree(repo / ".dvc" / "cache")
    run([dvc, "pull", "golden.dvc"], repo, env)  # the dataset only: the pipeline has not run here
    assert open_store(repo / "golden").version == version

    run([gk, "restore", "--replace"], repo, env)
    assert dump(database_url, settings, tmp_path / "back").version == version
