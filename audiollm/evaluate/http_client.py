"""A Responder that talks to a running `audiollm serve` (or any OpenAI-compatible audio chat server).

Each request becomes one POST /v1/chat/completions with a user message whose content parts are
[{"type": "text", "text": instruction}, {"type": "input_audio", "input_audio": {"data": <base64
WAV>, "format": "wav"}}]. Requests of a batch are sent concurrently (`workers` at a time) so the
server can batch them itself.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from audiollm.errors import ConfigError, ModelNotFoundError
from audiollm.inference import SpeechRequest

SAMPLE_RATE = 16000


def wav_base64(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """16-bit PCM WAV of float samples in [-1, 1], base64-encoded (what input_audio carries)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_payload(request: SpeechRequest, model: str) -> dict:
    """The chat-completions body for one SpeechRequest."""
    content: list[dict] = [{"type": "text", "text": request.instruction}]
    if request.audio is not None:
        content.append({"type": "input_audio",
                        "input_audio": {"data": wav_base64(request.audio), "format": "wav"}})
    body = {"model": model, "messages": [{"role": "user", "content": content}],
            "max_tokens": request.max_new_tokens, "temperature": request.temperature}
    if request.no_repeat_ngram_size:  # an extension audiollm's server (and MERaLiON-2's vLLM plugin) accept
        body["no_repeat_ngram_size"] = request.no_repeat_ngram_size
    if request.reader_copy_bias is not None:  # audiollm's server only
        body["reader_copy_bias"] = request.reader_copy_bias
    return body


class HttpResponder:
    """Responder backed by an OpenAI-compatible server at `url` ("http://host:port" or ".../v1").

    model: the id to ask for; None takes the first id the server lists under /v1/models.
    """

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, workers: int = 8, transport=None) -> None:
        import httpx

        root = url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                    transport=transport)
        self.workers = max(1, workers)
        self._model = model
        self.name = f"{model or 'server'}@{self.base_url}"

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        """One HTTP call; connection and HTTP errors become messages that name the server."""
        import httpx

        try:
            response = self._client.request(method, path, json=payload)
        except httpx.HTTPError as error:
            raise ModelNotFoundError(f"cannot reach {self.base_url}: {error}; start it with "
                                     "`audiollm serve` or fix the --model URL") from None
        if response.status_code >= 400:
            raise ConfigError(f"{self.base_url}{path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    @property
    def model(self) -> str:
        """The served model id (asked once)."""
        if self._model is None:
            data = self._call("GET", "/models").get("data") or []
            if not data:
                raise ModelNotFoundError(f"{self.base_url} serves no models")
            self._model = data[0]["id"]
            self.name = f"{self._model}@{self.base_url}"
        return self._model

    def identity(self) -> dict:
        """Identity recorded with scores: the server and the model id it reports."""
        return {"kind": "http", "url": self.base_url, "served_model": self.model}

    def _one(self, request: SpeechRequest) -> str:
        reply = self._call("POST", "/chat/completions", chat_payload(request, self.model))
        try:
            return reply["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError):
            raise ConfigError(f"{self.base_url} sent a reply without choices[0].message: {str(reply)[:200]}") from None

    def respond(self, requests: Sequence[SpeechRequest]) -> list[str]:
        """Answers in request order; requests run concurrently."""
        self.model  # resolve the id once, before the threads start
        with ThreadPoolExecutor(min(self.workers, max(1, len(requests)))) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
