"""ASGI middlewares that bound every request before and around the app.

`Guard` (one per request, innermost to outermost concerns in order):
  - headers larger than max_header_bytes -> 431;
  - a missing or wrong API key on a protected path -> 401;
  - a body larger than max_upload_bytes (by Content-Length, or counted as it arrives) -> 413;
  - no response started within request_timeout -> 408 (the handler is cancelled, which cancels its
    queued job). A stream, once started, enforces the rest of the deadline itself.
`Measure` records every request's status and latency for /metrics.

Refusals first read (and drop) a bounded amount of the unread body: answering while the client is
still uploading and then closing makes the client see a connection reset instead of our 4xx.
"""

from __future__ import annotations

import hmac
import time

import anyio

from audiollm.serve.errors import APIError, send_error
from audiollm.serve.metrics import Metrics
from audiollm.serve.settings import ServerSettings

DEADLINE_KEY = "audiollm.deadline"  # scope key: monotonic time by which the request must be answered
_OPEN_PATHS = ("/health",)  # reachable without the API key (load balancers probe it)
_DRAIN_EXTRA = 16 * 2**20  # refuse-and-drain bodies up to the limit plus this much; beyond, just close
_DRAIN_SECONDS = 10.0


class _Body:
    """Wraps `receive`: counts body bytes, refuses past the limit, can drain what is left."""

    def __init__(self, receive, limit: int):
        self._receive = receive
        self.limit = limit
        self.size = 0
        self.done = False

    async def receive(self):
        message = await self._receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self.size > self.limit:
                await self.drain()
                raise APIError(413, f"the request body is over this server's limit of "
                                    f"{self.limit / 2**20:.1f} MiB (--max-upload-mb)", code="payload_too_large")
        elif message["type"] == "http.disconnect":
            self.done = True
        return message

    async def drain(self) -> None:
        """Read and drop the rest of the body (bounded in bytes and time)."""
        with anyio.move_on_after(_DRAIN_SECONDS):
            while not self.done and self.size <= self.limit + _DRAIN_EXTRA:
                message = await self._receive()
                self.size += len(message.get("body", b""))
                self.done = message["type"] != "http.request" or not message.get("more_body", False)


class Guard:
    """Header size, API key, body size and time-to-response bounds (see the module docstring)."""

    def __init__(self, app, settings: ServerSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = _Body(receive, self.settings.max_upload_bytes)
        error = self._refusal(scope)
        if error is not None:
            if not (error.status == 413 and _content_length(scope) > body.limit + _DRAIN_EXTRA):
                await body.drain()
            return await send_error(send, error)
        scope[DEADLINE_KEY] = time.monotonic() + self.settings.request_timeout
        await self._timed(scope, body, send)

    def _refusal(self, scope) -> APIError | None:
        headers = scope["headers"]
        size = sum(len(key) + len(value) for key, value in headers)
        if size > self.settings.max_header_bytes:
            return APIError(431, f"the request headers are {size} bytes, over this server's limit of "
                                 f"{self.settings.max_header_bytes}", code="headers_too_large")
        if self.settings.api_key and scope["path"] not in _OPEN_PATHS and not self._authorised(headers):
            return APIError(401, "missing or wrong API key: send `Authorization: Bearer <key>`",
                            code="invalid_api_key")
        length = _content_length(scope)
        if length > self.settings.max_upload_bytes:
            return APIError(413, f"the request body is {length / 2**20:.1f} MiB, over this server's limit of "
                                 f"{self.settings.max_upload_mb:g} MiB (--max-upload-mb)", code="payload_too_large")
        return None

    def _authorised(self, headers) -> bool:
        expected = f"Bearer {self.settings.api_key}".encode()
        given = next((value for key, value in headers if key == b"authorization"), b"")
        return hmac.compare_digest(given, expected)

    async def _timed(self, scope, body: _Body, send) -> None:
        """Run the app; if it has not started a response by the deadline, cancel it and answer 408."""
        started = anyio.Event()
        timed_out = False

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        async with anyio.create_task_group() as group:
            async def watch():
                nonlocal timed_out
                with anyio.move_on_after(self.settings.request_timeout):
                    await started.wait()
                    return
                timed_out = True
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self.app(scope, body.receive, tracked_send)
            group.cancel_scope.cancel()  # the app finished: stop the watcher
        if timed_out and not started.is_set():
            await body.drain()
            await send_error(send, APIError(
                408, f"the request took longer than this server's limit of {self.settings.request_timeout:g} s "
                     "(--request-timeout); try a shorter audio or fewer max_tokens", type="timeout_error",
                code="request_timeout"))


def _content_length(scope) -> int:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


class Measure:
    """Counts requests by endpoint and status and times them (to the last byte, streams included)."""

    def __init__(self, app, metrics: Metrics, endpoints: set[str]):
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # Unknown paths share one label, so a scanner cannot grow the metrics without bound.
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        status = {"code": 500}
        start = time.monotonic()

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.add("audiollm_requests_in_progress", 1)
        try:
            await self.app(scope, receive, tracked_send)
        finally:
            self.metrics.add("audiollm_requests_in_progress", -1)
            self.metrics.inc("audiollm_requests_total", endpoint=endpoint, status=str(status["code"]))
            self.metrics.observe("audiollm_request_duration_seconds", time.monotonic() - start, endpoint=endpoint)
