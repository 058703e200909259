"""The server end to end, through the real openai client: chat with audio, streaming, transcription,
and many parallel clients whose batched answers equal the one-by-one answers (greedy decoding).

A tiny model built in code serves on a free 127.0.0.1 port in a background thread. Expected answers
come from the same AudioAssistant called directly (while the server is idle), so "correct" means
"what the library answers for the same conversation".
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from tiny_models import tiny_assistant

from audiollm.api import TRANSCRIBE, TRANSLATE, AudioAssistant, GenerationSettings
from audiollm.processor import Turn
from audiollm.serve import AudioLLMClient, BackgroundServer, ServerSettings, create_app

MAX_TOKENS = 6


def tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def heard(samples: np.ndarray) -> np.ndarray:
    """What the server decodes from the 16-bit WAV of `samples` (the expected answers use this)."""
    return sf.read(io.BytesIO(wav_bytes(samples)), dtype="float32")[0]


def input_audio(samples: np.ndarray) -> dict:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav_bytes(samples)).decode(),
                                                   "format": "wav"}}


def audio_url(samples: np.ndarray) -> dict:
    data = base64.b64encode(wav_bytes(samples)).decode()
    return {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{data}"}}


@pytest.fixture(scope="module")
def assistant() -> AudioAssistant:
    return tiny_assistant(seed=1, batch_size=16, max_windows=2)


@pytest.fixture(scope="module")
def server(assistant):
    settings = ServerSettings(max_batch_size=8, max_wait_ms=50, default_max_tokens=MAX_TOKENS,
                              transcription_max_tokens=4)
    with BackgroundServer(create_app(assistant, settings), settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def greedy(assistant, conversation, max_tokens=MAX_TOKENS, **options) -> str:
    return assistant.chat([conversation], GenerationSettings(max_new_tokens=max_tokens, **options))[0]


def test_chat_with_input_audio_matches_the_library(assistant, client):
    clip = tone(1.0, 300)
    reply = client.chat.completions.create(
        model="tiny", max_tokens=MAX_TOKENS, temperature=0,
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}, input_audio(clip)]}])
    assert reply.choices[0].message.content == greedy(assistant, [Turn("user", "What is this?", [heard(clip)])])
    assert reply.model == "tiny" and reply.choices[0].finish_reason in ("stop", "length")
    expected_prompt = len(assistant.processor.encode([Turn("user", "What is this?", [heard(clip)])])[0])
    assert reply.usage.prompt_tokens == expected_prompt and reply.usage.completion_tokens > 0


def test_speechhere_marker_and_audio_url_follow_meralion_shape(assistant, client):
    # MERaLiON-2's vLLM request: the text carries <SpeechHere>, the audio is an audio_url data URI.
    text = ("Instruction: Please transcribe this speech. \n"
            "Follow the text instruction based on the following audio: <SpeechHere>")
    clip = tone(1.5, 500)
    reply = client.chat.completions.create(
        model="tiny", max_completion_tokens=MAX_TOKENS, temperature=0.0, top_p=0.9, seed=42,
        messages=[{"role": "user", "content": [{"type": "text", "text": text}, audio_url(clip)]}])
    assert reply.choices[0].message.content == greedy(assistant, [Turn("user", text, [heard(clip)])])


def test_several_audios_and_turns(assistant, client):
    first, second, third = tone(0.5, 200), tone(1.0, 700), tone(0.7, 900)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Compare <SpeechHere> with <SpeechHere>"},
                                     input_audio(first), audio_url(second)]},
        {"role": "assistant", "content": "They differ."},
        {"role": "user", "content": [{"type": "text", "text": "And this one?"}, input_audio(third)]},
    ]
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=MAX_TOKENS)
    conversation = [Turn("user", "Be brief.\nCompare <SpeechHere> with <SpeechHere>", [heard(first), heard(second)]),
                    Turn("assistant", "They differ."), Turn("user", "And this one?", [heard(third)])]
    assert reply.choices[0].message.content == greedy(assistant, conversation)


def test_streaming_adds_up_to_the_plain_answer(assistant, client):
    clip = tone(1.0, 400)
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe it"}, input_audio(clip)]}]
    chunks = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == greedy(assistant, [Turn("user", "Describe it", [heard(clip)])], max_tokens=8)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_stop_strings_cut_plain_and_streamed_answers_alike(assistant, client):
    messages = [{"role": "user", "content": "lor meh 0123"}]
    full = greedy(assistant, [Turn("user", "lor meh 0123")], max_tokens=8)
    assert len(full) >= 3
    stop = full[2:4]
    plain = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, stop=[stop])
    streamed = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, stop=stop, stream=True)
    assert plain.choices[0].message.content == full[: full.index(stop)].strip()
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == full[: full.index(stop)].strip()


def test_seeded_sampling_repeats(client):
    messages = [{"role": "user", "content": "hello there"}]
    answers = {client.chat.completions.create(model="tiny", messages=messages, temperature=1.0, seed=7,
                                              max_tokens=8).choices[0].message.content for _ in range(2)}
    assert len(answers) == 1


def test_transcription_formats(assistant, client):
    clip = tone(45.0, 300)  # two 30 s windows: two segments with timestamps
    settings = GenerationSettings(max_new_tokens=4)
    segments = assistant.transcribe_segments(heard(clip), settings)
    audio = ("clip.wav", wav_bytes(clip))
    verbose = client.audio.transcriptions.create(model="tiny", file=audio, response_format="verbose_json")
    assert [(s.start, s.end, s.text) for s in verbose.segments] == [(0.0, 30.0, segments[0].text),
                                                                  (30.0, 45.0, segments[1].text)]
    assert verbose.duration == 45.0
    joined = " ".join(s.text for s in segments if s.text)
    assert client.audio.transcriptions.create(model="tiny", file=audio).text == joined
    assert client.audio.transcriptions.create(model="tiny", file=audio, response_format="text").strip() == joined
    srt = client.audio.transcriptions.create(model="tiny", file=audio, response_format="srt")
    assert "00:00:30,000 --> 00:00:45,000" in srt
    vtt = client.audio.transcriptions.create(model="tiny", file=audio, response_format="vtt")
    assert vtt.startswith("WEBVTT") and "00:00:00.000 --> 00:00:30.000" in vtt


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the openai client marks translations deprecated
def test_translation_uses_the_translate_instruction(assistant, client):
    clip = tone(2.0, 600)
    reply = client.audio.translations.create(model="tiny", file=("clip.wav", wav_bytes(clip)))
    instruction = TRANSLATE.format(language="English")
    assert reply.text == greedy(assistant, [Turn("user", instruction, [heard(clip)])], max_tokens=4)
    assert instruction != TRANSCRIBE


def test_models_health_metrics(server, client):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    with AudioLLMClient(server.url) as small:
        assert small.health()["status"] == "ok"
        metrics = small.metrics()
    for name in ("audiollm_requests_total", "audiollm_request_duration_seconds_bucket", "audiollm_queue_depth",
                 "audiollm_prompt_tokens_total", "audiollm_completion_tokens_total", "audiollm_batch_size_count"):
        assert name in metrics


def _conversations() -> list[tuple[list, list[Turn]]]:
    """16 different requests (OpenAI content, the same conversation for the library)."""
    cases = []
    for index in range(16):
        text = ["What is this?", "hello there", "lor meh 0123", "the quick brown fox"][index % 4]
        if index % 3 == 2:  # some text-only requests batch with the audio ones
            cases.append(([{"type": "text", "text": text}], [Turn("user", text)]))
            continue
        clip = tone(0.4 + 0.1 * index, 150 + 60 * index)
        cases.append(([{"type": "text", "text": text}, input_audio(clip)], [Turn("user", text, [heard(clip)])]))
    return cases


def test_parallel_clients_get_their_own_one_by_one_answers(assistant, server, client):
    cases = _conversations()
    expected = [greedy(assistant, conversation) for _, conversation in cases]
    assert len(set(expected)) >= 3  # answers differ, so a mix-up between requests would show
    before = float(_metric(server, "audiollm_batch_size_count"))

    def ask(content):
        reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": content}],
                                               max_tokens=MAX_TOKENS, temperature=0)
        return reply.choices[0].message.content

    for _ in range(2):
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, [content for content, _ in cases]))
        assert answers == expected
    batches = float(_metric(server, "audiollm_batch_size_count")) - before
    assert batches < 2 * len(cases)  # requests really shared model calls


def _metric(server, name: str) -> str:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return line.split()[-1]
    raise AssertionError(f"{name} not in /metrics")


def test_the_evaluation_http_client_gets_the_library_answers(assistant, server):
    from audiollm.evaluate.http_client import HttpResponder
    from audiollm.inference import SpeechRequest

    clip = tone(1.0, 350)
    responder = HttpResponder(server.url, workers=2)
    try:
        answers = responder.respond([SpeechRequest("What is this?", clip, max_new_tokens=MAX_TOKENS),
                                     SpeechRequest("hello there", None, max_new_tokens=MAX_TOKENS)])
    finally:
        responder.close()
    assert answers == [greedy(assistant, [Turn("user", "What is this?", [heard(clip)])]),
                       greedy(assistant, [Turn("user", "hello there")])]
