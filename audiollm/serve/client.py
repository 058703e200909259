"""A small synchronous client for `audiollm serve` (or any OpenAI-compatible audio server).

    client = AudioLLMClient("http://127.0.0.1:8000", api_key=None)
    client.chat("What is said?", audio=open("clip.wav", "rb").read())     # -> "..."
    for piece in client.stream("Describe the speaker", audio=wav_bytes): print(piece, end="")
    client.transcribe(wav_bytes, response_format="srt")                    # -> str or dict

Audio goes inline as base64 (`input_audio`), the only form a default server accepts. Errors come back
as `ServerError` carrying the HTTP status and OpenAI's error object.
"""

from __future__ import annotations

import base64
import json
from typing import Iterator

import httpx


class ServerError(Exception):
    """The server refused or failed a request: `status` and OpenAI's `error` dict."""

    def __init__(self, status: int, error: dict):
        super().__init__(f"HTTP {status}: {error.get('message', error)}")
        self.status = status
        self.error = error


def audio_part(audio: bytes, format: str = "wav") -> dict:
    """An `input_audio` content part carrying the bytes of an audio file."""
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(audio).decode(), "format": format}}


class AudioLLMClient:
    """Chat, stream, transcribe and translate against `base_url` ("http://host:port", with or without /v1)."""

    def __init__(self, base_url: str, api_key: str | None = None, model: str | None = None, timeout: float = 600.0):
        root = base_url.rstrip("/").removesuffix("/v1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=root, headers=headers, timeout=timeout)
        self.model = model

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            try:
                error = response.json().get("error") or {}
            except ValueError:
                error = {"message": response.text[:300]}
            raise ServerError(response.status_code, error)
        return response

    def messages(self, text: str, audio: bytes | list[bytes] | None = None) -> list[dict]:
        """One user message: the text, then each audio (the prompt template places them)."""
        audios = [] if audio is None else [audio] if isinstance(audio, bytes) else audio
        return [{"role": "user", "content": [{"type": "text", "text": text}] + [audio_part(a) for a in audios]}]

    def _body(self, text: str, audio, **options) -> dict:
        body = {"messages": self.messages(text, audio), **{k: v for k, v in options.items() if v is not None}}
        if self.model:
            body["model"] = self.model
        return body

    def chat(self, text: str, audio: bytes | list[bytes] | None = None, **options) -> str:
        """The answer text. options: max_tokens, temperature, top_p, seed, stop, ..."""
        reply = self._check(self.http.post("/v1/chat/completions", json=self._body(text, audio, **options))).json()
        return reply["choices"][0]["message"]["content"]

    def stream(self, text: str, audio: bytes | list[bytes] | None = None, **options) -> Iterator[str]:
        """The answer piece by piece, from server-sent events."""
        body = self._body(text, audio, stream=True, **options)
        with self.http.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[len("data: "):])
                if "error" in event:
                    raise ServerError(200, event["error"])
                for choice in event.get("choices", []):
                    if choice["delta"].get("content"):
                        yield choice["delta"]["content"]

    def transcribe(self, audio: bytes, response_format: str = "json", translate: bool = False, **fields):
        """Transcript (or English translation): a dict for json/verbose_json, else text."""
        path = "/v1/audio/translations" if translate else "/v1/audio/transcriptions"
        data = {"response_format": response_format, **{k: str(v) for k, v in fields.items() if v is not None}}
        if self.model:
            data["model"] = self.model
        response = self._check(self.http.post(path, data=data, files={"file": ("audio.wav", audio)}))
        return response.json() if response_format in ("json", "verbose_json") else response.text

    def health(self) -> dict:
        return self._check(self.http.get("/health")).json()

    def metrics(self) -> str:
        return self._check(self.http.get("/metrics")).text

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "AudioLLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
