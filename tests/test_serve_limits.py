"""Limits and safety: every malformed or over-limit request gets a 4xx JSON error in OpenAI's shape, and
after each one the server still answers a good request correctly. Queue-full (429) and request
timeout (408) are provoked with a model call that is held until the test releases it.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.api import AudioAssistant, GenerationSettings
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.serve import BackgroundServer, ServerSettings, create_app

CHAT = "/v1/chat/completions"


def wav_bytes(seconds: float, frequency: float = 300.0) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def chat_body(*parts: dict, **options) -> dict:
    content = [{"type": "text", "text": "What is this?"}, *parts]
    return {"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 4, **options}


def audio_part(data: bytes) -> dict:
    return {"type": "input_audio", "input_audio": {"data": b64(data), "format": "wav"}}


class HeldAssistant(AudioAssistant):
    """The tiny assistant, except that `chat` waits while `hold` is set (to fill the queue)."""

    hold = threading.Event()
    entered = threading.Event()  # set once a call is being held
    released = threading.Event()

    def chat(self, conversations, settings=None, truncate_audio=False):
        if self.hold.is_set():
            self.entered.set()
            self.released.wait(30)
        return super().chat(conversations, settings, truncate_audio)

    def start_holding(self) -> None:
        self.released.clear()
        self.entered.clear()
        self.hold.set()

    def stop_holding(self) -> None:
        self.hold.clear()
        self.released.set()


@pytest.fixture(scope="module")
def assistant() -> HeldAssistant:
    torch.manual_seed(1)
    config = tiny_config("meralion-v1", max_windows=1)
    model = AudioLLM.from_config(config).eval()
    return HeldAssistant(model, AudioLLMProcessor(tiny_tokenizer(), config), name="tiny")


@pytest.fixture(scope="module")
def good_answer(assistant) -> str:
    clip = sf.read(io.BytesIO(wav_bytes(1.0)), dtype="float32")[0]
    return assistant.chat([[Turn("user", "What is this?", [clip])]], GenerationSettings(max_new_tokens=4))[0]


SETTINGS = ServerSettings(max_upload_mb=1, max_audio_seconds=10, max_header_kb=8, max_queue=2, max_batch_size=1,
                          max_wait_ms=0, request_timeout=2.0)


@pytest.fixture(scope="module")
def server(assistant):
    with BackgroundServer(create_app(assistant, SETTINGS), SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_still_serving(http, good_answer) -> None:
    response = http.post(CHAT, json=chat_body(audio_part(wav_bytes(1.0))))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == good_answer


not_audio = b"this is plain text, not audio at all " * 10
corrupt = wav_bytes(1.0)[:12] + bytes(range(256)) * 8
empty_wav = io.BytesIO()
sf.write(empty_wav, np.zeros(0, dtype=np.float32), 16000, format="WAV")

MALFORMED = {  # name -> (request kwargs for httpx, expected status, expected code)
    "not json": (dict(content=b'{"messages": [', headers={"content-type": "application/json"}), 400, "invalid_json"),
    "not utf-8": (dict(content=b"\xff\xfe\x00garbage"), 400, "invalid_json"),
    "json array": (dict(json=[1, 2]), 400, "invalid_type"),
    "messages not a list": (dict(json={"messages": "hi"}), 400, "invalid_type"),
    "no messages": (dict(json={"model": "tiny"}), 400, "invalid_type"),
    "bad role": (dict(json={"messages": [{"role": "robot", "content": "hi"}]}), 400, "invalid_value"),
    "content a number": (dict(json={"messages": [{"role": "user", "content": 5}]}), 400, "invalid_type"),
    "temperature a string": (dict(json=chat_body(temperature="hot")), 400, "invalid_type"),
    "temperature too high": (dict(json=chat_body(temperature=9)), 400, "invalid_value"),
    "max_tokens a bool": (dict(json=chat_body(max_tokens=True)), 400, "invalid_type"),
    "max_tokens zero": (dict(json=chat_body(max_tokens=0)), 400, "invalid_value"),
    "stop a number": (dict(json=chat_body(stop=3)), 400, "invalid_type"),
    "n is 2": (dict(json=chat_body(n=2)), 400, "unsupported_parameter"),
    "stream a string": (dict(json=chat_body(stream="yes")), 400, "invalid_type"),
    "image part": (dict(json=chat_body({"type": "image_url", "image_url": {"url": "data:,"}})), 400,
                   "unsupported_content"),
    "audio data not base64": (dict(json=chat_body({"type": "input_audio", "input_audio": {"data": "%%%"}})), 400,
                              "invalid_base64"),
    "audio data a number": (dict(json=chat_body({"type": "input_audio", "input_audio": {"data": 12}})), 400,
                            "invalid_type"),
    "non-audio bytes": (dict(json=chat_body(audio_part(not_audio))), 400, "invalid_audio"),
    "corrupt audio": (dict(json=chat_body(audio_part(corrupt))), 400, "invalid_audio"),
    "empty audio data": (dict(json=chat_body(audio_part(b""))), 400, "invalid_audio"),
    "audio with no samples": (dict(json=chat_body(audio_part(empty_wav.getvalue()))), 400, "invalid_audio"),
    "audio too long": (dict(json=chat_body(audio_part(wav_bytes(12.0)))), 400, "audio_too_long"),
    "markers without audio": (dict(json={"messages": [{"role": "user", "content": "<SpeechHere> <SpeechHere>"}]}),
                              400, "invalid_prompt"),
    "non-base64 data uri": (dict(json=chat_body({"type": "audio_url", "audio_url": {"url": "data:audio/wav,abc"}})),
                            400, "invalid_data_uri"),
    "local file": (dict(json=chat_body({"type": "audio_url", "audio_url": {"url": "file:///etc/passwd"}})), 403,
                   "local_files_disabled"),
    "local path": (dict(json=chat_body({"type": "audio_url", "audio_url": {"url": "/etc/hostname"}})), 403,
                   "local_files_disabled"),
    "remote url": (dict(json=chat_body({"type": "audio_url", "audio_url": {"url": "http://127.0.0.1:9/a.wav"}})),
                   403, "remote_urls_disabled"),
    "other model": (dict(json={**chat_body(), "model": "gpt-4o"}), 404, "model_not_found"),
    "last turn not user": (dict(json={"messages": [{"role": "assistant", "content": "hi"}]}), 400, "invalid_value"),
    "prompt over the context": (dict(json={"messages": [{"role": "user", "content": "hello lah " * 3000}]}), 400,
                                "context_length_exceeded"),
    "body over the limit": (dict(json=chat_body(audio_part(b"\0" * 1_200_000))), 413, "payload_too_large"),
    "huge header": (dict(json=chat_body(), headers={"x-junk": "a" * 20_000}), 431, "headers_too_large"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_chat_requests_get_4xx_and_the_server_keeps_serving(name, http, good_answer):
    kwargs, status, code = MALFORMED[name]
    assert_error(http.post(CHAT, **kwargs), status, code)
    assert_still_serving(http, good_answer)


def test_chunked_body_over_the_limit_is_refused(http, good_answer):
    def chunks():  # no Content-Length: the size is only known while reading
        for _ in range(20):
            yield b" " * 100_000

    assert_error(http.post(CHAT, content=chunks(), headers={"content-type": "application/json"}), 413,
                 "payload_too_large")
    assert_still_serving(http, good_answer)


def test_gigantic_headers_and_garbage_are_cut_off_by_the_protocol_layer(http, good_answer):
    # Past h11's buffer (1 MiB) the protocol layer answers 400 in JSON. h11 checks its limit only while a
    # header block is incomplete, so when the whole 1.3 MB block lands in one read (timing-dependent) the
    # request reaches the app instead, whose header limit answers 431. Either way: one JSON error, no crash.
    with httpx.Client(base_url=http.base_url, timeout=30) as fresh:
        response = fresh.get("/health", headers={f"x-{i}": "b" * 8000 for i in range(160)})
    expected_code = {400: "invalid_http_request", 431: "headers_too_large"}
    assert response.status_code in expected_code, response.text
    assert_error(response, response.status_code, expected_code[response.status_code])
    with socket.create_connection((http.base_url.host, http.base_url.port), timeout=10) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reply = b""
        while chunk := raw.recv(4096):  # the server half-closes after its answer
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b'"invalid_http_request"' in reply
    assert_still_serving(http, good_answer)


MULTIPART = {  # name -> (files, data, status, code)
    "no file": (None, {"model": "tiny"}, 400, "missing_file"),
    "file is text field": (None, {"file": "abc"}, 400, "missing_file"),
    "not audio": ({"file": ("a.wav", not_audio)}, {}, 400, "invalid_audio"),
    "empty file": ({"file": ("a.wav", b"")}, {}, 400, "invalid_audio"),
    "bad format": ({"file": ("a.wav", wav_bytes(1.0))}, {"response_format": "pdf"}, 400, "invalid_value"),
    "bad temperature": ({"file": ("a.wav", wav_bytes(1.0))}, {"temperature": "warm"}, 400, "invalid_type"),
    "too long": ({"file": ("a.wav", wav_bytes(12.0))}, {}, 400, "audio_too_long"),
    "other model": ({"file": ("a.wav", wav_bytes(1.0))}, {"model": "whisper-1"}, 404, "model_not_found"),
}


@pytest.mark.parametrize("name", list(MULTIPART))
def test_malformed_uploads(name, http, good_answer):
    files, data, status, code = MULTIPART[name]
    assert_error(http.post("/v1/audio/transcriptions", files=files, data=data), status, code)
    assert_still_serving(http, good_answer)


def test_broken_multipart_and_json_to_the_upload_endpoint(http, good_answer):
    broken = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"  # never closed
    assert 400 <= http.post("/v1/audio/transcriptions", content=broken,
                            headers={"content-type": "multipart/form-data; boundary=xyz"}).status_code < 500
    assert_error(http.post("/v1/audio/transcriptions", json={"file": "x"}), 400, "missing_file")
    assert_still_serving(http, good_answer)


def test_unknown_routes_and_methods(http, good_answer):
    assert_error(http.get("/v1/nothing"), 404)
    assert_error(http.get(CHAT), 405)
    assert_error(http.get("/v1/models/gpt-4o"), 404, "model_not_found")
    assert_still_serving(http, good_answer)


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.02)


def test_queue_full_gets_429_with_retry_after_then_recovers(assistant, server, http, good_answer):
    assistant.start_holding()
    results = {}

    def send(index):
        with httpx.Client(base_url=server.url, timeout=30) as own:
            results[index] = own.post(CHAT, json=chat_body(audio_part(wav_bytes(1.0))))

    senders = [threading.Thread(target=send, args=(i,)) for i in range(3)]  # 1 running + 2 queued
    try:
        senders[0].start()
        assert assistant.entered.wait(10)
        for sender in senders[1:]:
            sender.start()
        wait_for(lambda: http.get("/health").json()["queue_depth"] == 2)
        refused = http.post(CHAT, json=chat_body())
        assert_error(refused, 429, "queue_full")
        assert int(refused.headers["retry-after"]) >= 1
    finally:
        assistant.stop_holding()
        for sender in senders:
            sender.join(30)
    # Requests held past the 2 s request timeout were answered 408; none hung.
    assert {r.status_code for r in results.values()} <= {200, 408}
    assert_still_serving(http, good_answer)


def test_request_timeout_gets_408_then_recovers(assistant, http, good_answer):
    assistant.start_holding()
    try:
        started = time.monotonic()
        assert_error(http.post(CHAT, json=chat_body()), 408, "request_timeout")
        assert time.monotonic() - started < SETTINGS.request_timeout + 2
    finally:
        assistant.stop_holding()
    assert_still_serving(http, good_answer)


class _WavHandler(BaseHTTPRequestHandler):
    """Serves one WAV at any path (a stand-in for a remote host)."""

    body = wav_bytes(1.0)

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_api_key_and_operator_switches(assistant, tmp_path, good_answer):
    clip = tmp_path / "clip.wav"
    clip.write_bytes(wav_bytes(1.0))
    settings = ServerSettings(api_key="s3cret", allow_local_files=True, allow_remote_urls=True, max_tokens_limit=8,
                              default_max_tokens=4)
    remote = ThreadingHTTPServer(("127.0.0.1", 0), _WavHandler)
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    try:
        with BackgroundServer(create_app(assistant, settings), settings) as running:
            body = chat_body({"type": "audio_url", "audio_url": {"url": clip.as_uri()}})
            with httpx.Client(base_url=running.url, timeout=30) as anonymous:
                assert_error(anonymous.post(CHAT, json=body), 401, "invalid_api_key")
                assert_error(anonymous.get("/v1/models", headers={"authorization": "Bearer wrong"}), 401)
                assert anonymous.get("/health").status_code == 200  # probes need no key
            with httpx.Client(base_url=running.url, timeout=30, headers={"authorization": "Bearer s3cret"}) as keyed:
                for url in (clip.as_uri(), f"http://127.0.0.1:{remote.server_port}/clip.wav"):
                    reply = keyed.post(CHAT, json=chat_body({"type": "audio_url", "audio_url": {"url": url}}))
                    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == good_answer
                assert_error(keyed.post(CHAT, json=chat_body(max_tokens=9)), 400, "invalid_value")
                missing = chat_body({"type": "audio_url", "audio_url": {"url": str(tmp_path / "none.wav")}})
                assert_error(keyed.post(CHAT, json=missing), 400, "file_not_readable")
    finally:
        remote.shutdown()
        remote.server_close()


def test_errors_inside_a_stream_arrive_as_an_error_event(assistant, http, good_answer):
    assistant.start_holding()
    blocker = threading.Thread(target=lambda: httpx.post(http.base_url.join(CHAT), json=chat_body(), timeout=30))
    try:
        # The worker is busy with a held call; the stream's deadline passes while it waits in the queue.
        blocker.start()
        assert assistant.entered.wait(10)
        with http.stream("POST", CHAT, json=chat_body(stream=True)) as response:
            assert response.status_code == 200
            events = [line for line in response.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        assert json.loads(events[-2][len("data: "):])["error"]["code"] == "request_timeout"
    finally:
        assistant.stop_holding()
        blocker.join(30)
    assert_still_serving(http, good_answer)
