"""The corpus text generator, voice table and label construction, without rendering a corpus."""

from __future__ import annotations

import random

import pytest

from audiollm.data import lexicon, numbers, places
from audiollm.data.conventions import PITCH_F0
from audiollm.data.instructions import LANGUAGE_NAMES, wordings
from audiollm.data.plan import plan_corpus
from audiollm.data.singlish import SINGLISH
from audiollm.data.templates import PARALLEL, slot_kind
from audiollm.data.textgen import ENTITY_POOLS, TextSampler
from audiollm.data.voices import all_voices, available_voices, pitch_for_f0

from audio_checks import median_f0


def test_numbers_are_spelled_in_each_language():
    assert numbers.number_words(1234, "en") == "one thousand two hundred and thirty-four"
    assert numbers.number_words(105, "zh") == "一百零五"
    assert numbers.number_words(21, "ms") == "dua puluh satu"
    assert numbers.number_words(25, "ta") == "இருபத்து ஐந்து"
    assert numbers.price_words(450, "zh") == "四块五"
    assert numbers.price_words(450, "en") == "four dollars fifty cents"
    assert numbers.time_words(19, 30, "en") == "half past seven in the evening"
    assert numbers.date_words(9, 8, "en") == "the ninth of August"
    assert numbers.phone_words("91128876", "en") == "nine double one two, double eight seven six"
    assert numbers.display_price(1205) == "$12.05" and numbers.display_time(0, 5) == "12:05 am"


def test_templates_cover_four_languages_with_the_same_slots():
    import re

    assert len(PARALLEL) >= 50 and len(SINGLISH) >= 40
    for template in PARALLEL:
        slots = set(template.slots)
        for text in template.texts.values():
            assert set(re.findall(r"\{([a-z]+\d?)\}", text)) == slots, template.key
        assert template.questions and set(template.questions) <= slots
    for template in PARALLEL + SINGLISH:
        for slot in template.slots:
            assert slot_kind(slot) in ENTITY_POOLS or slot_kind(slot) in {
                "count", "days", "km", "floor", "counter", "students", "temp", "queue", "bus", "minutes", "price",
                "amount", "time", "day", "date", "phone", "block", "particle"}, (template.key, slot)
    assert any(t.holdout for t in PARALLEL) and any(not t.holdout for t in PARALLEL)


def test_sampler_is_seeded_and_respects_the_hold_out():
    def draw(seed, holdout):
        sampler = TextSampler(random.Random(seed), holdout)
        return [sampler.sentence((lang,)) for lang in ("en", "zh", "ms", "ta") * 25]

    first, second = draw(3, False), draw(3, False)
    assert [f.texts for f in first] == [f.texts for f in second]
    held_keys = {e.key for pool in ENTITY_POOLS.values() for e in pool if e.holdout}
    assert held_keys.isdisjoint({e.key for pool in ENTITY_POOLS.values() for e in pool if not e.holdout})
    for filled in first:
        assert not filled.template.holdout
        assert not any(v.answer in held_keys for v in filled.values.values() if v.kind in ENTITY_POOLS)
    for filled in draw(3, True):
        assert filled.template.holdout


def test_questions_are_answered_by_slot_values():
    sampler = TextSampler(random.Random(1))
    for _ in range(50):
        filled = sampler.sentence(("en",))
        for question, answer in filled.questions():
            assert "{" not in question and answer
        for value in filled.values.values():
            if value.kind in ENTITY_POOLS:
                assert value.forms["en"] in filled.texts["en"]


def test_station_lines_are_real_lines():
    line_names = {line.key for line in places.LINES}
    for station in places.STATIONS:
        assert station.attrs["lines"] and set(station.attrs["lines"]) <= line_names
    assert len(lexicon.PERSONS) >= 60 and len(lexicon.FOODS) >= 30 and len(places.STATIONS) >= 40


def test_instruction_wordings_are_varied():
    for task in ("asr", "st", "sqa", "sds", "si"):
        assert len(wordings(task, "en")) >= 25, task
        for language in ("zh", "ms", "ta"):
            assert wordings(task, language), (task, language)
    assert set(LANGUAGE_NAMES) == {"en", "zh", "ms", "ta"}


def test_no_speaker_is_both_seen_and_unseen():
    roles: dict[str, set] = {}
    for voice in all_voices():
        roles.setdefault(voice.speaker, set()).add(voice.seen)
    assert all(len(r) == 1 for r in roles.values()), [s for s, r in roles.items() if len(r) > 1]
    for voice in all_voices():
        if voice.engine in ("pico", "rhvoice") or voice.accent == "British" or voice.speaker in ("cmu-slt", "cmu-awb"):
            assert not voice.seen, voice.id


def test_plan_is_deterministic_and_cheap():
    first = plan_corpus(11, 0.2)
    assert first == plan_corpus(11, 0.2)
    assert first != plan_corpus(12, 0.2)
    assert len({spec["id"] for spec in first}) == len(first)


@pytest.mark.skipif(not available_voices(), reason="espeak-ng is not installed")
def test_pitch_labels_land_in_their_band():
    from audiollm.data.tts import synthesize

    voices = {v.id: v for v in available_voices()}
    text = "The quick brown fox jumps over the lazy dog near the station today."
    for voice_id, label in (("espeak:en-us+m3", "low"), ("espeak:en-us+m3", "medium"), ("espeak:en-us+f2", "high")):
        target = sum(PITCH_F0[label]) / 2
        pitch = pitch_for_f0(voices[voice_id], target)
        measured = median_f0(synthesize(voices[voice_id], text, "en", 1.0, pitch))
        assert abs(measured - target) / target < 0.15, (voice_id, label, measured)


def test_cli_rejects_impossible_requests(tmp_path, capsys):
    import argparse

    from audiollm.cli import synth

    parser = argparse.ArgumentParser()
    synth.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["synth", "--out", str(tmp_path), "--tasks", "asr,karaoke"])
    args = parser.parse_args(["synth", "--out", str(tmp_path), "--languages", "zh", "--no-real", "--quiet"])
    assert args.run(args) == 1
    assert "English" in capsys.readouterr().err
    args = parser.parse_args(["synth", "--out", str(tmp_path), "--hours", "0", "--no-real", "--quiet"])
    assert args.run(args) == 1
