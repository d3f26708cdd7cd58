"""Issue 11 item 11: `serve` times out idle connections, logs one line per dropped connection (no
stdlib traceback) and answers only loopback Host names (DNS rebinding). Real sockets against real
servers on 127.0.0.1, stopped in teardown."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import ctrl_c_reaches, run_cli
from goldkeeper.quality.serve import HOST, IDLE_TIMEOUT, MAX_CONNECTIONS, DashboardServer
from test_quality_report import scenario


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DashboardServer]:
    server = DashboardServer(tmp_path / "artifacts" / "evals", port=0, idle_timeout=0.5).start()
    try:
        yield server
    finally:
        server.stop()


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw request bytes; (status, body) of the answer."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def get(port: int, host: str | None, method: str = "GET") -> tuple[int, bytes]:
    header = f"Host: {host}\r\n" if host is not None else ""
    return raw(port, f"{method} /api/ai-evals/summary HTTP/1.1\r\n{header}Connection: close\r\n\r\n".encode())


def test_loopback_host_names_with_the_port_are_served(server: DashboardServer) -> None:
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LocalHost:{port}"):
        status, body = get(port, host)
        assert status == 200 and json.loads(body)["status"] == "empty", host


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",  # DNS rebinding: the attacker's name resolving to 127.0.0.1
        "evil.example",
        "127.0.0.1",  # no port (the server is not on 80)
        "localhost:1",  # another port
        "127.0.0.1:{port}.evil.example",
        "localhost.:{port}",
        "",
        None,  # no Host header at all
    ],
)
def test_other_host_headers_are_421(server: DashboardServer, host: str | None) -> None:
    status, body = get(server.port, None if host is None else host.format(port=server.port))
    assert status == 421 and "loopback" in json.loads(body)["error"]


def test_host_is_checked_before_the_method_and_twice_named_hosts_are_refused(server: DashboardServer) -> None:
    assert get(server.port, "evil.example", method="POST")[0] == 421
    port = server.port
    twice = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    assert raw(port, twice.encode())[0] == 421


def _handler_threads() -> int:
    return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name)


def test_idle_connections_are_closed_and_their_threads_end(server: DashboardServer) -> None:
    assert IDLE_TIMEOUT == 10
    sockets = [socket.create_connection((HOST, server.port), timeout=10) for _ in range(40)]
    try:
        deadline = time.monotonic() + 5
        while _handler_threads() < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _handler_threads() >= 40
        started = time.monotonic()
        assert all(s.recv(1) == b"" for s in sockets)  # the server closed every idle connection
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 5
        while _handler_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _handler_threads() == 0
    finally:
        for s in sockets:
            s.close()


def test_connections_past_the_limit_are_closed_at_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert MAX_CONNECTIONS == 64
    server = DashboardServer(tmp_path, port=0, idle_timeout=30, max_connections=5).start()
    sockets = []
    try:
        with caplog.at_level(logging.WARNING, logger="goldkeeper.serve"):
            sockets = [socket.create_connection((HOST, server.port), timeout=10) for _ in range(8)]
            started = time.monotonic()
            closed = sum(s.recv(1) == b"" for s in sockets[5:])  # the three past the limit: closed at once
            assert closed == 3 and time.monotonic() - started < 5
        assert _handler_threads() == 5
        assert sum("too many connections" in r.getMessage() for r in caplog.records) == 3
        for s in sockets[:5]:
            s.close()
        deadline = time.monotonic() + 5
        while _handler_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert get(server.port, f"127.0.0.1:{server.port}")[0] == 200  # the slots came back
    finally:
        for s in sockets:
            s.close()
        server.stop()


def test_the_default_idle_timeout_is_on_every_connection(tmp_path: Path) -> None:
    server = DashboardServer(tmp_path, port=0)
    try:
        assert server.httpd.RequestHandlerClass.timeout == IDLE_TIMEOUT
    finally:
        server.httpd.server_close()


def _reset_mid_request(port: int) -> None:
    """Connect, send half a request line, then reset the connection (RST, not FIN)."""
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(b"GET / HT")
    time.sleep(0.3)  # the server is now blocked reading the rest of the line
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_reset_is_one_log_line(server: DashboardServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="goldkeeper.serve"):
        _reset_mid_request(server.port)
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [r.getMessage().split(": ")[2:4] for r in caplog.records] == [["connection dropped", "ConnectionResetError"]]
    assert get(server.port, f"127.0.0.1:{server.port}")[0] == 200  # still serving


def test_cli_serve_logs_one_line_per_reset_and_no_traceback(tmp_path: Path) -> None:
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
                assert conn.getresponse().status == 200
                conn.close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        for _ in range(3):
            _reset_mid_request(port)
        assert get(port, "evil.example")[0] == 421
        time.sleep(0.5)
    finally:
        proc.send_signal(2)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    lines = err.splitlines()
    assert "Traceback" not in err and "Exception occurred" not in err, err
    assert sum("connection dropped: ConnectionResetError" in line for line in lines) == 3, err
    assert sum("foreign Host header" in line for line in lines) == 1, err
    assert len(lines) == 4, err


@pytest.mark.parametrize("outside", ["../../secret.json", "{root}/secret.json", "runs/../../../secret.json", None])
def test_an_index_naming_a_run_outside_runs_is_refused_by_serve_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outside: str | None
) -> None:
    # trend-index.json is a file of the repository: its entries must not make the dashboard read (and show) a
    # JSON file elsewhere on the machine, nor crash it (a missing `file` was a KeyError, exit 1, no answer)
    trend = scenario(tmp_path)
    run = json.loads((trend.root / trend.index()["runs"][0]["file"]).read_text())
    run["identity"]["datasetId"] = "SECRET-OUTSIDE-THE-TREND"
    (tmp_path / "secret.json").write_text(json.dumps(run))
    index = json.loads(trend.index_path.read_text())
    index["runs"][0]["file"] = outside.format(root=tmp_path) if outside else None
    trend.index_path.write_text(json.dumps(index))
    server = DashboardServer(trend.root, port=0).start()
    try:
        status, body = get(server.port, f"{HOST}:{server.port}")
    finally:
        server.stop()
    assert status == 500 and b"SECRET" not in body
    assert "field runs[0].file" in json.loads(body)["error"] and "is not runs/<name>.json" in json.loads(body)["error"]
    code, out, err = run_cli(["report", "--dir", str(trend.root)], capsys)
    assert code == 5 and "SECRET" not in out + err and "field runs[0].file" in err


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"metrics": {"ndcg": "high"}}, "field metrics.ndcg: not a number"),
        # a hand-edited NaN (Python's json reads it, and Infinity): summary.json held null, the API answered NaN
        ({"metrics": {"ndcg": float("nan")}}, "field metrics.ndcg: not a number"),
        ({"gate": 5}, "gate missing or of the wrong type"),
        ({"timestamp": None}, "timestamp missing or of the wrong type"),
        ({"gate": {"status": "pass"}}, "field gate: reviewPriority missing or of the wrong type"),
    ],
)
def test_a_stored_run_of_another_shape_is_a_one_line_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], named: str
) -> None:
    # a run file of the repository without what the report reads was a KeyError (exit 1; serve: no answer)
    trend = scenario(tmp_path)
    path = trend.root / trend.index()["runs"][-1]["file"]
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    server = DashboardServer(trend.root, port=0).start()
    try:
        status, body = get(server.port, f"{HOST}:{server.port}")
    finally:
        server.stop()
    assert status == 500 and named in json.loads(body)["error"]
    code, _, err = run_cli(["report", "--dir", str(trend.root)], capsys)
    assert code == 5 and f"{path}: eval run: " in err and named in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("method", ["PROPFIND", "BREW", "MKCOL"])
def test_a_method_the_stdlib_does_not_know_is_405_json_too(server: DashboardServer, method: str) -> None:
    status, body = get(server.port, f"127.0.0.1:{server.port}", method)
    assert status == 405 and "read-only" in json.loads(body)["error"]


@pytest.mark.parametrize(
    ("request_line", "status"),
    [(b"GET / HTTP/9.9", 505), (b"GET / HTTP/x", 400), (b"GET", 400)],
)
def test_the_stdlibs_own_refusals_are_json(server: DashboardServer, request_line: bytes, status: int) -> None:
    answer = raw(server.port, request_line + f"\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    assert answer[0] == status and isinstance(json.loads(answer[1])["error"], str)
