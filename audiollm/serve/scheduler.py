"""One model worker thread and the batching queue in front of it.

The event loop never touches the model: handlers put a `Job` on the queue and await its future. The
worker thread owns the model (generation is not safe to run concurrently on one model) and repeatedly
takes the oldest job plus every queued job with the same decoding settings, up to `max_batch_size`
conversations, and answers them with one `assistant.chat` call. Streaming jobs run alone through
`assistant.stream`.

It waits for more jobs at most `max_wait_ms` (counted from the oldest job's arrival), and only while
other requests are on their way (being read and parsed, see `arriving`): a lone request never pays
the wait.

Greedy requests with equal max_tokens/stop batch together. Sampled requests batch only with the same
sampling settings, and a sampled request with a seed always runs alone, so its seed means the same
thing whatever else is queued.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field

from audiollm.api import GenerationSettings
from audiollm.errors import AudioLLMError
from audiollm.processor import Turn
from audiollm.serve.errors import APIError, from_library_error, internal_error
from audiollm.serve.metrics import Metrics

log = logging.getLogger("audiollm.serve")
_unique = itertools.count()
_END = object()  # marks the end of a stream in its piece queue


def batch_key(settings: GenerationSettings) -> tuple:
    """Jobs with equal keys may share one model call."""
    if settings.temperature > 0 and settings.seed is not None:
        return ("alone", next(_unique))
    sampling = (settings.temperature, settings.top_p, settings.top_k) if settings.temperature > 0 else ()
    return (settings.max_new_tokens, tuple(settings.stop), settings.no_repeat_ngram_size, settings.reader_copy_bias,
            settings.transcribing, sampling)


@dataclass
class Job:
    """Conversations to answer with one settings; results go to `future` on the handler's loop."""

    conversations: list[list[Turn]]
    settings: GenerationSettings
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    pieces: asyncio.Queue | None = None  # set for a streaming job
    arrived: float = field(default_factory=time.monotonic)
    key: tuple = ()

    @property
    def abandoned(self) -> bool:
        """The handler gave up (timeout, client gone); its future was cancelled."""
        return self.future.done()

    def deliver(self, value: object) -> None:
        """Resolve the future from the worker thread (a result, or an APIError to raise)."""
        self._call(_settle, self.future, value)

    def push(self, piece: object) -> None:
        self._call(self.pieces.put_nowait, piece)

    def _call(self, function, *args) -> None:
        try:
            self.loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop is closed (server shutting down): nobody is waiting any more
            pass


def _settle(future: asyncio.Future, value: object) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


