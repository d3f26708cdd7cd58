"""The ``openai`` provider against misbehaving endpoints: a real HTTP server on 127.0.0.1 plays each fault.

``tests/embed_support.py`` serves real vectors; here each test scripts the raw answers (status, headers,
body bytes) a broken or hostile server sends, and checks that no bad vector gets through, that the key
never shows, and that retries are visible.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import goldkeeper.embed.openai_backend as openai_backend
from embed_command_support import write_program
from embed_support import LocalEndpoint, send_json
from golden_support import fingerprint, make_records
from goldkeeper.config import EmbeddingParams
from goldkeeper.embed import load_embedder
from goldkeeper.embed.file_cache import FileEmbeddingCache
from goldkeeper.embed.fill import text_sha256
from goldkeeper.embed.openai_backend import OpenAIEmbedder
from goldkeeper.errors import ConfigError
from goldkeeper.store import write_store

GOLDKEEPER = os.path.join(os.path.dirname(sys.executable), "goldkeeper")
KEY = "sk-Fault/Test+Key-0123456789"
DIM = 4

#: one request's answer: the handler writes status, headers and body itself.
Answer = Callable[[BaseHTTPRequestHandler, list[str]], None]


def good(handler: BaseHTTPRequestHandler, texts: list[str]) -> None:
    send_json(handler, 200, {"data": [{"index": i, "embedding": [i + 1.0, 1.0, 0.0, 0.0]} for i in range(len(texts))]})


class ScriptedEndpoint(LocalEndpoint):
    """Answers request n with ``script[n]`` (``good`` once the script is spent)."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                texts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["input"]
                endpoint.requests += 1
                answer = endpoint.script.pop(0) if endpoint.script else good
                try:
                    answer(self, texts)
                except OSError:  # the client gave up (a timeout)
                    pass

        self.serve(Handler)


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    server = ScriptedEndpoint()
    try:
        yield server
    finally:
        server.stop()


def _embedder(endpoint: ScriptedEndpoint, **overrides: object) -> OpenAIEmbedder:
    values: dict[str, object] = {
        "provider": "openai",
        "base_url": endpoint.base_url,
        "dimensions": DIM,
        "api_key_env": "K",
        "max_retries": 1,
        "retry_backoff_seconds": 0.01,
        "max_concurrency": 1,
        **overrides,
    }
    return OpenAIEmbedder(EmbeddingParams.model_validate(values), env={"K": KEY})


def _body(raw: str) -> Answer:
    return lambda handler, texts: send_json(handler, 200, raw.encode())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{"data":[{"index":0,"embedding":["1","0.5","0","0"]},{"index":1,"embedding":[1,1,1,1]}]}',
            "not lists of numbers",
        ),
        (
            '{"data":[{"index":0,"embedding":[true,false,false,false]},{"index":1,"embedding":[1,1,1,1]}]}',
            "not lists of numbers",
        ),
        (
            '{"data":[{"index":0,"embedding":[0,0,0,0]},{"index":1,"embedding":[1,1,1,1]}]}',
            "an all-zero vector for text 0",
        ),
        (
            '{"data":[{"index":0,"embedding":[1,1,1,1]},{"index":1,"embedding":[0,0,0,0]}]}',
            "an all-zero vector for text 1",
        ),
        (
            '{"data":[{"index":0,"embedding":[1,0,0,0]},{"index":0,"embedding":[0,1,0,0]}]}',
            r"data indexes 0, 0 \(expected 0-1, each once\)",
        ),
        ('{"data":[{"index":"1","embedding":[1,0,0,0]},{"index":"0","embedding":[0,1,0,0]}]}', "data indexes '1', '0'"),
    ],
)
def test_vectors_that_are_not_numbers_zero_or_misindexed_are_refused(
    endpoint: ScriptedEndpoint, raw: str, message: str
) -> None:
    endpoint.script = [_body(raw)]
    with pytest.raises(ConfigError, match=r"\(texts 0-1\) .*" + message):
        _embedder(endpoint).embed_documents(["a", "b"])
    assert endpoint.requests == 1  # a wrong answer is not retried


