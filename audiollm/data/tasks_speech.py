"""Speech recognition, speech translation and no-speech examples.

ASR: one or two sentences in one voice -> the verbatim text (what the TTS engine was given).
ST: a parallel template said in the source language -> its text in the target language
(English -> Mandarin/Malay/Tamil, and those -> English).
No speech: silence or pure noise -> `NO_SPEECH_ANSWER`, task "asr", meta["no_speech"] = True,
language = the instruction's language (there is no spoken language).
"""

from __future__ import annotations

from audiollm.data.casting import draft
from audiollm.data.context import TaskContext
from audiollm.data.conventions import NO_SPEECH_ANSWER

NOISE_KINDS = ("silence", "white", "pink", "brown", "hum", "room")


def build_asr(ctx: TaskContext, language: str) -> dict:
    """One ASR example in `language`; a third of them join two sentences said by one voice."""
    count = 2 if ctx.rng.random() < 0.33 else 1
    voice = ctx.cast.pick(language)
    segments, keys = [], []
    for _ in range(count):
        filled = ctx.fresh_sentence((language,), key_language=language)
        segments.append(ctx.cast.segment(filled.texts[language], language, voice=voice))
        keys.append(filled.template.key)
    # One speaker keeps one speed and pitch across both sentences.
    for segment in segments[1:]:
        segment.speed, segment.pitch = segments[0].speed, segments[0].pitch
    transcript = " ".join(s.text for s in segments) if language != "zh" else "".join(s.text for s in segments)
    instruction_language = ctx.instruction_language(language)
    return draft("asr", language, ctx.instruction("asr", instruction_language), transcript, segments,
                 {"transcript": transcript, "templates": keys, "instruction_language": instruction_language})


def build_st(ctx: TaskContext, language: str) -> dict:
    """One ST example; `language` is the non-English side, the direction is random."""
    if language == "en":
        language = ctx.rng.choice([l for l in ctx.languages if l != "en"] or ["zh"])
    to_english = ctx.rng.random() < 0.5
    source, target = (language, "en") if to_english else ("en", language)
    filled = ctx.fresh_sentence((source, target), english_only_ok=False, key_language=source)
    segment = ctx.cast.segment(filled.texts[source], source)
    instruction_language = ctx.instruction_language(source, other_share=0.2)
    meta = {"source_language": source, "target_language": target, "source_text": filled.texts[source],
            "transcript": filled.texts[source], "templates": [filled.template.key],
            "instruction_language": instruction_language}
    instruction = ctx.instruction("st", instruction_language, target=target)
    return draft("st", source, instruction, filled.texts[target], [segment], meta)


def build_no_speech(ctx: TaskContext, language: str) -> dict:
    """Audio with no speech at all (silence, noise or mains hum) and the fixed no-speech answer."""
    kind = ctx.rng.choice(NOISE_KINDS)
    seconds = round(ctx.rng.uniform(1.0, 8.0), 2)
    instruction_language = language if language in ctx.languages else "en"
    spec = draft("asr", instruction_language, ctx.instruction("asr", instruction_language), NO_SPEECH_ANSWER,
                 [], {"no_speech": True, "noise": kind, "transcript": "",
                      "instruction_language": instruction_language})
    spec["no_speech"] = {"kind": kind, "seconds": seconds}
    spec["estimate"] = seconds
    return spec