class Scheduler:
    """The queue and the worker thread. Start with `start()`, end with `stop()`."""

    def __init__(self, assistant, max_batch_size: int, max_wait_ms: float, max_queue: int, metrics: Metrics):
        self.assistant = assistant
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._seconds_per_batch = 1.0  # running estimate for Retry-After
        self._arriving = 0  # requests being read and parsed, not yet queued
        metrics.gauge_from("audiollm_queue_depth", lambda: self.queue_depth)

    # ---- the handlers' side (event loop) -------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @contextmanager
    def arriving(self):
        """Mark a request as on its way to the queue (around reading and parsing it)."""
        with self._cond:
            self._arriving += 1
        try:
            yield
        finally:
            with self._cond:
                self._arriving -= 1
                self._cond.notify_all()  # a waiting batch may stop waiting for it

    def _submit(self, conversations: list[list[Turn]], settings: GenerationSettings, stream: bool) -> Job:
        loop = asyncio.get_running_loop()
        job = Job(conversations, settings, loop, loop.create_future(), asyncio.Queue() if stream else None,
                  key=batch_key(settings))
        with self._cond:
            if self._stopping or not self.alive:
                raise APIError(503, "the server is shutting down", type="server_error", code="unavailable")
            if len(self._pending) >= self.max_queue:
                retry = max(1, round(self._seconds_per_batch * len(self._pending) / self.max_batch_size))
                raise APIError(429, f"the server is busy: {len(self._pending)} requests are waiting "
                                    f"(--max-queue {self.max_queue}); retry in {retry} s",
                               type="rate_limit_error", code="queue_full", headers={"Retry-After": str(retry)})
            self._pending.append(job)
            self._cond.notify_all()
        return job

    async def run(self, conversations: list[list[Turn]], settings: GenerationSettings) -> list[str]:
        """Answer the conversations (in one batch with whatever else is queued). Raises APIError."""
        job = self._submit(conversations, settings, stream=False)
        # Cancelling this await (request timeout) cancels the future, so the worker skips the job.
        return await job.future

    def stream(self, conversation: list[Turn], settings: GenerationSettings) -> Job:
        """Queue a streaming job: read `job.pieces` until `is_end(piece)`, then await `job.future` (errors)."""
        return self._submit([conversation], settings, stream=True)

    # ---- the worker's side (thread) ------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="audiollm-model-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the running batch, refuse what is queued, end the thread."""
        with self._cond:
            self._stopping = True
            refused, self._pending = list(self._pending), deque()
            self._cond.notify_all()
        for job in refused:
            if job.pieces is not None:
                job.push(_END)  # a stream's reader waits on its pieces, not on the future
            job.deliver(APIError(503, "the server is shutting down", type="server_error", code="unavailable"))
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            started = time.monotonic()
            if batch[0].pieces is not None:
                self._run_stream(batch[0])
            else:
                self._run_batch(batch)
            # An exponential average: Retry-After should follow the recent pace, not the first request.
            self._seconds_per_batch = 0.8 * self._seconds_per_batch + 0.2 * (time.monotonic() - started)

    def _next_batch(self) -> list[Job] | None:
        """Block until there is work; return the next batch (None when stopping)."""
        with self._cond:
            while True:
                self._pending = deque(job for job in self._pending if not job.abandoned)
                if self._stopping:
                    return None
                if self._pending:
                    break
                self._cond.wait(timeout=1.0)
            first = self._pending[0]
            if first.pieces is not None:
                return [self._pending.popleft()]
            deadline = first.arrived + self.max_wait
            while True:
                batch = self._compatible(first)
                remaining = deadline - time.monotonic()
                full = sum(len(job.conversations) for job in batch) >= self.max_batch_size
                if full or remaining <= 0 or self._arriving == 0:
                    break
                self._cond.wait(timeout=remaining)
                if self._stopping:
                    return None
            for job in batch:
                self._pending.remove(job)
            return batch

    def _compatible(self, first: Job) -> list[Job]:
        """The first job plus later queued jobs with its key, in arrival order, while they fit."""
        batch, size = [first], len(first.conversations)
        for job in itertools.islice(self._pending, 1, None):
            if job.pieces is None and job.key == first.key and not job.abandoned:
                if size + len(job.conversations) > self.max_batch_size:
                    break
                batch.append(job)
                size += len(job.conversations)
        return batch

    def _run_batch(self, batch: list[Job]) -> None:
        """One model call for the batch. If it fails, the jobs are re-run one by one, so the error
        reaches only the request that caused it and the others still get their answers."""
        live = [job for job in batch if not job.abandoned]
        if not live:
            return
        conversations = [conversation for job in live for conversation in job.conversations]
        self.metrics.observe("audiollm_batch_size", len(conversations))
        try:
            answers = self.assistant.chat(conversations, live[0].settings)
        except Exception as error:  # a failure must not kill the worker: report it and keep serving
            if len(live) > 1:
                for job in live:
                    self._run_batch([job])
            elif isinstance(error, AudioLLMError):
                live[0].deliver(from_library_error(error))
            else:
                log.exception("model call failed for a request of %d conversations", len(conversations))
                live[0].deliver(internal_error())
            return
        start = 0
        for job in live:
            job.deliver(answers[start : start + len(job.conversations)])
            start += len(job.conversations)

    def _run_stream(self, job: Job) -> None:
        """Pieces go to the handler as they come. An abandoned stream is still drained (the model's
        generate thread cannot be interrupted, and the next batch must not run beside it)."""
        self.metrics.observe("audiollm_batch_size", 1)
        try:
            for piece in self.assistant.stream(job.conversations[0], job.settings):
                if not job.abandoned:
                    job.push(piece)
            job.push(_END)
            job.deliver([])
        except AudioLLMError as error:
            job.push(_END)
            job.deliver(from_library_error(error))
        except Exception:
            log.exception("streaming generation failed")
            job.push(_END)
            job.deliver(internal_error())


def is_end(piece: object) -> bool:
    """True for the marker that ends a streaming job's pieces."""
    return piece is _END
