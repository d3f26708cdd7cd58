"""``goldkeeper serve``: the dashboard and its summary API, read-only, on 127.0.0.1 only.

Routes (GET and HEAD; any other method is 405)::

    /  /index.html           the dashboard (rendered from the trend on each request)
    /api/ai-evals/summary    summary.json (schemaVersion 1)
    /api/openapi             the OpenAPI 3.1 document of these routes

Nothing is written: each request reads artifacts/evals and renders in memory.

Hardening: a request whose ``Host`` is not a loopback name with the server's port
(``127.0.0.1:P``, ``localhost:P``, ``[::1]:P``) is answered 421, so a DNS-rebinding page
cannot read the API; a connection idle for :data:`IDLE_TIMEOUT` seconds is closed (its
thread ends); a client that resets its connection is one warning line on the
``goldkeeper.serve`` logger, never a stdlib traceback; at most :data:`MAX_CONNECTIONS`
connections (threads) are served at once, more are closed at once.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from goldkeeper import __version__
from goldkeeper.errors import GoldkeeperError, UsageError
from goldkeeper.quality.report import build_summary, render_html, summary_schema
from goldkeeper.quality.trend import TrendStore

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SUMMARY_PATH = "/api/ai-evals/summary"
OPENAPI_PATH = "/api/openapi"
#: seconds a connection may stay silent (before or between requests) before it is closed
IDLE_TIMEOUT = 10.0
#: connections served at once (one thread each); more are closed at once, with one log line each
MAX_CONNECTIONS = 64
#: the host names a request may name in its Host header (with the server's port)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

log = logging.getLogger("goldkeeper.serve")


def _components_ref(node: Any) -> Any:
    """The summary schema with its ``#/$defs/X`` references moved to ``#/components/schemas/X``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("$schema", "$id", "$defs"):
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = "#/components/schemas/" + value[len("#/$defs/") :]
            else:
                out[key] = _components_ref(value)
        return out
    if isinstance(node, list):
        return [_components_ref(v) for v in node]
    return node