def test_huge_and_tiny_finite_components_still_give_unit_vectors(endpoint: ScriptedEndpoint) -> None:
    # float32 overflows squaring 1e30 and underflows squaring 1e-30: the norm must not be inf or 0
    endpoint.script = [
        _body('{"data":[{"index":0,"embedding":[1e30,1e30,0,0]},{"index":1,"embedding":[1e-30,0,1e-30,0]}]}')
    ]
    vectors = _embedder(endpoint).embed_documents(["a", "b"])
    np.testing.assert_allclose(vectors, [[0.70710677, 0.70710677, 0, 0], [0.70710677, 0, 0.70710677, 0]], rtol=1e-6)


def test_each_retry_is_one_warning_line_naming_the_reason_and_the_wait(
    endpoint: ScriptedEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.script = [
        lambda h, t: send_json(h, 503, {"error": "busy"}, {"Retry-After": "1"}),
        lambda h, t: send_json(h, 429, {"error": "slow down"}),
    ]
    with caplog.at_level(logging.WARNING, logger="goldkeeper"):
        vectors = _embedder(endpoint, max_retries=3).embed_documents(["a", "b"])
    assert vectors.shape == (2, DIM)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("goldkeeper")]
    url = f"{endpoint.base_url}/embeddings"
    assert lines == [
        f"embedding endpoint {url}: texts 0-1: HTTP 503, retry 1 of 3 in 1 s",
        f"embedding endpoint {url}: texts 0-1: HTTP 429, retry 2 of 3 in 0.02 s",
    ]


def test_a_server_trickling_its_answer_is_cut_at_timeout_seconds(endpoint: ScriptedEndpoint) -> None:
    def trickle(handler: BaseHTTPRequestHandler, texts: list[str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(20):  # a byte every 0.2 s: each read is quick, the whole answer takes 4 s
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)

    endpoint.script = [trickle]
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"failed on texts 0-1 after 1 attempt: timed out after 1 s$"):
        _embedder(endpoint, timeout_seconds=1, max_retries=0).embed_documents(["a", "b"])
    assert time.monotonic() - start < 3


def test_a_server_trickling_its_status_line_and_headers_is_cut_at_timeout_seconds(endpoint: ScriptedEndpoint) -> None:
    def trickle_head(handler: BaseHTTPRequestHandler, texts: list[str]) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":  # a byte every 0.5 s: 25 s in all
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.5)

    endpoint.script = [trickle_head, trickle_head]
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"failed on texts 0-1 after 2 attempts: timed out after 0.6 s$"):
        _embedder(endpoint, timeout_seconds=0.6, max_retries=1).embed_documents(["a", "b"])
    assert time.monotonic() - start < 2.5
    assert endpoint.requests == 2


def test_an_answer_over_the_body_limit_fails_the_batch_at_once(
    endpoint: ScriptedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_backend, "MAX_BODY_BYTES", 2**20)  # 256 MiB in earnest; 1 MiB keeps the test quick
    endpoint.script = [lambda h, t: send_json(h, 200, b" " * (2 * 2**20) + b'{"data": []}')]
    with pytest.raises(ConfigError, match=r"answered texts 0-0 with more than 1 MiB$"):
        _embedder(endpoint, max_retries=3).embed_documents(["a"])
    assert endpoint.requests == 1


def test_a_redirect_is_not_followed_and_says_so(endpoint: ScriptedEndpoint) -> None:
    to_elsewhere = {"Location": "http://127.0.0.2:9/v1/embeddings"}
    endpoint.script = [lambda h, t: send_json(h, 307, b"", to_elsewhere)]
    with pytest.raises(ConfigError) as failure:
        _embedder(endpoint).embed_documents(["a"])
    assert str(failure.value) == (
        f"embedding endpoint {endpoint.base_url}/embeddings refused texts 0-0: HTTP 307 redirect "
        "(not followed, the key would go with it: set embedding.base_url to where it points)"
    )
    assert endpoint.requests == 1


