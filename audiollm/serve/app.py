"""`create_app(assistant, settings) -> FastAPI`: the OpenAI-compatible server around an AudioAssistant.

    POST /v1/chat/completions     text + audio messages, `stream: true` as server-sent events
    POST /v1/audio/transcriptions multipart upload; json, text, srt, vtt, verbose_json
    POST /v1/audio/translations   the same, into English
    GET  /v1/models               the one served model
    GET  /health                  liveness (open even with an API key)
    GET  /metrics                 Prometheus text format

The app talks to the model only through the scheduler's worker thread and the assistant's
chat/stream/processor interface; no torch object crosses into this package. Every error, ours or
Starlette's (404, 405, malformed multipart), leaves in OpenAI's error shape.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException

from audiollm.serve.audio_input import AudioReader
from audiollm.serve.chat import chat_router
from audiollm.serve.errors import APIError, internal_error
from audiollm.serve.metrics import Metrics
from audiollm.serve.middleware import Guard, Measure
from audiollm.serve.scheduler import Scheduler
from audiollm.serve.settings import ServerSettings
from audiollm.serve.state import ServerState
from audiollm.serve.transcription import audio_router

log = logging.getLogger("audiollm.serve")
ENDPOINTS = {"/v1/chat/completions", "/v1/audio/transcriptions", "/v1/audio/translations", "/v1/models",
             "/health", "/metrics"}


def _state(assistant, settings: ServerSettings) -> ServerState:
    config = assistant.processor.config
    metrics = Metrics()
    reader = AudioReader(
        max_bytes=settings.max_upload_bytes,
        max_seconds=settings.audio_seconds_limit(config.window_seconds, config.max_windows),
        allow_local_files=settings.allow_local_files, allow_remote_urls=settings.allow_remote_urls,
        fetch_timeout=min(30.0, settings.request_timeout),
    )
    scheduler = Scheduler(assistant, settings.max_batch_size, settings.max_wait_ms, settings.max_queue, metrics)
    return ServerState(assistant, settings, scheduler, reader, metrics, settings.model_id or assistant.name)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_request: Request, error: APIError):
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
        return JSONResponse(APIError(error.status_code, str(error.detail), code=code).body(),
                            status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception):
        log.error("unhandled error", exc_info=error)
        return JSONResponse(internal_error().body(), status_code=500)


def _info_routes(app: FastAPI, state: ServerState) -> None:
    model = {"id": state.model_id, "object": "model", "created": state.created, "owned_by": "audiollm"}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [model]}

    @app.get("/v1/models/{name:path}")
    async def one_model(name: str):
        if name != state.model_id:
            raise APIError(404, f"model {name!r} is not served here", param="model", code="model_not_found")
        return model

    @app.get("/health")
    async def health():
        ok = state.scheduler.alive
        body = {"status": "ok" if ok else "unavailable", "model": state.model_id,
                "queue_depth": state.scheduler.queue_depth, "notice": state.assistant.notice}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def create_app(assistant, settings: ServerSettings | None = None) -> FastAPI:
    """The server app for `assistant` (an AudioAssistant). The model worker runs while the app's
    lifespan does (uvicorn starts and stops it); `app.state.server` is the shared ServerState."""
    settings = settings or ServerSettings()
    state = _state(assistant, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state.scheduler.start()
        try:
            yield
        finally:
            # stop() waits for the running batch: off the event loop, so in-flight responses still go out.
            await anyio.to_thread.run_sync(state.scheduler.stop)

    app = FastAPI(title="audiollm", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state
    _error_handlers(app)
    _info_routes(app, state)
    app.include_router(chat_router(state))
    app.include_router(audio_router(state))
    # Added last = outermost: Measure sees every request, including those Guard refuses.
    app.add_middleware(Guard, settings=settings)
    app.add_middleware(Measure, metrics=state.metrics, endpoints=ENDPOINTS)
    return app
