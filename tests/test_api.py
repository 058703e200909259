"""The high-level API on a tiny model: batching, streaming, long audio, errors."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import tiny_assistant

from audiollm.api import TRANSCRIBE, AudioAssistant, GenerationSettings, with_windows
from audiollm.errors import AudioError, ConfigError, PromptError
from audiollm.inference import Responder, SpeechRequest
from audiollm.processor import Turn


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture(scope="module")
def assistant() -> AudioAssistant:
    return tiny_assistant(seed=0, batch_size=2, max_windows=1)


def test_list_in_list_out_matches_one_by_one(assistant):
    clips = [_tone(1.0, 200), _tone(2.0, 400), _tone(0.5, 800)]
    settings = GenerationSettings(max_new_tokens=5)
    batched = assistant.ask(clips, "What is this?", settings)
    assert batched == [assistant.ask(clip, "What is this?", settings) for clip in clips]


def test_stream_joins_to_the_greedy_answer(assistant):
    settings = GenerationSettings(max_new_tokens=8)
    conversation = [Turn("user", "Describe it", [_tone(1.0, 300)])]
    pieces = list(assistant.stream(conversation, settings))
    assert "".join(pieces).strip() == assistant.chat([conversation], settings)[0]


def test_seeded_sampling_is_reproducible(assistant):
    settings = GenerationSettings(max_new_tokens=8, temperature=1.0, seed=7)
    first = assistant.ask(_tone(1.0, 300), "Say something", settings)
    assert first == assistant.ask(_tone(1.0, 300), "Say something", settings)


def test_long_audio_is_transcribed_piece_by_piece_not_dropped(assistant):
    # The tiny model allows one 30 s window; 65 s becomes three pieces whose transcripts are joined.
    segments = assistant.transcribe_segments(_tone(65.0, 300), GenerationSettings(max_new_tokens=3))
    assert [round(s.end - s.start, 3) for s in segments] == [30.0, 30.0, 5.0]
    joined = assistant.transcribe(_tone(65.0, 300), GenerationSettings(max_new_tokens=3))
    assert joined == " ".join(s.text for s in segments if s.text)


def test_long_asr_requests_are_answered_window_by_window(assistant):
    """The eval path: a 65 s ASR request gives the same transcript as transcribe(), not a window-cap error."""
    settings = GenerationSettings(max_new_tokens=3)
    long_clip, short_clip = _tone(65.0, 300), _tone(2.0, 500)
    requests = [SpeechRequest(TRANSCRIBE, long_clip, 3, extra={"task": "asr"}),
                SpeechRequest(TRANSCRIBE, short_clip, 3, extra={"task": "asr"})]
    assert assistant.respond(requests) == [assistant.transcribe(long_clip, settings),
                                           assistant.transcribe(short_clip, settings)]
    with pytest.raises(AudioError, match="windows"):  # other tasks still hear the audio as one conversation
        assistant.respond([SpeechRequest("Summarise", long_clip, 3, extra={"task": "sds"})])


def test_window_policy_can_be_chosen_at_load(assistant):
    config = with_windows(assistant.processor.config, "pause:2")
    assert (config.window_strategy, config.window_overlap_seconds) == ("pause", 2.0)
    before = assistant.identity()
    other = AudioAssistant(assistant.model, assistant.processor, name="tiny")
    other.model = type("Wrapped", (), {"config": config})()  # the same weights under another window policy
    assert other.identity()["config_sha256"] != before["config_sha256"]
    assert other.identity()["window_strategy"] == "pause" and before["window_strategy"] == "fixed"
    with pytest.raises(ConfigError, match="strategy:overlap"):
        with_windows(config, "pause:soon")
    with pytest.raises(ConfigError, match="window_strategy"):
        with_windows(config, "silence")


def test_responder_interface(assistant):
    assert isinstance(assistant, Responder)
    requests = [SpeechRequest("Transcribe", _tone(1.0, 300), max_new_tokens=4), SpeechRequest("hello there", None, 4)]
    answers = assistant.respond(requests)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    # The loop guard (no n-gram twice in an answer) reaches generate.
    calls = []
    original = assistant.model.generate

    def recording_generate(**kwargs):
        calls.append(kwargs.get("no_repeat_ngram_size"))
        return original(**kwargs)

    assistant.model.generate = recording_generate
    try:
        assistant.respond([SpeechRequest("hello there", None, 12, no_repeat_ngram_size=1)])
    finally:
        del assistant.model.generate
    assert calls == [1]


def test_errors_name_the_problem(assistant, tmp_path):
    with pytest.raises(PromptError, match="empty instruction"):
        assistant.ask(_tone(1.0, 300), "  ")
    with pytest.raises(AudioError, match="not found"):
        assistant.ask(str(tmp_path / "missing.wav"), "What is this?")
    with pytest.raises(AudioError):
        assistant.ask(b"definitely not audio", "What is this?")
