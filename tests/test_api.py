"""The high-level API on a tiny model: batching, streaming, long audio, errors."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from tiny_models import tiny_assistant

from audiollm.api import TRANSCRIBE, AudioAssistant, GenerationSettings, read_generation_defaults, with_windows
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


def test_transcription_windows_can_be_shorter_than_the_encoder_window():
    """transcribe_window_seconds cuts transcriptions and ASR requests into shorter windows, each transcribed on
    its own; every other request still hears the audio in the encoder's 30 s windows."""
    short = tiny_assistant(seed=0, batch_size=2, max_windows=1, transcribe_window_seconds=10.0)
    settings = GenerationSettings(max_new_tokens=3)
    clip = _tone(25.0, 300)
    assert [round(s.end - s.start, 3) for s in short.transcribe_segments(clip, settings)] == [10.0, 10.0, 5.0]
    request = SpeechRequest(TRANSCRIBE, clip, 3, extra={"task": "asr"})
    assert short.respond([request]) == [short.transcribe(clip, settings)]
    whole = short.respond([SpeechRequest("Summarise", clip, 3, extra={"task": "sds"})])[0]
    assert whole == short.chat([[Turn("user", "Summarise", [clip])]], settings)[0]  # one 25 s window, no cap error
    with pytest.raises(ConfigError, match="transcribe_window_seconds"):
        tiny_assistant(transcribe_window_seconds=45.0)
    with pytest.raises(ConfigError, match="transcribe_window_seconds"):
        tiny_assistant(transcribe_window_seconds=4.0, window_overlap_seconds=2.0)


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
    with _no_repeat_settings_seen(assistant) as calls:
        assistant.respond([SpeechRequest("hello there", None, 12, no_repeat_ngram_size=1)])
    assert calls == [1]


@contextmanager
def _no_repeat_settings_seen(assistant):
    """Record the no_repeat_ngram_size each generate call of the assistant's model receives."""
    calls, original = [], assistant.model.generate

    def recording_generate(**kwargs):
        calls.append(kwargs.get("no_repeat_ngram_size"))
        return original(**kwargs)

    assistant.model.generate = recording_generate
    try:
        yield calls
    finally:
        del assistant.model.generate


def test_model_generation_defaults_apply_unless_a_request_sets_its_own(assistant, tmp_path):
    """A folder's generation_config.json (MERaLiON-2 ships no_repeat_ngram_size 6) is the default of
    requests that leave the setting unset; 0 turns it off; the reports' identity names it."""
    (tmp_path / "generation_config.json").write_text('{"no_repeat_ngram_size": 6, "eos_token_id": 107}')
    defaults = read_generation_defaults(tmp_path)
    assert defaults == {"no_repeat_ngram_size": 6}
    guarded = AudioAssistant(assistant.model, assistant.processor, name="tiny", generation_defaults=defaults)
    with _no_repeat_settings_seen(assistant) as calls:
        for model, setting in ((guarded, None), (guarded, 0), (guarded, 2), (assistant, None)):
            model.respond([SpeechRequest("hello there", None, 4, no_repeat_ngram_size=setting)])
    assert calls == [6, None, 2, None]
    assert guarded.identity()["generation_defaults"] == {"no_repeat_ngram_size": 6}
    assert "generation_defaults" not in assistant.identity()
    (tmp_path / "generation_config.json").write_text('{"no_repeat_ngram_size": -1}')
    with pytest.raises(ConfigError, match="no_repeat_ngram_size"):
        read_generation_defaults(tmp_path)
    assert read_generation_defaults(tmp_path / "elsewhere") == {}


def test_identity_tells_a_retrained_model_from_the_one_before(assistant, tmp_path):
    """Retraining into the same folder changes the trained parts, so an evaluation cannot resume into
    the earlier model's answers."""
    in_folder = AudioAssistant(assistant.model, assistant.processor, name="tiny", folder=tmp_path)
    assert "trained_parts_sha256" not in in_folder.identity()
    (tmp_path / "trained_parts.safetensors").write_bytes(b"first run")
    first = in_folder.identity()["trained_parts_sha256"]
    (tmp_path / "trained_parts.safetensors").write_bytes(b"second run")
    assert in_folder.identity()["trained_parts_sha256"] != first


def test_errors_name_the_problem(assistant, tmp_path):
    with pytest.raises(PromptError, match="empty instruction"):
        assistant.ask(_tone(1.0, 300), "  ")
    with pytest.raises(AudioError, match="not found"):
        assistant.ask(str(tmp_path / "missing.wav"), "What is this?")
    with pytest.raises(AudioError):
        assistant.ask(b"definitely not audio", "What is this?")
