"""HTTP errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.

Handlers raise `APIError`; the app and the middlewares turn it (and every `AudioLLMError` from the
library) into a JSON body that the official openai client parses into its typed exceptions.
"""

from __future__ import annotations

import json

from audiollm.errors import AudioError, AudioLLMError


class APIError(Exception):
    """A request the server refuses, with its HTTP status and OpenAI error fields."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body_bytes(self) -> bytes:
        return json.dumps(self.body()).encode()


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def from_library_error(error: AudioLLMError, param: str | None = None) -> APIError:
    """A user error raised by the library (bad audio, bad prompt) -> 400 that says what is wrong."""
    code = "invalid_audio" if isinstance(error, AudioError) else "invalid_prompt"
    return APIError(400, str(error), param=param, code=code)


def internal_error() -> APIError:
    """A bug: the details go to the server log, not to the client."""
    return APIError(500, "the server failed while answering this request; see its log", type="server_error",
                    code="internal_error")


async def send_error(send, error: APIError) -> None:
    """Write `error` as a complete JSON response on a raw ASGI `send` (used by the middlewares)."""
    body = error.body_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(key.lower().encode(), value.encode()) for key, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
