"""The server's settings: batching, limits and safety switches, in one typed place.

Every bound the issue asks for (upload size, audio duration, request time, queue length, header size)
lives here with its default, so the CLI, the app and the docs read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiollm.errors import ConfigError


@dataclass
class ServerSettings:
    """What `create_app` needs besides the model.

    model_id: the id /v1/models lists and requests must name (None: the assistant's name).
    max_batch_size: conversations run together in one `assistant.chat` call (1 disables batching).
    max_wait_ms: how long the oldest queued request may wait for others to join its batch.
    max_queue: requests waiting for the model; one more is refused with 429 and Retry-After.
    max_upload_mb: request body size (JSON with base64 audio, or a multipart upload).
    max_audio_seconds: length of one audio; None derives it from the model's long-audio setting
        (window_seconds x max_windows).
    request_timeout: seconds from arrival to the first response byte (a stream: to its last byte).
    max_header_kb: total size of the request headers.
    default_max_tokens / max_tokens_limit: answer length when a request names none, and the most it may ask.
    transcription_max_tokens: answer length per 30 s window of /v1/audio/* requests.
    api_key: when set, every /v1 and /metrics request needs `Authorization: Bearer <api_key>`.
    allow_local_files / allow_remote_urls: operator switches; off, only inline (base64/data:) audio is read.
    """

    model_id: str | None = None
    max_batch_size: int = 8
    max_wait_ms: float = 10.0
    max_queue: int = 64
    max_upload_mb: float = 25.0
    max_audio_seconds: float | None = None
    request_timeout: float = 300.0
    max_header_kb: float = 16.0
    default_max_tokens: int = 256
    max_tokens_limit: int = 4096
    transcription_max_tokens: int = 256
    api_key: str | None = None
    allow_local_files: bool = False
    allow_remote_urls: bool = False

    def __post_init__(self) -> None:
        positive = {
            "max_batch_size": self.max_batch_size, "max_queue": self.max_queue,
            "max_upload_mb": self.max_upload_mb, "request_timeout": self.request_timeout,
            "max_header_kb": self.max_header_kb, "default_max_tokens": self.default_max_tokens,
            "max_tokens_limit": self.max_tokens_limit, "transcription_max_tokens": self.transcription_max_tokens,
        }
        if self.max_audio_seconds is not None:
            positive["max_audio_seconds"] = self.max_audio_seconds
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"server setting {name} must be positive, got {value}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"server setting max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.default_max_tokens > self.max_tokens_limit:
            raise ConfigError("default_max_tokens must not exceed max_tokens_limit")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_header_bytes(self) -> int:
        return int(self.max_header_kb * 1024)

    def audio_seconds_limit(self, window_seconds: float, max_windows: int | None) -> float:
        """The audio length bound: the operator's, or what the model's long-audio setting allows."""
        if self.max_audio_seconds is not None:
            return self.max_audio_seconds
        # An uncapped model still gets a bound: an hour is far beyond any request worth waiting for.
        return window_seconds * max_windows if max_windows is not None else 3600.0
