"""POST /v1/chat/completions: one answer, or server-sent events with `stream: true`.

The request is parsed and checked off the event loop (audio decoding is CPU work), then queued for the
model worker. A streamed answer adds up to exactly the non-streamed one: `StreamText` strips the same
whitespace and cuts at the same stop string that `AudioAssistant.chat` does.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from audiollm.audio import SAMPLING_RATE
from audiollm.serve.chat_request import ChatSpec, check_model, parse_chat
from audiollm.serve.errors import APIError
from audiollm.serve.middleware import DEADLINE_KEY
from audiollm.serve.scheduler import is_end
from audiollm.serve.state import ServerState, parse_json


class StreamText:
    """Streamed pieces -> text to send, matching the non-streamed answer.

    Leading whitespace is dropped; trailing whitespace and any tail that could begin a stop string are
    held back until more text shows what they are; the text ends at the first stop string.
    """

    def __init__(self, stops: list[str]):
        self.stops = [stop for stop in stops if stop]
        self.buffer = ""
        self.started = False
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.buffer += piece
        if not self.started:
            self.buffer = self.buffer.lstrip()
            self.started = bool(self.buffer)
        cuts = [self.buffer.index(stop) for stop in self.stops if stop in self.buffer]
        if cuts:
            out, self.buffer, self.stopped = self.buffer[: min(cuts)].rstrip(), "", True
            return out
        keep = len(self.buffer) - len(self.buffer.rstrip())
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.buffer)), keep, -1):
                if self.buffer.endswith(stop[:size]):
                    keep = size
                    break
        out = self.buffer[: len(self.buffer) - keep]
        self.buffer = self.buffer[len(out):]
        return out

    def finish(self) -> str:
        out = "" if self.stopped else self.buffer.rstrip()
        self.buffer = ""
        return out


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _finish_reason(completion_tokens: int, spec: ChatSpec) -> str:
    # The answer is re-tokenized, so this is the count the client sees, not the generated ids; at the
    # limit it is "length" as OpenAI reports it.
    return "length" if completion_tokens >= spec.settings.max_new_tokens else "stop"


def _chunk(meta: dict, delta: dict | None, finish: str | None = None, usage: dict | None = None) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    body = {**meta, "object": "chat.completion.chunk", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def _error_event(error: APIError) -> str:
    return f"data: {json.dumps(error.body())}\n\n"


async def _events(state: ServerState, spec: ChatSpec, meta: dict, deadline: float):
    """The SSE body: role chunk, content chunks, finish chunk, [usage chunk], [DONE]."""
    job = state.scheduler.stream(spec.conversation, spec.settings)
    text, sent = StreamText(spec.settings.stop), []
    try:
        yield _chunk(meta, {"role": "assistant", "content": ""})
        while True:
            piece = await asyncio.wait_for(job.pieces.get(), max(0.0, deadline - time.monotonic()))
            if is_end(piece):
                break
            if out := text.feed(piece):
                sent.append(out)
                yield _chunk(meta, {"content": out})
        await job.future  # raises the worker's APIError, if any
        if tail := text.finish():
            sent.append(tail)
            yield _chunk(meta, {"content": tail})
        completion = state.count_tokens("".join(sent))
        state.metrics.inc("audiollm_completion_tokens_total", completion)
        yield _chunk(meta, {}, _finish_reason(completion, spec))
        if spec.include_usage:
            yield _chunk(meta, None, usage=_usage(spec.prompt_tokens, completion))
    except asyncio.TimeoutError:
        # The response has started, so the status cannot change: the error goes in the stream, where
        # the openai client raises it.
        yield _error_event(APIError(408, f"the stream took longer than {state.settings.request_timeout:g} s "
                                         "(--request-timeout)", type="timeout_error", code="request_timeout"))
    except APIError as error:
        yield _error_event(error)
    finally:
        if not job.future.done():
            job.future.cancel()  # the client left or the deadline passed: the worker stops sending
    yield "data: [DONE]\n\n"


def chat_router(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        with state.scheduler.arriving():
            body = parse_json(await request.body())
            check_model(body, state.model_id)
            spec = await run_in_threadpool(parse_chat, body, state.reader, state.processor,
                                           state.settings.default_max_tokens, state.settings.max_tokens_limit)
        state.metrics.inc("audiollm_prompt_tokens_total", spec.prompt_tokens)
        audio_seconds = sum(len(a) for turn in spec.conversation for a in turn.audios) / SAMPLING_RATE
        state.metrics.inc("audiollm_audio_seconds_total", audio_seconds)
        meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": state.model_id}
        if spec.stream:
            deadline = request.scope.get(DEADLINE_KEY, time.monotonic() + state.settings.request_timeout)
            return StreamingResponse(_events(state, spec, meta, deadline), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = (await state.scheduler.run([spec.conversation], spec.settings))[0]
        completion = state.count_tokens(answer)
        state.metrics.inc("audiollm_completion_tokens_total", completion)
        return JSONResponse({
            **meta, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "logprobs": None, "finish_reason": _finish_reason(completion, spec)}],
            "usage": _usage(spec.prompt_tokens, completion),
        })

    return router
