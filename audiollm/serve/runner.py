"""Running the app under uvicorn: in the foreground (the CLI) or in a background thread (tests, benchmarks).

uvicorn's own limits are set to sit *behind* the app's: h11 accepts headers well past
`max_header_kb`, so oversized headers reach `Guard` and get a JSON 431. Headers past h11's buffer
(1 MiB or 4x the limit) and requests h11 cannot parse never reach the app; `JSONErrorH11Protocol`
answers those with a JSON 400 instead of uvicorn's plain-text one.
"""

from __future__ import annotations

import socket
import threading
import time

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from audiollm.serve.errors import APIError
from audiollm.serve.settings import ServerSettings

_LINGER_SECONDS = 5.0


class JSONErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, except for requests h11 itself rejects (malformed, or headers past its
    buffer): they get OpenAI's JSON error shape, and the connection then lingers for a few seconds,
    reading and dropping what the client still sends. Closing at once, with unread bytes, would send a
    TCP reset, and the client would see "connection reset" instead of the answer.

    It overrides uvicorn's `send_400_response` and `data_received` (uvicorn is pinned in pyproject;
    tests/test_serve_limits.py checks this behaviour, so an upgrade that changes them fails there)."""

    _lingering = False

    def send_400_response(self, msg: str) -> None:
        error = APIError(400, "invalid HTTP request: malformed, or headers far over this server's limit",
                         code="invalid_http_request")
        body = error.body_bytes()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._lingering:
            super().data_received(data)


def uvicorn_config(app, host: str, port: int, settings: ServerSettings, log_level: str = "info") -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, http=JSONErrorH11Protocol, ws="none", lifespan="on",
        h11_max_incomplete_event_size=max(2**20, 4 * settings.max_header_bytes),
        # Connections beyond this get a 503 from uvicorn before reaching the app; the app's own queue
        # bound (429) is what clients normally meet.
        limit_concurrency=max(64, 4 * settings.max_queue), timeout_keep_alive=15,
        timeout_graceful_shutdown=5,
    )


def serve(app, host: str, port: int, settings: ServerSettings, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    uvicorn.Server(uvicorn_config(app, host, port, settings, log_level)).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class BackgroundServer:
    """`with BackgroundServer(app, settings) as server: server.url` — uvicorn in a daemon thread on a
    free 127.0.0.1 port; started within `start_timeout` seconds or an error, stopped on exit."""

    def __init__(self, app, settings: ServerSettings, host: str = "127.0.0.1", port: int | None = None,
                 start_timeout: float = 30.0, log_level: str = "warning"):
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout = start_timeout
        self._server = uvicorn.Server(uvicorn_config(app, self.host, self.port, settings, log_level))
        self._thread = threading.Thread(target=self._server.run, name="audiollm-serve", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start on {self.url} within {self.start_timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __exit__(self, *exc) -> None:
        self.stop()