@pytest.mark.parametrize(
    "echo",
    [KEY.lower(), KEY.upper(), json.dumps(KEY)[1:-1].replace("/", "\\/"), KEY.replace("-", "\\u002d")],
    ids=["lower", "upper", "slash-escaped", "unicode-escaped"],
)
def test_a_key_echoed_in_another_case_or_json_escaped_is_masked(endpoint: ScriptedEndpoint, echo: str) -> None:
    endpoint.script = [lambda h, t: send_json(h, 401, f'{{"error": "invalid key {echo}"}}'.encode())]
    with pytest.raises(ConfigError) as failure:
        _embedder(endpoint).embed_documents(["a"])
    assert 'HTTP 401: {"error": "invalid key ***"}' in str(failure.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [('["1", "0", "0", "0"]', "not lists of numbers"), ("[0, 0, 0, 0]", "all-zero vector for text 0")],
)
def test_a_command_printing_strings_or_zeros_is_refused(tmp_path: Path, line: str, message: str) -> None:
    provider = write_program(tmp_path, dim=DIM)
    (tmp_path / "embed.py").write_text(f"import sys\nsys.stdin.read()\nprint({line!r})\n")
    embedder = load_embedder(EmbeddingParams.model_validate({"provider": provider, "dimensions": DIM}), root=tmp_path)
    with pytest.raises(ConfigError, match=r"\(texts 0-0\) returned .*" + message):
        embedder.embed_documents(["a"])


@pytest.mark.parametrize("bad", ["\u201csk-Pasted-Key\u201d", "sk-Pasted\nKey", "sk-Pasted\x00Key"])
def test_a_key_no_http_header_can_carry_is_a_config_error_before_any_request(
    endpoint: ScriptedEndpoint, bad: str
) -> None:
    # was: a non-ASCII key (quotes pasted with it) crashed with UnicodeEncodeError (exit 1); a line break
    # was retried max_retries times as "connection failed (LocalProtocolError)"
    values = {"provider": "openai", "base_url": endpoint.base_url, "dimensions": DIM, "api_key_env": "K"}
    embedder = OpenAIEmbedder(EmbeddingParams.model_validate(values), env={"K": bad})
    with pytest.raises(ConfigError) as failure:
        embedder.embed_documents(["a"])
    assert str(failure.value).startswith("embedding.api_key_env: the value of K holds a character")
    assert "Pasted" not in str(failure.value) and endpoint.requests == 0


