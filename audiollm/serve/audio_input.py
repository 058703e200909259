"""Audio named in a request -> 16 kHz mono samples, within the server's limits.

Only inline audio is read by default: base64 `input_audio.data`, a `data:` URI, or a multipart upload.
A local path (`file://` or `/...`) is read only with the operator switch `allow_local_files`, and an
http(s) URL is fetched only with `allow_remote_urls`; otherwise a client could make the server read
its own disk or reach hosts on its network.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from audiollm.audio import SAMPLING_RATE, load_audio
from audiollm.errors import AudioError
from audiollm.serve.errors import APIError, bad_request, from_library_error

_REMOTE_SCHEMES = ("http", "https")


def too_large(what: str, size: int, limit: int) -> APIError:
    return APIError(413, f"{what} is {size / 2**20:.1f} MiB, over this server's limit of {limit / 2**20:.1f} MiB "
                         "(--max-upload-mb)", code="payload_too_large")


class AudioReader:
    """Decodes audio parts of requests; every failure is an `APIError` naming the part (`param`).

    max_bytes: the most encoded bytes one audio may have; max_seconds: the most decoded seconds.
    """

    def __init__(self, max_bytes: int, max_seconds: float, allow_local_files: bool = False,
                 allow_remote_urls: bool = False, fetch_timeout: float = 30.0):
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.allow_local_files = allow_local_files
        self.allow_remote_urls = allow_remote_urls
        self.fetch_timeout = fetch_timeout

    def from_base64(self, data: object, param: str) -> np.ndarray:
        """Base64 text of an audio file -> samples."""
        if not isinstance(data, str):
            raise bad_request(f"{param} must be a base64 string of an audio file", param, "invalid_type")
        # Line-wrapped base64 (e.g. from `base64` without -w0) is common; other stray characters are errors.
        compact = "".join(data.split())
        try:
            raw = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"{param} is not valid base64", param, "invalid_base64") from None
        return self.from_bytes(raw, param)

    def from_url(self, url: object, param: str) -> np.ndarray:
        """A `data:` URI, or (when the operator allows it) a local path or an http(s) URL -> samples."""
        if not isinstance(url, str) or not url:
            raise bad_request(f"{param} must be a non-empty string", param, "invalid_type")
        if url.startswith("data:"):
            header, comma, payload = url.partition(",")
            if not comma or not header.endswith(";base64"):
                raise bad_request(f"{param}: only base64 data URIs are supported "
                                  "(data:audio/wav;base64,<data>)", param, "invalid_data_uri")
            return self.from_base64(payload, param)
        scheme = urlparse(url).scheme.lower()
        if scheme in _REMOTE_SCHEMES:
            return self.from_bytes(self._fetch(url, param), param)
        if scheme == "file" or (scheme == "" and url.startswith(("/", "./", "~"))):
            return self.from_bytes(self._read_local(url, param), param)
        raise bad_request(f"{param}: unsupported URL {url[:40]!r}; send the audio inline as a "
                          "data:audio/<format>;base64,... URI or an input_audio part", param, "invalid_url")

    def from_bytes(self, raw: bytes, param: str) -> np.ndarray:
        """Encoded audio file bytes -> samples, checked for size and duration."""
        if len(raw) > self.max_bytes:
            raise too_large(f"the audio in {param}", len(raw), self.max_bytes)
        if not raw:
            raise bad_request(f"{param} is empty: send the bytes of an audio file", param, "invalid_audio")
        try:
            samples = load_audio(raw)
        except AudioError as error:
            raise from_library_error(error, param) from None
        seconds = len(samples) / SAMPLING_RATE
        if seconds > self.max_seconds:
            raise bad_request(f"the audio in {param} is {seconds:.1f} s long; this server accepts at most "
                              f"{self.max_seconds:g} s (--max-audio-seconds)", param, "audio_too_long")
        return samples

    def _read_local(self, url: str, param: str) -> bytes:
        if not self.allow_local_files:
            raise APIError(403, f"{param}: this server does not read local files named in requests; send the "
                                "audio inline (base64), or start the server with --allow-local-files",
                           param=param, code="local_files_disabled")
        path = Path(unquote(urlparse(url).path) if url.startswith("file:") else url).expanduser()
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise too_large(f"the file in {param}", size, self.max_bytes)
            return path.read_bytes()
        except OSError as error:
            raise bad_request(f"{param}: cannot read {path}: {error.strerror}", param, "file_not_readable") from None

    def _fetch(self, url: str, param: str) -> bytes:
        """Download at most max_bytes (streamed, so a huge or endless body cannot fill memory)."""
        if not self.allow_remote_urls:
            raise APIError(403, f"{param}: this server does not fetch URLs named in requests; send the audio "
                                "inline (base64), or start the server with --allow-remote-urls",
                           param=param, code="remote_urls_disabled")
        import httpx

        chunks, size = [], 0
        try:
            with httpx.stream("GET", url, timeout=self.fetch_timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise bad_request(f"{param}: fetching {url} gave HTTP {response.status_code}", param,
                                      "fetch_failed")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise too_large(f"the download in {param}", size, self.max_bytes)
                    chunks.append(chunk)
        except httpx.HTTPError as error:
            raise bad_request(f"{param}: cannot fetch {url}: {error}", param, "fetch_failed") from None
        return b"".join(chunks)
