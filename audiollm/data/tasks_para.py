"""Paralinguistic questions whose labels are true by construction.

- gender: the voice table's gender for the voice (natural pitch, no speed/pitch perturbation).
- rate: espeak-ng/MBROLA words per minute drawn inside the label's band (`RATE_WPM`).
- pitch: espeak-ng -p chosen from the voice's measured F0 curve so the median F0 falls in the
  label's band (`PITCH_F0`); bands are separated by 40+ Hz.
- accent: the voice table's accent for an English voice; choices are it plus three others.
- language: the language of the sentence and voice.
- num_speakers: the number of distinct speakers (voices of different underlying speakers) taking turns.
Speed perturbation (which moves pitch and rate) is off for gender, rate and pitch; babble (extra
voices) is off for num_speakers.
"""

from __future__ import annotations

from audiollm.data.casting import PITCHED_ENGINES, draft
from audiollm.data.context import TaskContext
from audiollm.data.conventions import LANGUAGE_LABELS, PARA_ATTRIBUTES, PARA_CHOICES, PITCH_F0, RATE_WPM
from audiollm.data.voices import pitch_for_f0

ESPEAK_DEFAULT_WPM = 175


def _sentence(ctx: TaskContext, language: str) -> str:
    return ctx.fresh_sentence((language,), key_language=language).texts[language]


def _gender(ctx: TaskContext, language: str):
    label = ctx.rng.choice(PARA_CHOICES["gender"])
    # Only voices whose gender is certain: espeak-ng variants with a measured F0 curve, other engines.
    voices = [v for v in ctx.cast.candidates(language, gender=label) if v.engine != "espeak" or v.f0_curve]
    segment = ctx.cast.segment(_sentence(ctx, language), language, voice=ctx.rng.choice(voices))
    return label, list(PARA_CHOICES["gender"]), [segment], {}


def _rate(ctx: TaskContext, language: str):
    label = ctx.rng.choice(PARA_CHOICES["rate"])
    wpm = ctx.rng.randint(*RATE_WPM[label])
    segment = ctx.cast.segment(_sentence(ctx, language), language, engines=PITCHED_ENGINES)
    segment.speed = wpm / ESPEAK_DEFAULT_WPM
    return label, list(PARA_CHOICES["rate"]), [segment], {"wpm": wpm}


def _pitch(ctx: TaskContext, language: str):
    candidates = ctx.cast.candidates(language, need_pitch=True)
    labels = [l for l in PARA_CHOICES["pitch"]
              if any(pitch_for_f0(v, sum(PITCH_F0[l]) / 2) is not None for v in candidates)]
    label = ctx.rng.choice(labels)
    f0 = ctx.rng.uniform(*PITCH_F0[label])
    usable = sorted({v.speaker for v in candidates if pitch_for_f0(v, f0) is not None})
    if not usable:  # the drawn F0 sits just outside every voice's range: use the band's centre
        f0 = sum(PITCH_F0[label]) / 2
        usable = sorted({v.speaker for v in candidates if pitch_for_f0(v, f0) is not None})
    speaker = ctx.rng.choice(usable)
    voice = ctx.rng.choice([v for v in candidates if v.speaker == speaker and pitch_for_f0(v, f0) is not None])
    segment = ctx.cast.segment(_sentence(ctx, language), language, voice=voice)
    segment.pitch = pitch_for_f0(voice, f0)
    return label, list(PARA_CHOICES["pitch"]), [segment], {"target_f0": round(f0, 1)}


def _accent(ctx: TaskContext, language: str):
    voices = [v for v in ctx.cast.candidates("en") if v.accent in PARA_CHOICES["accent"]]
    accents = sorted({v.accent for v in voices})
    label = ctx.rng.choice(accents)
    voice = ctx.rng.choice([v for v in voices if v.accent == label])
    others = ctx.rng.sample([a for a in PARA_CHOICES["accent"] if a != label], 3)
    choices = others + [label]
    ctx.rng.shuffle(choices)
    return label, choices, [ctx.cast.segment(_sentence(ctx, "en"), "en", voice=voice)], {}


def _language(ctx: TaskContext, language: str):
    choices = [LANGUAGE_LABELS[l] for l in ctx.languages]
    ctx.rng.shuffle(choices)
    segment = ctx.cast.segment(_sentence(ctx, language), language)
    return LANGUAGE_LABELS[language], choices, [segment], {}


def _num_speakers(ctx: TaskContext, language: str):
    count = ctx.rng.randint(1, 4)
    voices = ctx.cast.distinct_voices(language, count)
    turns = list(voices) + [ctx.rng.choice(voices) for _ in range(ctx.rng.randint(0, 1))]
    ctx.rng.shuffle(turns)
    # Every voice speaks at least once; with one speaker there are still two sentences.
    turns = turns if count > 1 else voices * 2
    settings = {v.id: ctx.cast.natural_settings(v) for v in voices}
    segments = []
    for voice in turns:
        segment = ctx.cast.segment(_sentence(ctx, language), language, voice=voice)
        segment.speed, segment.pitch = settings[voice.id]
        segments.append(segment)
    return str(count), list(PARA_CHOICES["num_speakers"]), segments, {"speakers": sorted({v.speaker for v in voices})}


_BUILDERS = {"gender": _gender, "rate": _rate, "pitch": _pitch, "accent": _accent, "language": _language,
             "num_speakers": _num_speakers}


def build_para(ctx: TaskContext, language: str, attribute: str | None = None) -> dict:
    """One PARA example; attributes take turns (round robin) unless `attribute` is given."""
    if attribute is None:
        index = ctx.counters.get("para", 0)
        ctx.counters["para"] = index + 1
        attribute = PARA_ATTRIBUTES[index % len(PARA_ATTRIBUTES)]
    if attribute == "accent":
        language = "en"
    label, choices, segments, extra = _BUILDERS[attribute](ctx, language)
    joiner = "" if language == "zh" else " "
    instruction_language = "en" if attribute == "accent" else ctx.instruction_language(language, 0.2)
    meta = {"attribute": attribute, "label": label, "choices": choices,
            "transcript": joiner.join(s.text for s in segments), "instruction_language": instruction_language,
            **extra}
    instruction = ctx.instruction("para", instruction_language, attribute=attribute, choices=", ".join(choices))
    return draft("para", language, instruction, label, segments, meta,
                 allow_speed=attribute not in ("gender", "rate", "pitch"),
                 allow_babble=attribute != "num_speakers")

