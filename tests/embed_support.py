"""An OpenAI-compatible embeddings endpoint on 127.0.0.1 for the provider tests.

It serves the vendored fastembed model's vectors (``POST /v1/embeddings``), checks
the bearer key when given one, and plays a script of faults, one per request:
``("429", retry_after)``, ``"500"``, ``"slow"`` (answers after ``slow_seconds``),
``"dims"`` (vectors one dimension short), ``"fail"`` (500 on every request from now on).
The data items are returned in reverse order (clients must sort by ``index``).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from goldkeeper.config import EmbeddingParams
from goldkeeper.embed import load_embedder


class LocalEndpoint:
    """An HTTP server on 127.0.0.1 (any free port) in a daemon thread, its handler's ``/v1`` as the base URL;
    ``stop()`` in teardown."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: bytes | Any, headers: dict[str, str] | None = None
) -> None:
    """One HTTP answer of a fake endpoint: ``body`` as JSON (bytes: sent as they are, e.g. a broken body)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(raw)


class FakeEndpoint(LocalEndpoint):
    def __init__(self, key: str | None = None, slow_seconds: float = 1.5, key_header: str = "Authorization") -> None:
        self.key = key
        self.key_header = key_header
        self.slow_seconds = slow_seconds
        self.script: list[Any] = []
        self.requests = 0
        self.texts = 0
        #: every text received, in arrival order (a test sees what the client sent)
        self.inputs: list[str] = []
        self.always_fail = False
        self.paths: list[str] = []
        self.lock = threading.Lock()
        self.model = load_embedder(EmbeddingParams())
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                endpoint.handle(self)

        self.serve(Handler)

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        try:
            send_json(handler, status, body, headers)
        except OSError:  # the client gave up (a timeout test)
            pass

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        with self.lock:
            self.requests += 1
            step = self.script.pop(0) if self.script else None
        self.paths.append(handler.path)
        if handler.path.split("?")[0] != "/v1/embeddings":
            return self._send(handler, 404, {"error": {"message": f"no route {handler.path}"}})
        wanted = f"Bearer {self.key}" if self.key_header == "Authorization" else self.key
        if self.key is not None and handler.headers.get(self.key_header) != wanted:
            sent = handler.headers.get(self.key_header, "")
            return self._send(handler, 401, {"error": {"message": f"Incorrect API key provided: {sent}"}})
        if self.always_fail or step == "500":
            return self._send(handler, 500, {"error": {"message": "internal error"}})
        if isinstance(step, tuple) and step[0] == "429":
            return self._send(handler, 429, {"error": {"message": "slow down"}}, {"Retry-After": step[1]})
        if step == "slow":
            time.sleep(self.slow_seconds)
        texts = body["input"]
        vectors = self.model.embed_documents(texts)
        with self.lock:
            self.texts += len(texts)
            self.inputs += texts
        cut = -1 if step == "dims" else None
        data = [{"object": "embedding", "index": i, "embedding": v[:cut].tolist()} for i, v in enumerate(vectors)]
        return self._send(handler, 200, {"object": "list", "model": body["model"], "data": data[::-1]})
