"""Server parts without HTTP: the batching scheduler, streamed-text matching, transcript formats, metrics."""

from __future__ import annotations

import asyncio
import threading

import pytest

from audiollm.api import GenerationSettings, Segment
from audiollm.errors import PromptError
from audiollm.processor import Turn
from audiollm.serve import formats
from audiollm.serve.chat import StreamText
from audiollm.serve.errors import APIError
from audiollm.serve.metrics import Metrics
from audiollm.serve.scheduler import Scheduler, batch_key, is_end
from audiollm.serve.settings import ServerSettings


class EchoAssistant:
    """Answers each conversation with its last text; records the size of every call."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()

    def chat(self, conversations, settings):
        self.gate.wait(10)
        texts = [conversation[-1].text for conversation in conversations]
        self.calls.append(texts)
        if "bad" in texts:
            raise PromptError("bad prompt")
        if "boom" in texts:
            raise RuntimeError("a bug")
        return [text.upper() for text in texts]

    def stream(self, conversation, settings):
        yield from ["  HEL", "LO "]


def run_jobs(scheduler: Scheduler, jobs: list[tuple[str, GenerationSettings]], hold_first: bool = False):
    """Submit all jobs at once (optionally while the first model call is held); gather answers or errors."""
    assistant = scheduler.assistant

    async def main():
        if hold_first:
            assistant.gate.clear()
            first = asyncio.ensure_future(scheduler.run([[Turn("user", "first")]], GenerationSettings()))
            await asyncio.sleep(0.2)  # the worker is now inside the held call
        tasks = [asyncio.ensure_future(scheduler.run([[Turn("user", text)]], settings)) for text, settings in jobs]
        await asyncio.sleep(0.05)
        assistant.gate.set()
        if hold_first:
            await first
        return await asyncio.gather(*tasks, return_exceptions=True)

    scheduler.start()
    try:
        return asyncio.run(main())
    finally:
        scheduler.stop()


def test_requests_queued_together_share_calls_up_to_the_batch_size():
    assistant = EchoAssistant()
    scheduler = Scheduler(assistant, max_batch_size=3, max_wait_ms=20, max_queue=16, metrics=Metrics())
    results = run_jobs(scheduler, [(f"q{i}", GenerationSettings()) for i in range(7)], hold_first=True)
    assert results == [[f"Q{i}"] for i in range(7)]
    assert [len(call) for call in assistant.calls] == [1, 3, 3, 1]


def test_different_settings_do_not_share_a_call_and_seeded_sampling_runs_alone():
    assistant = EchoAssistant()
    scheduler = Scheduler(assistant, max_batch_size=8, max_wait_ms=20, max_queue=16, metrics=Metrics())
    seeded = GenerationSettings(temperature=0.7, seed=3)
    jobs = [("a", GenerationSettings()), ("b", GenerationSettings(max_new_tokens=9)), ("c", GenerationSettings()),
            ("d", seeded), ("e", seeded)]
    assert run_jobs(scheduler, jobs, hold_first=True) == [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert sorted(assistant.calls[1:]) == [["a", "c"], ["b"], ["d"], ["e"]]
    assert batch_key(GenerationSettings(top_p=0.5)) == batch_key(GenerationSettings())  # greedy ignores top_p
    # A transcription may decode otherwise (the reader copy bias's transcript anchor): never batched with a chat.
    assert batch_key(GenerationSettings(transcribing=True)) != batch_key(GenerationSettings())


def test_a_failing_request_fails_alone_not_its_batch():
    assistant = EchoAssistant()
    scheduler = Scheduler(assistant, max_batch_size=8, max_wait_ms=20, max_queue=16, metrics=Metrics())
    jobs = [("x", GenerationSettings()), ("bad", GenerationSettings()), ("y", GenerationSettings()),
            ("boom", GenerationSettings())]
    results = run_jobs(scheduler, jobs, hold_first=True)
    assert results[0] == ["X"] and results[2] == ["Y"]
    assert isinstance(results[1], APIError) and results[1].status == 400  # the user's error, named
    assert isinstance(results[3], APIError) and results[3].status == 500  # a bug, reported as one
    assert scheduler.alive is False  # stopped by run_jobs, not by the failures


def test_streams_run_alone_and_end():
    scheduler = Scheduler(EchoAssistant(), max_batch_size=8, max_wait_ms=0, max_queue=4, metrics=Metrics())

    async def main():
        job = scheduler.stream([Turn("user", "hi")], GenerationSettings())
        pieces = []
        while not is_end(piece := await job.pieces.get()):
            pieces.append(piece)
        await job.future
        return pieces

    scheduler.start()
    try:
        assert asyncio.run(main()) == ["  HEL", "LO "]
    finally:
        scheduler.stop()


@pytest.mark.parametrize("pieces, stops, expected", [
    (["  Hel", "lo wor", "ld  "], [], "Hello world"),
    (["Hello. ", "STOP", " more"], ["STOP"], "Hello."),
    (["Hello ST", "ILL here"], ["STOP"], "Hello STILL here"),
    (["ab", "c##", "#d"], ["###"], "abc"),
    (["\n", " ", "x"], [], "x"),
])
def test_stream_text_matches_strip_and_stop_of_the_plain_answer(pieces, stops, expected):
    text = StreamText(stops)
    out = "".join(text.feed(piece) for piece in pieces) + text.finish()
    assert out == expected


def test_transcript_formats():
    segments = [Segment(0.0, 30.0, "hello there"), Segment(30.0, 61.5, ""), Segment(61.5, 3725.25, "bye")]
    assert formats.srt(segments) == ("1\n00:00:00,000 --> 00:00:30,000\nhello there\n\n"
                                     "2\n00:01:01,500 --> 01:02:05,250\nbye\n\n")
    assert formats.vtt(segments).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:30.000\nhello there\n\n")
    verbose = formats.verbose_json(segments, "hello there bye", 3725.25, "transcribe", "en", 0.0, lambda text: [len(text)])
    assert [s["start"] for s in verbose["segments"]] == [0.0, 30.0, 61.5]
    assert verbose["segments"][0]["tokens"] == [11] and verbose["text"] == "hello there bye"


def test_metrics_render_prometheus_text():
    metrics = Metrics()
    metrics.gauge_from("audiollm_queue_depth", lambda: 3)
    metrics.inc("audiollm_requests_total", endpoint="/health", status="200")
    metrics.observe("audiollm_request_duration_seconds", 0.3, endpoint="/health")
    text = metrics.render()
    assert "audiollm_queue_depth 3" in text
    assert 'audiollm_requests_total{endpoint="/health",status="200"} 1' in text
    assert 'audiollm_request_duration_seconds_bucket{endpoint="/health",le="0.25"} 0' in text
    assert 'audiollm_request_duration_seconds_bucket{endpoint="/health",le="0.5"} 1' in text
    assert "# TYPE audiollm_batch_size histogram" in text


def test_settings_are_checked():
    with pytest.raises(Exception, match="max_queue"):
        ServerSettings(max_queue=0)
    assert ServerSettings().audio_seconds_limit(30.0, 10) == 300.0
    assert ServerSettings(max_audio_seconds=20).audio_seconds_limit(30.0, 10) == 20
