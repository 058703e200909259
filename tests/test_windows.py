"""Window strategies for long audio: fixed 30 s windows, cuts at pauses, overlap, and transcript joins."""

from __future__ import annotations

import numpy as np
import pytest

from audiollm.audio import join_transcripts, split_into_windows, window_bounds
from audiollm.errors import AudioError

SR = 16000


def _speech_with_pauses(seconds: float, pauses: list[float]) -> np.ndarray:
    """Loud noise everywhere except 300 ms of silence centred at each pause time."""
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, int(seconds * SR)).astype(np.float32)
    for pause in pauses:
        audio[int((pause - 0.15) * SR):int((pause + 0.15) * SR)] = 0.0
    return audio


def test_pause_strategy_cuts_in_the_silence_before_the_window_end():
    audio = _speech_with_pauses(70.0, [27.0, 55.5])
    bounds = window_bounds(audio, strategy="pause")
    cuts = [end / SR for _, end in bounds[:-1]]
    assert len(cuts) == 2 and abs(cuts[0] - 27.0) < 0.1 and abs(cuts[1] - 55.5) < 0.1
    assert bounds[0][0] == 0 and bounds[-1][1] == len(audio)
    assert all(end == next_start for (_, end), (next_start, _) in zip(bounds, bounds[1:]))  # no gaps, no overlap
    assert all(end - start <= 30 * SR for start, end in bounds)


def test_pause_strategy_without_pauses_still_never_exceeds_30_seconds():
    audio = _speech_with_pauses(95.0, [])
    windows = split_into_windows(audio, max_windows=None, strategy="pause")
    assert all(w.size <= 30 * SR for w in windows)
    np.testing.assert_array_equal(np.concatenate(windows), audio)  # every sample, in order, once


def test_overlap_repeats_the_boundary_and_covers_everything():
    audio = np.arange(65 * SR, dtype=np.float32)
    bounds = window_bounds(audio, overlap_seconds=2.0)
    assert [(s / SR, e / SR) for s, e in bounds] == [(0.0, 30.0), (28.0, 58.0), (56.0, 65.0)]
    with pytest.raises(AudioError, match="overlap_seconds"):
        window_bounds(audio, overlap_seconds=10.0)
    with pytest.raises(AudioError, match="strategy"):
        window_bounds(audio, strategy="silence")


def test_cap_counts_the_windows_the_strategy_makes():
    audio = np.zeros(65 * SR, dtype=np.float32)
    with pytest.raises(AudioError, match="needs 3 windows"):
        split_into_windows(audio, max_windows=2, overlap_seconds=2.0)
    with pytest.warns(UserWarning, match=r"dropping the last 7\.0 s"):
        kept = split_into_windows(audio, max_windows=2, on_overflow="truncate", overlap_seconds=2.0)
    assert [w.size / SR for w in kept] == [30.0, 30.0]


def test_join_transcripts_keeps_repeated_words_once_only_when_windows_overlap():
    texts = ["we meet at Tampines MRT at", "MRT at seven, okay?", "okay? see you"]
    assert join_transcripts(texts, overlapping=True) == "we meet at Tampines MRT at seven, okay? see you"
    assert join_transcripts(["yes yes", "yes no", ""], overlapping=False) == "yes yes yes no"


def test_processor_windows_follow_the_config_strategy():
    from tiny_models import tiny_config, tiny_tokenizer

    from audiollm.processor import AudioLLMProcessor, Turn

    audio = _speech_with_pauses(70.0, [27.0, 55.5])
    config = tiny_config(encoder_input="real", window_strategy="pause")
    _, _, windows = AudioLLMProcessor(tiny_tokenizer(), config).encode([Turn("user", "hi", [audio])])
    assert [round(len(w) / SR, 1) for w in windows] == [27.0, 28.5, 14.5]