def _run_on_a_terminal(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """``argv`` with stdin, stdout and stderr on a pseudo-terminal (so the rich progress bar is drawn)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out += data
    os.close(master)
    return proc.wait(timeout=300), out.decode("utf-8", "replace")


def test_a_retry_warning_is_a_line_of_its_own_above_the_progress_bar(
    endpoint: ScriptedEndpoint, tmp_path: Path, database_url: str
) -> None:
    analyses, queries = make_records(3)
    write_store(tmp_path / "golden", "t", analyses, queries, {"analyses": 2, "queries": 2})
    (tmp_path / "params.yaml").write_text(
        f"embedding:\n  provider: openai\n  base_url: {endpoint.base_url}\n  dimensions: {DIM}\n"
        "  retry_backoff_seconds: 0.3\n"
    )
    endpoint.script = [lambda h, t: send_json(h, 503, {"error": "busy"})]
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url, "TERM": "xterm", "COLUMNS": "200"}
    code, screen = _run_on_a_terminal([GOLDKEEPER, "restore"], tmp_path, env)
    assert code == 0, screen
    warning = f"warning: embedding endpoint {endpoint.base_url}/embeddings: texts 0-8: HTTP 503, retry 1 of 5 in 0.3 s"
    assert "embedding chunks" in screen  # the bar was drawn
    # was: written after the bar on its line ("... 0/9 -:--:--warning: ..."), left there by the next redraw
    assert re.search(r"(^|\n|\x1b\[2K)" + re.escape(warning) + r"\r?\n", screen), screen


def test_a_restore_meeting_a_zero_vector_changes_nothing_caches_no_bad_vector_and_a_rerun_resumes(
    endpoint: ScriptedEndpoint, tmp_path: Path, database_url: str
) -> None:
    analyses, queries = make_records(3)  # 9 chunks: requests of 4, 4 and 1 texts
    write_store(tmp_path / "golden", "t", analyses, queries, {"analyses": 2, "queries": 2})
    (tmp_path / "params.yaml").write_text(
        f"embedding:\n  provider: openai\n  base_url: {endpoint.base_url}\n  dimensions: {DIM}\n"
        "  batch_size: 4\n  max_concurrency: 1\n  cache: file\n"
    )

    def one_zero(handler: BaseHTTPRequestHandler, texts: list[str]) -> None:
        data = [{"index": i, "embedding": [0.0] * DIM if i == 2 else [1.0, 2.0, 3.0, 4.0]} for i in range(len(texts))]
        send_json(handler, 200, {"data": data})

    endpoint.script = [good, one_zero]
    before = fingerprint(database_url)
    env = {**os.environ, "GOLDKEEPER_DATABASE_URL": database_url}
    restore = [GOLDKEEPER, "restore"]
    failed = subprocess.run(restore, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert failed.returncode == 3
    # the range counts from the first text of the round trip (batch_size x max_concurrency chunks)
    assert f"{endpoint.base_url}/embeddings (texts 0-3) returned an all-zero vector for text 2" in failed.stderr
    assert fingerprint(database_url) == before  # one transaction: nothing restored
    cache = FileEmbeddingCache(tmp_path / ".goldkeeper" / "embedding-cache")
    texts = [chunk.content for analysis in analyses for chunk in analysis.chunks]
    kept = cache.lookup(f"openai:sentence-transformers/all-MiniLM-L6-v2:{DIM}", [text_sha256(t) for t in texts])
    assert len(kept) == 4 and all(np.linalg.norm(v) > 0.99 for v in kept.values())  # the first request only
    ok = subprocess.run(restore, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert ok.returncode == 0, ok.stderr
    assert endpoint.requests == 4  # the re-run asked for the 5 texts not kept: one request of 4, one of 1


@pytest.mark.parametrize(
    "url",
    [
        "localhost:8000/v1",
        "127.0.0.1:8000/v1",
        "ftp://127.0.0.1/v1",
        "http:///v1",
        "http://[bad/v1",
        "http://h:99999/v1",
    ],
)
def test_a_base_url_that_is_no_http_url_is_refused_when_params_are_read(url: str) -> None:
    # was: retried max_retries times with backoff (31 s by default) as "connection failed
    # (UnsupportedProtocol)", or a crash (ValueError: Invalid IPv6 URL, exit 1)
    with pytest.raises(ValidationError, match=r"base_url\n.*should be an http:// or https:// URL with a host"):
        EmbeddingParams.model_validate({"provider": "openai", "base_url": url, "dimensions": DIM})


@pytest.mark.parametrize("header", ["api key", "X-Key:", "", "Authorization\n", "\u00e9"])
def test_an_api_key_header_that_is_no_header_name_is_refused_when_params_are_read(header: str) -> None:
    # was: a space, a colon or an empty name failed every attempt as "connection failed (LocalProtocolError)"
    # after the retries; a non-ASCII name crashed with UnicodeEncodeError (exit 1)
    with pytest.raises(ValidationError, match=r"api_key_header\n.*should be an HTTP header name"):
        EmbeddingParams.model_validate(
            {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "dimensions": DIM, "api_key_header": header}
        )


def test_a_client_that_cannot_be_built_leaves_no_thread_running(
    endpoint: ScriptedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # was: each attempt started the request thread's event loop, failed to build the client on it (a proxy
    # from the environment httpx refuses) and left that loop running, one thread more per batch, for ever
    monkeypatch.setenv("ALL_PROXY", "ftp://me:proxy-secret@proxy.invalid:21")
    embedder = _embedder(endpoint, max_concurrency=2)

    def http_threads() -> int:
        return sum(thread.name == "goldkeeper-http" for thread in threading.enumerate())

    before = http_threads()
    for _ in range(3):
        # a params-like error naming the variable (exit 3), never its value: it was `internal error: ValueError`
        with pytest.raises(ConfigError, match=r"the proxy in ALL_PROXY cannot be used \(its scheme") as caught:
            embedder.embed_documents(["a", "b"])
        assert "proxy-secret" not in str(caught.value) and caught.value.exit_code == 3
    embedder.close()
    assert http_threads() == before and endpoint.requests == 0
