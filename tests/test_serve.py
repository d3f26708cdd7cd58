"""`goldkeeper serve` over HTTP on loopback: the dashboard, the summary API, the OpenAPI document
(checked by schemathesis's generated cases), read-only methods. Every server is stopped in teardown."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup

from cli_support import ctrl_c_reaches
from goldkeeper.quality.baseline import BaselineStore, load_metrics
from goldkeeper.quality.gate import run_gate
from goldkeeper.quality.report import validate_summary
from goldkeeper.quality.serve import HOST, DashboardServer, openapi_document
from goldkeeper.quality.trend import TrendStore
from quality_support import grounded, identity, policy, write_metrics


def gated_runs(root: Path) -> TrendStore:
    trend = TrendStore(root / "artifacts" / "evals")
    baselines = BaselineStore(root / "baselines")
    ident = identity(prompt="v1 <script>x</script>")
    for i, values in enumerate([grounded(), grounded(relevance=0.7602)]):
        paths = write_metrics(root, grounded=values)
        if i == 0:
            baselines.record(ident, load_metrics(paths))
        run_gate(
            metrics_paths=paths,
            identity=ident,
            policy=policy(),
            baselines=baselines,
            trend=trend,
            retention_max_runs=200,
            now=datetime(2026, 11, 3, tzinfo=UTC) + timedelta(hours=i),
        )
    return trend


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    trend = gated_runs(tmp_path_factory.mktemp("serve"))
    server = DashboardServer(trend.root, port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[DashboardServer]:
    server = DashboardServer(tmp_path / "artifacts" / "evals", port=0).start()
    try:
        yield server
    finally:
        server.stop()


def request(server: DashboardServer, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_binds_loopback_only(live_server: DashboardServer) -> None:
    assert live_server.httpd.server_address[0] == "127.0.0.1"
    assert live_server.url == f"http://127.0.0.1:{live_server.port}/"


def test_summary_api(live_server: DashboardServer) -> None:
    status, headers, body = request(live_server, "GET", "/api/ai-evals/summary")
    assert status == 200 and headers["content-type"] == "application/json"
    summary = validate_summary(json.loads(body))
    assert summary["runCount"] == 2 and summary["severity"] == "watch" and summary["status"] == "pass"
    assert summary["latest"]["identity"]["promptVersion"] == "v1 <script>x</script>"


def test_dashboard_page(live_server: DashboardServer) -> None:
    status, headers, body = request(live_server, "GET", "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert 'id="metrics"' in page and "v1 &lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "default-src 'none'" in headers["content-security-policy"]
    assert request(live_server, "HEAD", "/index.html")[2] == b""


def test_openapi_document(live_server: DashboardServer) -> None:
    status, _, body = request(live_server, "GET", "/api/openapi")
    doc = json.loads(body)
    assert status == 200 and doc == json.loads(json.dumps(openapi_document()))
    assert doc["openapi"].startswith("3.1") and "/api/ai-evals/summary" in doc["paths"]
    assert doc["components"]["schemas"]["AiEvalSummaryResponse"]["properties"]["schemaVersion"] == {"const": 1}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_read_only(live_server: DashboardServer, method: str) -> None:
    status, headers, body = request(live_server, method, "/api/ai-evals/summary")
    assert status == 405 and headers["allow"] == "GET, HEAD" and "read-only" in json.loads(body)["error"]


def test_unknown_path_is_404(live_server: DashboardServer) -> None:
    status, _, body = request(live_server, "GET", "/etc/passwd")
    assert status == 404 and json.loads(body)["error"] == "no such page: /etc/passwd"


def test_empty_state_over_http(empty_server: DashboardServer) -> None:
    status, _, body = request(empty_server, "GET", "/api/ai-evals/summary")
    assert status == 200 and validate_summary(json.loads(body))["status"] == "empty"
    status, _, body = request(empty_server, "GET", "/")
    assert status == 200 and 'id="empty-state"' in body.decode()


def test_port_in_use_is_a_usage_error(live_server: DashboardServer) -> None:
    from goldkeeper.errors import UsageError

    with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{live_server.port}"):
        DashboardServer(Path("."), port=live_server.port)


def test_cli_serve_process(tmp_path: Path) -> None:
    """`goldkeeper serve --port P` as a real process: serves, then stops on SIGINT as every command does on a
    Ctrl-C: exit 130 (it exited 0, as if it had ended by itself), one stop line, no traceback, the port free."""
    gated_runs(tmp_path)
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "goldkeeper"), "-C", str(tmp_path), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=2)
                conn.request("GET", "/api/ai-evals/summary")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert response.status == 200 and json.loads(body)["runCount"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert (proc.returncode, out.splitlines()[-1], err) == (130, "stopped", ""), err
    assert f"http://127.0.0.1:{port}/" in out
    with socket.socket() as again:  # no socket listens there any more (SO_REUSEADDR: its connections' TIME_WAIT)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((HOST, port))
        again.listen()


# -- schemathesis: generated cases against the OpenAPI document, validated against the live server --------
# (schemathesis's pytest plugin does not run under pytest 9, so its Python API drives hypothesis here)


def test_schemathesis_generated_cases_pass(live_server: DashboardServer) -> None:
    _, _, body = request(live_server, "GET", "/api/openapi")
    schema = schemathesis.openapi.from_dict(json.loads(body))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.path for op in operations) == ["/", "/api/ai-evals/summary", "/api/openapi"]
    calls: list[str] = []
    for operation in operations:

        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:  # noqa: ANN001 - a schemathesis Case
            response = case.call_and_validate(base_url=live_server.url.rstrip("/"))
            calls.append(f"{case.method} {case.path} {response.status_code}")

        check()
    assert {c.split(" ")[1] for c in calls} == {"/", "/api/ai-evals/summary", "/api/openapi"}
    assert all(c.endswith(" 200") for c in calls)


def test_schemathesis_catches_a_nonconforming_summary(
    live_server: DashboardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: a summary that breaks its schema is reported by schemathesis."""
    import goldkeeper.quality.serve as serve_module

    monkeypatch.setattr(serve_module, "build_summary", lambda trend: {"schemaVersion": 2})
    _, _, body = request(live_server, "GET", "/api/openapi")
    operation = schemathesis.openapi.from_dict(json.loads(body))["/api/ai-evals/summary"]["GET"]
    case = operation.Case()
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(base_url=live_server.url.rstrip("/"))
    assert "JsonSchemaError" in {type(f).__name__ for f in caught.value.exceptions}, caught.value.exceptions
