"""Choosing voices and per-utterance voice settings for an example, and describing what was spoken.

A `Caster` knows which half of the voice table a split may use (seen or unseen speakers) and how
much of each engine to use: espeak-ng and MBROLA are fast (~200x real time) and carry the bulk;
festival and RHVoice (~15x) appear in small doses. A `Segment` is one stretch of speech: text, voice,
speed factor, espeak-ng pitch and the pause after it. Every choice comes from the `random.Random`
passed in, so a seed fixes the casting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from audiollm.data.voices import NEURAL_ENGINES, Voice, available_voices
from audiollm.errors import ConfigError

# Share of utterances per engine, by (language, seen?). Renormalised over the installed engines.
ENGINE_WEIGHTS = {
    ("en", True): {"espeak": 0.58, "mbrola": 0.26, "flite": 0.12, "festival": 0.04},
    ("en", False): {"espeak": 0.20, "mbrola": 0.15, "flite": 0.15, "festival": 0.15, "pico": 0.15,
                    "rhvoice": 0.20},
    ("ms", True): {"espeak": 0.6, "mbrola": 0.4},
    ("ms", False): {"espeak": 0.6, "mbrola": 0.4},
}
DEFAULT_WEIGHTS = {"espeak": 1.0}
# Voices Whisper tiny.en mostly fails to follow even on clean plain sentences (WER > 60%, see
# docs/corpus.md): kept for accent variety, at a fifth of the usual weight within their engine.
WEAK_VOICES = {"mbrola:mb-af1-en", "mbrola:mb-gr2-en", "mbrola:mb-pl1-en"}
# Engines whose pitch can be set per utterance (espeak-ng's -p, also driving MBROLA).
PITCHED_ENGINES = ("espeak", "mbrola")
# A neural voice's "pitch" is a shift of pitch and formants in percent (see tts.py): within this range the one
# recorded speaker still sounds like a person, from a deeper to a lighter voice.
NEURAL_SHIFT_PERCENT = (88, 114)


@dataclass
class Segment:
    """One stretch of speech in an example."""

    text: str
    voice: Voice
    speed: float = 1.0
    pitch: int | None = None
    pause: float = 0.0
    language: str = "en"

    def to_spec(self) -> dict:
        """The JSON form stored in a plan (the voice by id)."""
        return {"text": self.text, "voice": self.voice.id, "speed": round(self.speed, 3),
                "pitch": self.pitch, "pause": round(self.pause, 3), "language": self.language}


def speaker_entry(segment: Segment, **extra) -> dict:
    """The manifest's `speakers` entry for a segment's voice with its settings."""
    entry = segment.voice.as_meta()
    entry.update(speed=round(segment.speed, 3), pitch=segment.pitch, **extra)
    return entry


class Caster:
    """Picks voices for one split: `seen=True` for train/dev/test_seen/test_unseen_template."""

    def __init__(self, rng: random.Random, seen: bool, voices: tuple[Voice, ...] | None = None):
        self.rng = rng
        self.seen = seen
        self.voices = [v for v in (voices if voices is not None else available_voices()) if v.seen == seen]

    def candidates(self, language: str, gender: str | None = None, exclude_speakers=(),
                   need_pitch: bool = False, accent_known: bool = False) -> list[Voice]:
        """Voices of this split's half that fit the constraints."""
        return [v for v in self.voices
                if v.language == language and (gender is None or v.gender == gender)
                and v.speaker not in exclude_speakers
                and (not need_pitch or v.f0_curve is not None)]

    def pick(self, language: str, gender: str | None = None, exclude_speakers=(),
             need_pitch: bool = False, engines=None) -> Voice:
        """A random voice: first an engine by weight, then a voice of that engine."""
        pool = self.candidates(language, gender, exclude_speakers, need_pitch)
        if engines is not None:
            pool = [v for v in pool if v.engine in engines]
        if not pool:
            raise ConfigError(f"no {'seen' if self.seen else 'unseen'} voice for language={language!r} "
                              f"gender={gender!r}; install more TTS voices (see docs/corpus.md)")
        weights = ENGINE_WEIGHTS.get((language, self.seen), DEFAULT_WEIGHTS)
        engines_here = sorted({v.engine for v in pool})
        engine_weights = [weights.get(e, 0.02) for e in engines_here]
        engine = self.rng.choices(engines_here, weights=engine_weights)[0]
        members = [v for v in pool if v.engine == engine]
        return self.rng.choices(members, weights=[0.2 if v.id in WEAK_VOICES else 1.0 for v in members])[0]

    def natural_settings(self, voice: Voice) -> tuple[float, int | None]:
        """A speed factor and pitch inside the voice's natural range (not for PARA rate/pitch labels)."""
        speed = self.rng.uniform(0.82, 1.08)
        if voice.engine in NEURAL_ENGINES:
            return speed, self.rng.randint(*NEURAL_SHIFT_PERCENT)
        pitch = self.rng.randint(35, 65) if voice.engine in PITCHED_ENGINES else None
        return speed, pitch

    def segment(self, text: str, language: str, voice: Voice | None = None, pause: float | None = None,
                **constraints) -> Segment:
        """A segment of `text` with a (new or given) voice and natural settings."""
        voice = voice or self.pick(language, **constraints)
        speed, pitch = self.natural_settings(voice)
        if pause is None:
            pause = self.rng.uniform(0.25, 0.7)
        return Segment(text, voice, speed, pitch, pause, language)

    def distinct_voices(self, language: str, count: int, genders=None) -> list[Voice]:
        """`count` voices with pairwise different speakers (alternating genders when possible)."""
        chosen: list[Voice] = []
        for index in range(count):
            gender = genders[index] if genders else ("female", "male")[(index + self.rng.randrange(2)) % 2]
            used = {v.speaker for v in chosen}
            try:
                chosen.append(self.pick(language, gender=gender, exclude_speakers=used))
            except ConfigError:
                chosen.append(self.pick(language, exclude_speakers=used))
        return chosen


# Characters spoken per second at speed 1.0, used only to plan how many examples fill --hours;
# measured on this corpus's own output (see docs/corpus.md). Summaries report the real durations.
CHARS_PER_SECOND = {"en": 19.8, "zh": 4.55, "ms": 18.8, "ta": 19.0}


def estimate_seconds(segments: list[Segment]) -> float:
    """Rough spoken duration of `segments` (pauses included, no padding)."""
    total = 0.0
    for segment in segments:
        total += len(segment.text) / (CHARS_PER_SECOND[segment.language] * segment.speed) + segment.pause + 0.2
    return total


def draft(task: str, language: str, instruction: str, answer: str, segments: list[Segment], meta: dict,
          allow_speed: bool = True, allow_babble: bool = True) -> dict:
    """An example before the planner gives it an id, a split and augmentation settings."""
    speakers, seen_ids = [], set()
    for segment in segments:
        if segment.voice.id not in seen_ids:
            seen_ids.add(segment.voice.id)
            speakers.append(speaker_entry(segment))
    return {"task": task, "language": language, "instruction": instruction, "answer": answer,
            "meta": meta, "segments": [s.to_spec() for s in segments], "speakers": speakers,
            "estimate": round(estimate_seconds(segments), 2),
            "policy": {"speed": allow_speed, "babble": allow_babble}}