def _components() -> dict[str, Any]:
    """The summary's JSON Schema as OpenAPI components, plus the error object."""
    schema = copy.deepcopy(summary_schema())
    components = {name: _components_ref(value) for name, value in schema.get("$defs", {}).items()}
    components["AiEvalSummaryResponse"] = _components_ref(schema)
    #: the name v1 had first, kept for consumers that reference it
    components["AiEvalSummary"] = {"$ref": "#/components/schemas/AiEvalSummaryResponse"}
    components["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
    return components


def _get(operation: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": operation, "summary": summary, "responses": responses}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `goldkeeper serve`."""
    error = _json("error", {"$ref": "#/components/schemas/Error"})
    host = _json("the Host header is not a loopback name with this port", {"$ref": "#/components/schemas/Error"})
    summary = _json(
        "the summary; status 'empty' when no run is recorded", {"$ref": "#/components/schemas/AiEvalSummaryResponse"}
    )
    dashboard = {"description": "dashboard", "content": {"text/html": {"schema": {"type": "string"}}}}
    openapi = _json("OpenAPI 3.1 document", {"type": "object", "required": ["openapi", "paths"]})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "goldkeeper AI eval dashboard",
            "version": __version__,
            "description": "Read-only API of `goldkeeper serve`: the eval summary (schemaVersion 1) and the dashboard. "
            "Migration: schemaVersion 1 is current; 2 is planned and rejected by v1 consumers (docs/quality.md).",
        },
        "servers": [{"url": "/"}],
        "paths": {
            SUMMARY_PATH: _get(
                "getAiEvalSummary",
                "The eval summary (summary.json), rendered from artifacts/evals",
                {"200": summary, "421": host, "500": error},
            ),
            OPENAPI_PATH: _get("getOpenApi", "This OpenAPI document", {"200": openapi, "421": host}),
            "/": _get("getDashboard", "The HTML dashboard", {"200": dashboard, "421": host, "500": error}),
        },
        "components": {"schemas": _components()},
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = f"goldkeeper/{__version__}"
    trend: TrendStore  # set on the subclass made by make_server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # no access log; the CLI prints the URL once

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Timeouts and malformed requests: one line (timeouts of idle keep-alive connections are routine)."""
        level = logging.INFO if "timed out" in format else logging.WARNING
        log.log(level, "serve: %s: %s", self.address_string(), " ".join((format % args).split()))

    def _host_allowed(self) -> bool:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1:
            return False
        port = self.server.server_address[1]  # type: ignore[index]  # an AF_INET (host, port) pair
        allowed = {f"{name}:{port}" for name in LOOPBACK_NAMES} | (set(LOOPBACK_NAMES) if port == 80 else set())
        return hosts[0].strip().lower() in allowed

    def parse_request(self) -> bool:
        """The stdlib's parsing, then the Host check (every method): others get 421 (DNS rebinding)."""
        if not super().parse_request():
            return False
        if self._host_allowed():
            if hasattr(self, f"do_{self.command}"):
                return True
            self.close_connection = True  # a method the stdlib does not know (PROPFIND): 405 too, not its 501
            self._not_allowed()
            return False
        self.close_connection = True
        log.warning("serve: %s: refused a request for a foreign Host header", self.address_string())
        self._json(HTTPStatus.MISDIRECTED_REQUEST, {"error": "this server answers only loopback Host names"})
        return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a bad request line or HTTP version, headers too long) as JSON, as every
        other answer, instead of its HTML page."""
        self.close_connection = True
        # a request line it could not read leaves HTTP/0.9, which would send the body without a status line
        self.request_version = self.protocol_version if self.request_version == "HTTP/0.9" else self.request_version
        self._json(code, {"error": message or HTTPStatus(code).phrase})

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
        )
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data, sort_keys=True).encode("utf-8"), "application/json", extra)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = urlsplit(self.path).path
        try:
            if path in ("/", "/index.html"):
                self._send(
                    HTTPStatus.OK, render_html(build_summary(self.trend)).encode("utf-8"), "text/html; charset=utf-8"
                )
            elif path == SUMMARY_PATH:
                self._json(HTTPStatus.OK, build_summary(self.trend))
            elif path == OPENAPI_PATH:
                self._json(HTTPStatus.OK, openapi_document())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})
        except GoldkeeperError as exc:
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})

    do_HEAD = do_GET  # noqa: N815

    def _not_allowed(self) -> None:
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "read-only: only GET and HEAD"}, {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the stdlib's 5 stalls a browser's burst of connections
    slots: threading.BoundedSemaphore  # one per connection served at once (set by DashboardServer)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection while a slot is free; past :data:`MAX_CONNECTIONS`, closed at once."""
        if not self.slots.acquire(blocking=False):
            log.warning("serve: %s: refused: too many connections open at once", client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line per failed connection (a client reset, a broken pipe) instead of the stdlib's traceback."""
        exc = sys.exc_info()[1]
        host, port = client_address[:2] if isinstance(client_address, tuple) else (client_address, "")
        log.warning("serve: %s:%s: connection dropped: %s: %s", host, port, type(exc).__name__, exc)


class DashboardServer:
    """A ThreadingHTTPServer bound to 127.0.0.1 serving one artifacts/evals directory."""

    def __init__(
        self,
        artifacts: Path,
        port: int = DEFAULT_PORT,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        handler = type("Handler", (_Handler,), {"trend": TrendStore(artifacts), "timeout": idle_timeout})
        try:
            self.httpd = _Server((HOST, port), handler)
        except OSError as exc:
            raise UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from exc
        self.httpd.slots = threading.BoundedSemaphore(max_connections)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        finally:
            self.httpd.server_close()

    def start(self) -> DashboardServer:
        """Serve in a background thread (for tests and embedding); stop with :meth:`stop`."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="goldkeeper-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
