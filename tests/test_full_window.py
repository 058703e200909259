"""train_full_window: one voice's ASR clips joined into recordings that fill, and never pass, one 30 s window."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audiollm.data.full_window import MANIFEST, MIN_VOICE_CLIPS, build_full_window_training
from audiollm.errors import ConfigError

RATE = 16000
GAP = 0.3


def _clip_row(root, name, voice, language, seconds, task="asr", no_speech=False):
    """A manifest row with its own audio: noise at a level unique to the clip, so joins can be traced."""
    level = 0.01 + (hash(name) % 1000) / 5000
    audio = (np.random.default_rng(abs(hash(name)) % 2**32).uniform(-1, 1, int(seconds * RATE)) * level)
    path = root / "audio" / f"{name}.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.astype(np.float32), RATE, subtype="PCM_16")
    meta = {"no_speech": True} if no_speech else {}
    return {"id": name, "task": task, "instruction": "Transcribe.", "answer": f"words of {name}",
            "audio": f"audio/{name}.flac", "duration": seconds, "language": language, "split": "train_neural_voice",
            "speakers": [{"speaker": voice, "pitch": 90 + len(name)}], "meta": meta}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    rng = np.random.default_rng(0)
    rows = [_clip_row(root, f"a{i}", "voice-a", "en", float(rng.uniform(3, 7))) for i in range(14)]
    rows += [_clip_row(root, f"b{i}", "voice-b", "ms", float(rng.uniform(3, 7))) for i in range(MIN_VOICE_CLIPS)]
    rows += [_clip_row(root, f"c{i}", "voice-c", "en", 4.0) for i in range(MIN_VOICE_CLIPS - 1)]  # too few clips
    rows += [_clip_row(root, f"s{i}", "voice-a", "en", 4.0, no_speech=True) for i in range(3)]  # silence: never joined
    rows += [_clip_row(root, f"q{i}", "voice-a", "en", 4.0, task="sqa") for i in range(3)]  # not ASR: never joined
    manifest = root / "train_neural_voice.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root, {row["id"]: row for row in rows}


def test_recordings_fill_one_window_with_one_voice(source, tmp_path):
    root, clips = source
    manifest = build_full_window_training([root / "train_neural_voice.jsonl"], tmp_path, hours=0.3, seed=3, gap=GAP)
    assert manifest == tmp_path / MANIFEST
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert sum(row["duration"] for row in rows) >= 0.3 * 3600
    for row in rows:
        parts = [clips[i] for i in row["meta"]["parts"]]
        # With clips of at most 7 s, a recording stops only once no clip fits: past 29.5 - 7.3 s.
        assert 20.0 <= row["duration"] <= 29.5 and row["split"] == "train_full_window" and row["task"] == "asr"
        assert len({p["speakers"][0]["speaker"] for p in parts}) == 1 and {p["language"] for p in parts} == {row["language"]}
        assert all(p["task"] == "asr" and not p["meta"] for p in parts) and "voice-c" not in json.dumps(parts)
        assert len(set(row["meta"]["parts"])) == len(parts)
        assert row["answer"] == " ".join(p["answer"] for p in parts)
        audio, rate = sf.read(tmp_path / row["audio"], dtype="float32")
        assert rate == RATE and len(audio) / RATE == pytest.approx(row["duration"])
        expected = []
        for part in parts:
            expected += [sf.read(root / part["audio"], dtype="float32")[0], np.zeros(int(GAP * RATE), np.float32)]
        np.testing.assert_allclose(audio, np.concatenate(expected[:-1]), atol=1e-4)
    assert {row["language"] for row in rows} == {"en", "ms"}


def test_same_settings_reuse_the_build_and_bad_lengths_are_refused(source, tmp_path):
    root, _ = source
    sources = [root / "train_neural_voice.jsonl"]
    manifest = build_full_window_training(sources, tmp_path, hours=0.02, seed=1)
    before = manifest.stat().st_mtime_ns
    assert build_full_window_training(sources, tmp_path, hours=0.02, seed=1).stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="one 30 s window"):
        build_full_window_training(sources, tmp_path / "x", hours=0.02, seed=1, seconds=(25.0, 31.0))
    with pytest.raises(ConfigError, match="hours > 0"):
        build_full_window_training(sources, tmp_path / "x", hours=0.0)
