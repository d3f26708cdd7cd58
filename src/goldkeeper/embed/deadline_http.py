"""HTTP POSTs that end at a deadline, whatever the server does: what the ``openai`` provider sends with.

httpx's sync timeouts bound each socket operation, not a request: a server sending one byte of its
status line or headers every half second never trips the read timeout, and a request could last for
ever. No sync API cancels a read under way, so the requests run on an :class:`httpx.AsyncClient` on an
event loop of their own (one daemon thread, started at the first request): the calling thread waits
for the answer, and at the deadline the exchange is cancelled, which closes its connection, headers
or body half-read. Keep-alive, proxies from the environment and gzip work as with the sync client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


class BodyTooLarge(Exception):
    """The answer's body went over the limit the caller gave (raised as soon as it does)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes


class DeadlineClient:
    """``post_json`` with a deadline over the whole exchange; ``close()`` ends the loop and its connections."""

    def __init__(self, make_client: Callable[[], httpx.AsyncClient]) -> None:
        self._make_client = make_client
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None

    def post_json(self, url: str, payload: Any, *, timeout: float, max_body: int) -> Answer:
        """The answer (body decoded, e.g. gzip); :class:`httpx.TimeoutException` after ``timeout`` seconds,
        another :class:`httpx.TransportError` on a lost connection, :class:`BodyTooLarge` past ``max_body``."""
        loop = self._started()  # before the coroutine exists: a client that cannot be built leaves none unawaited
        return asyncio.run_coroutine_threadsafe(self._post(url, payload, timeout, max_body), loop).result()

    def close(self) -> None:
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
        if loop is None or thread is None or client is None:
            return
        asyncio.run_coroutine_threadsafe(client.aclose(), loop).result()
        _stopped(loop, thread)

    def _started(self) -> asyncio.AbstractEventLoop:
        """The loop the requests run on, started with its client at the first call. A client that cannot be
        built (a proxy from the environment httpx refuses) raises here and stops its loop: nothing is left
        running, and the next call tries again."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="goldkeeper-http", daemon=True)
                thread.start()
                try:
                    # the client is built on its loop: its connection pool belongs to that loop
                    self._client = asyncio.run_coroutine_threadsafe(_built(self._make_client), loop).result()
                except BaseException:
                    _stopped(loop, thread)
                    raise
                self._loop, self._thread = loop, thread
            return self._loop

    async def _post(self, url: str, payload: Any, timeout: float, max_body: int) -> Answer:
        assert self._client is not None  # set by _started before this runs
        try:
            async with asyncio.timeout(timeout):
                async with self._client.stream("POST", url, json=payload) as response:
                    body = await _body(response, max_body)
        except TimeoutError:  # the deadline cancelled the exchange: its connection is closed, not reused
            raise httpx.ReadTimeout(f"no whole answer within {timeout:g} s") from None
        return Answer(response.status_code, response.headers, body)


def _stopped(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Stop ``loop``, wait for its thread to end, and close it."""
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


async def _built(make_client: Callable[[], httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client()


async def _body(response: httpx.Response, max_body: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > max_body:
            raise BodyTooLarge(max_body)
        parts.append(part)
    return b"".join(parts)


__all__ = ["Answer", "BodyTooLarge", "DeadlineClient"]
