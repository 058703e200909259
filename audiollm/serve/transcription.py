"""POST /v1/audio/transcriptions and /v1/audio/translations (multipart upload, OpenAI's fields).

    file              the audio file (required)
    model             optional; must be the served id when given
    response_format   json (default), text, srt, vtt, verbose_json
    temperature       0 (default, greedy) .. 2
    language          echoed in verbose_json (the model needs no language hint)
    prompt, timestamp_granularities[]   accepted and ignored: segments are the model's 30 s windows

Audio of any length up to the server's audio limit (by default the model's long-audio setting,
window_seconds x max_windows) is cut into windows; every window is one conversation, and all windows of
a request join the same batch queue as chat requests. Translation is into English, as with OpenAI.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from audiollm.api import TRANSCRIBE, TRANSLATE, GenerationSettings, Segment
from audiollm.audio import SAMPLING_RATE
from audiollm.errors import AudioLLMError
from audiollm.processor import Turn
from audiollm.serve import formats
from audiollm.serve.chat_request import check_model
from audiollm.serve.errors import bad_request, from_library_error
from audiollm.serve.state import ServerState

_FIELD_BYTES = 64 * 1024  # a text field (prompt, language...) larger than this is not a real request


def _text_field(form, name: str, default: str | None = None) -> str | None:
    value = form.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a text field, not a file", name, "invalid_type")
    return value


def _options(form) -> tuple[str, float, str]:
    """(response_format, temperature, language) from the form, checked."""
    response_format = _text_field(form, "response_format", "json")
    if response_format not in formats.FORMATS:
        raise bad_request(f"response_format must be one of {', '.join(formats.FORMATS)}, got {response_format!r}",
                          "response_format", "invalid_value")
    if (_text_field(form, "stream", "false") or "").lower() not in ("false", "0", ""):
        raise bad_request("stream is not supported for /v1/audio/*; use chat completions to stream", "stream",
                          "unsupported_parameter")
    raw = _text_field(form, "temperature", "0")
    try:
        temperature = float(raw)
    except ValueError:
        raise bad_request(f"temperature must be a number, got {raw!r}", "temperature", "invalid_type") from None
    if not 0.0 <= temperature <= 2.0:
        raise bad_request(f"temperature must be between 0 and 2, got {raw}", "temperature", "invalid_value")
    return response_format, temperature, _text_field(form, "language", None) or "unknown"


def _prepare(state: ServerState, raw: bytes, instruction: str):
    """Decode, check and window the audio (CPU work, off the event loop).

    Returns (seconds, window spans in seconds, one conversation per window, prompt tokens).
    """
    waveform = state.reader.from_bytes(raw, "file")
    try:
        bounds = state.processor.window_bounds(waveform)
        conversations = [[Turn("user", instruction, [waveform[start:end]])] for start, end in bounds]
        prompt_tokens = sum(len(state.processor.encode(conversation)[0]) for conversation in conversations)
    except AudioLLMError as error:
        raise from_library_error(error, "file") from None
    spans = [(start / SAMPLING_RATE, end / SAMPLING_RATE) for start, end in bounds]
    return len(waveform) / SAMPLING_RATE, spans, conversations, prompt_tokens


async def _read(request: Request, state: ServerState, instruction: str):
    """The upload and its fields, checked: (options, seconds, conversations, prompt tokens)."""
    form = await request.form(max_files=1, max_fields=32, max_part_size=_FIELD_BYTES)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise bad_request("send the audio as the multipart/form-data file field 'file'", "file", "missing_file")
    check_model({"model": _text_field(form, "model")}, state.model_id)
    options = _options(form)
    raw = await upload.read()
    return (options, *await run_in_threadpool(_prepare, state, raw, instruction))


def _respond(state: ServerState, segments: list[Segment], response_format: str, duration: float, task: str,
             language: str, temperature: float):
    text = state.processor.join_transcripts([segment.text for segment in segments])
    if response_format == "json":
        return JSONResponse({"text": text})
    if response_format == "verbose_json":
        tokenize = lambda text: state.processor.tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
        return JSONResponse(formats.verbose_json(segments, text, duration, task, language, temperature, tokenize))
    if response_format == "text":
        return PlainTextResponse(text + "\n")
    body = formats.srt(segments) if response_format == "srt" else formats.vtt(segments)
    return PlainTextResponse(body, media_type="text/vtt" if response_format == "vtt" else "text/plain")


async def _handle(request: Request, state: ServerState, task: str, instruction: str):
    with state.scheduler.arriving():
        (response_format, temperature, language), duration, spans, conversations, prompt_tokens = await _read(
            request, state, instruction)
    state.metrics.inc("audiollm_prompt_tokens_total", prompt_tokens)
    state.metrics.inc("audiollm_audio_seconds_total", duration)
    settings = GenerationSettings(max_new_tokens=state.settings.transcription_max_tokens, temperature=temperature,
                                  transcribing=task == "transcribe")
    texts = await state.scheduler.run(conversations, settings)
    state.metrics.inc("audiollm_completion_tokens_total", sum(state.count_tokens(text) for text in texts))
    segments = [Segment(start=start, end=end, text=text) for (start, end), text in zip(spans, texts)]
    return _respond(state, segments, response_format, duration, task, language, temperature)


def audio_router(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        return await _handle(request, state, "transcribe", TRANSCRIBE)

    @router.post("/v1/audio/translations")
    async def translations(request: Request):
        return await _handle(request, state, "translate", TRANSLATE.format(language="English"))

    return router
