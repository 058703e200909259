"""Open-vocabulary ASR examples (`audiollm synth --open-text-hours`): sentence extraction, held-out split, build."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from audiollm.cli import synth
from audiollm.data import open_text
from audiollm.data.casting import NEURAL_SHIFT_PERCENT
from audiollm.data.open_text import (PASSAGE_MAX_CHARS, SENTENCE_END, is_held_out, plan_neural_voice, plan_open_passages,
                                     plan_open_text, read_sentences)
from audiollm.data.tts import synthesize
from audiollm.data.voices import NEURAL_INSTALL, NEURAL_SPEAKERS, Voice, available_voices, neural_voices
from audiollm.errors import ConfigError

from audio_checks import median_f0

needs_espeak = pytest.mark.skipif(not any(v.engine == "espeak" for v in available_voices()),
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")

WORDS = ("river", "lantern", "orchard", "violin", "harbour", "meadow", "thunder", "pencil", "garden", "castle")


def write_fortunes(folder: Path, count: int = 400) -> Path:
    """A fake fortune collection: `count` distinct plain sentences plus entries the reader must drop."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [f"The {WORDS[i % 10]} near the {WORDS[(i // 10) % 10]} keeps {WORDS[(i // 100) % 10]} "
               f"number {'x' * (1 + i // 1000)}{chr(97 + i % 26)}{chr(97 + (i // 26) % 26)} quietly." for i in range(count)]
    entries += [
        "Two whole sentences live here. The second one is also long enough to keep!\n\t\t-- A. Author",
        "Too short here.",
        "Call 555 0199 before nine in the morning please.",         # digits: not speakable as written
        "Q: Why did the chicken cross the busy road today?",        # a label, not speech
        "for (i = 0; i < n; i++) { print the value of it here; }",  # code
    ]
    (folder / "plain").write_text("\n%\n".join(entries) + "\n", encoding="latin-1")
    (folder / "plain.dat").write_bytes(b"\x00\x01index")
    (folder / "ascii-art").write_text("The castle of the river is drawn here with stars.\n%\n", encoding="latin-1")
    return folder


def test_sentences_are_speakable_single_sentences(tmp_path):
    sentences = read_sentences(write_fortunes(tmp_path / "fortunes", count=30))
    assert "Two whole sentences live here." in sentences
    assert "The second one is also long enough to keep!" in sentences
    assert len(sentences) == 32  # 30 plain + 2 split from one entry; the rest dropped
    for dropped in ("Too short", "555", "Q:", "for (", "drawn here", "Author"):
        assert not any(dropped in s for s in sentences), dropped
    assert sentences == sorted(set(sentences))


def test_missing_collection_names_the_package(tmp_path):
    with pytest.raises(ConfigError, match="apt-get install fortunes"):
        read_sentences(tmp_path / "absent")


def test_held_out_tenth_is_fixed_by_text():
    texts = [f"Sentence number {chr(97 + i % 26)}{chr(97 + i // 26)} is here." for i in range(600)]
    held = [t for t in texts if is_held_out(t)]
    assert 30 <= len(held) <= 90  # about a tenth
    assert held == [t for t in texts if is_held_out(t)]


@needs_espeak
def test_plan_keeps_test_sentences_out_of_train_and_is_seeded(tmp_path):
    folder = write_fortunes(tmp_path / "fortunes")
    specs = plan_open_text(3, 0.3, folder)
    assert specs == plan_open_text(3, 0.3, folder) and specs != plan_open_text(4, 0.3, folder)
    by_split = {split: [s for s in specs if s["split"] == split] for split in ("train", "test_open_text")}
    assert by_split["train"] and by_split["test_open_text"]
    assert all(not is_held_out(s["answer"]) and s["speakers"][0]["seen"] for s in by_split["train"])
    assert all(is_held_out(s["answer"]) and not s["speakers"][0]["seen"] for s in by_split["test_open_text"])
    for spec in specs:
        assert spec["task"] == "asr" and spec["language"] == "en" and spec["meta"]["open_text"]
        assert spec["answer"] == spec["meta"]["transcript"] == spec["segments"][0]["text"]
    assert plan_open_text(3, 0, folder) == []
    with pytest.raises(ConfigError, match="fewer hours"):
        plan_open_text(3, 50.0, folder)


@needs_espeak
def test_passages_join_two_to_four_sentences_of_the_right_pool(tmp_path):
    folder = write_fortunes(tmp_path / "fortunes")
    specs = plan_open_passages(3, 0.3, folder)
    assert specs == plan_open_passages(3, 0.3, folder) and specs != plan_open_passages(4, 0.3, folder)
    sentences = set(read_sentences(folder))
    by_split = {split: [s for s in specs if s["split"] == split] for split in ("train_open_passages", "test_open_passages")}
    assert by_split["train_open_passages"] and by_split["test_open_passages"] and len(specs) == sum(map(len, by_split.values()))
    for split, held_out, seen in (("train_open_passages", False, True), ("test_open_passages", True, False)):
        read = []
        for spec in by_split[split]:
            parts = SENTENCE_END.split(spec["answer"])  # sentences never hold this boundary, so it recovers them
            assert spec["answer"] == spec["meta"]["transcript"] == spec["segments"][0]["text"]
            assert len(spec["segments"]) == 1 and spec["speakers"][0]["seen"] is seen
            assert 2 <= len(parts) == spec["meta"]["passage_sentences"] <= 4
            assert len(spec["answer"]) <= PASSAGE_MAX_CHARS and spec["id"].startswith(f"{split}-asr-passage-")
            assert all(p in sentences and is_held_out(p) == held_out for p in parts)
            read += parts
        assert len(read) == len(set(read))  # no sentence twice within a split
    assert plan_open_passages(3, 0, folder) == []
    with pytest.raises(ConfigError, match="fewer hours"):
        plan_open_passages(3, 50.0, folder)


@needs_espeak
def test_synth_adds_open_text_rows_and_a_test_split(tmp_path, monkeypatch):
    monkeypatch.setattr(open_text, "FORTUNE_DIR", write_fortunes(tmp_path / "fortunes"))
    parser = argparse.ArgumentParser()
    synth.register(parser.add_subparsers())
    out = tmp_path / "corpus"
    args = parser.parse_args(["synth", "--out", str(out), "--hours", "0.005", "--tasks", "asr", "--languages", "en",
                              "--no-real", "--quiet", "--open-text-hours", "0.02",
                              "--open-passage-hours", "0.03", "--neural-voice-hours", "0.01"])
    assert args.run(args) == 0
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (out / "test_open_text.jsonl").read_text().splitlines()]
    open_rows = [r for r in train if r["meta"].get("open_text")]
    assert open_rows and len(open_rows) < len(train) and test
    for row in open_rows + test:
        assert row["answer"] == row["meta"]["transcript"] and (out / row["audio"]).stat().st_size > 1000
    assert {r["split"] for r in test} == {"test_open_text"}
    assert json.loads((out / "plan.json").read_text())["args"]["open_text_hours"] == 0.02
    for split in ("train_open_passages", "test_open_passages"):
        rows = [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]
        assert rows and {r["split"] for r in rows} == {split}
        assert all(r["meta"]["passage_sentences"] >= 2 and r["duration"] <= 30.0 for r in rows)
    neural = [json.loads(line) for line in (out / "train_neural_voice.jsonl").read_text().splitlines()]
    assert neural and {r["speakers"][0]["engine"] for r in neural} == {"piper"}
    assert all((out / r["audio"]).stat().st_size > 1000 for r in neural)
    plan = json.loads((out / "plan.json").read_text())["args"]
    assert plan["neural_voice_hours"] == 0.01 and "neural_voices" not in plan  # joe alone: the default, unrecorded


def test_neural_voice_plan_reads_shared_sentences_at_many_shifts(tmp_path):
    folder = write_fortunes(tmp_path / "fortunes")
    joe = Voice("piper", "en_US-joe-medium", "piper-joe", "male", "American", "en", True)
    specs = plan_neural_voice(3, 0.3, folder, voices=(joe,))
    assert specs == plan_neural_voice(3, 0.3, folder, voices=(joe,)) != plan_neural_voice(4, 0.3, folder, voices=(joe,))
    assert sum(s["estimate"] for s in specs) >= 0.3 * 3600 * 0.8
    sentences, read = set(read_sentences(folder)), []
    for spec in specs:
        parts = SENTENCE_END.split(spec["answer"])
        assert spec["split"] == "train_neural_voice" and spec["answer"] == spec["meta"]["transcript"]
        assert spec["speakers"] == [{**joe.as_meta(), "speed": spec["segments"][0]["speed"],
                                     "pitch": spec["segments"][0]["pitch"]}]
        assert NEURAL_SHIFT_PERCENT[0] <= spec["segments"][0]["pitch"] <= NEURAL_SHIFT_PERCENT[1]
        assert len(parts) == spec["meta"].get("passage_sentences", 1) and len(spec["answer"]) <= PASSAGE_MAX_CHARS
        assert all(p in sentences and not is_held_out(p) for p in parts)  # never a test sentence
        read += parts
    assert len(read) == len(set(read))
    kinds = {spec["meta"].get("passage_sentences", 1) > 1 for spec in specs}
    assert kinds == {True, False}  # both passages and single sentences
    assert len({spec["segments"][0]["pitch"] for spec in specs}) > 10
    assert plan_neural_voice(3, 0, folder, voices=()) == []
    with pytest.raises(ConfigError, match="piper-tts"):
        plan_neural_voice(3, 0.1, folder, voices=())
    with pytest.raises(ConfigError, match="nobody"):
        plan_neural_voice(3, 0.1, folder, speakers=("nobody",))


def test_two_neural_voices_share_the_reading(tmp_path):
    folder = write_fortunes(tmp_path / "fortunes")
    joe = Voice("piper", "en_US-joe-medium", "piper-joe", "male", "American", "en", True)
    heart = Voice("hibari", "heart", "hibari-heart", "female", "American", "en", True)
    both = plan_neural_voice(3, 0.3, folder, voices=(joe, heart))
    engines = [spec["speakers"][0]["engine"] for spec in both]
    assert 0.3 < engines.count("hibari") / len(engines) < 0.7
    assert all(NEURAL_SHIFT_PERCENT[0] <= spec["segments"][0]["pitch"] <= NEURAL_SHIFT_PERCENT[1] for spec in both)
    # the same sentences in the same order: only who reads them (and their settings) differs
    assert [s["answer"] for s in both] == [s["answer"] for s in plan_neural_voice(3, 0.3, folder, voices=(joe,))]


@pytest.mark.parametrize("speaker", NEURAL_SPEAKERS)
def test_neural_voice_renders_the_same_audio_twice_and_shifts_pitch(speaker):
    if not neural_voices((speaker,)):
        pytest.skip(f"{speaker} is not installed ({NEURAL_INSTALL})")
    voice = neural_voices((speaker,))[0]
    text = "The lantern near the harbour keeps the river quiet."
    plain = synthesize(voice, text, "en", 1.0, 100)
    assert np.array_equal(plain, synthesize(voice, text, "en", 1.0, 100))  # no unseeded sampling noise
    higher = synthesize(voice, text, "en", 1.0, 112)
    assert abs(len(higher) / len(plain) - 1) < 0.1  # the shift keeps the duration ...
    assert 1.1 < len(synthesize(voice, text, "en", 0.8, 100)) / len(plain) < 1.3  # ... speed sets it (phonemes 1.25x)
    # ... and raises the pitch (the voice's own prosody moves with the stretched phonemes: not exactly 1.12x)
    assert 1.05 < median_f0(higher) / median_f0(plain) < 1.2
