"""Spoken question answering: a 10-30 s passage or two-voice dialogue, a text question, a short answer.

The passage is a sequence of different filled templates in one language; the question is the
English question attached to one slot of one of them, so its answer (the slot's English answer
form) is in the audio by construction. Questions whose text would be asked by two sentences of the
same passage are never chosen, so every answer is unique.
"""

from __future__ import annotations

from audiollm.data.casting import draft, estimate_seconds
from audiollm.data.context import TaskContext


def _passage(ctx: TaskContext, language: str, target_seconds: float, dialogue: bool):
    """Sentences and segments adding up to about `target_seconds` (at most 6 sentences, 30 s)."""
    voices = ctx.cast.distinct_voices(language, 2) if dialogue else [ctx.cast.pick(language)]
    filled_list, segments, keys = [], [], set()
    while len(filled_list) < 6:
        filled = ctx.fresh_sentence((language,), key_language=language)
        if filled.template.key in keys:
            continue
        voice = voices[len(segments) % len(voices)]
        segment = ctx.cast.segment(filled.texts[language], language, voice=voice)
        if segments and estimate_seconds(segments + [segment]) > 30.0:
            break
        keys.add(filled.template.key)
        filled_list.append(filled)
        segments.append(segment)
        if estimate_seconds(segments) >= target_seconds:
            break
    if not dialogue:
        # A monologue keeps one speed and pitch throughout.
        for segment in segments[1:]:
            segment.speed, segment.pitch = segments[0].speed, segments[0].pitch
    return filled_list, segments


def build_sqa(ctx: TaskContext, language: str) -> dict:
    """One SQA example in `language` (the question and answer are in English)."""
    dialogue = ctx.rng.random() < 0.4
    filled_list, segments = _passage(ctx, language, ctx.rng.uniform(10.0, 28.0), dialogue)
    counts: dict[str, int] = {}
    for filled in filled_list:
        for question, _ in filled.questions():
            counts[question] = counts.get(question, 0) + 1
    options = [(q, a, f.template.key) for f in filled_list for q, a in f.questions() if counts[q] == 1]
    question, answer, key = ctx.rng.choice(options)
    joiner = "" if language == "zh" else " "
    transcript = joiner.join(s.text for s in segments)
    instruction_language = "en" if ctx.rng.random() < 0.9 else ctx.instruction_language(language, 1.0)
    meta = {"question": question, "transcript": transcript, "templates": [f.template.key for f in filled_list],
            "answer_template": key, "dialogue": dialogue, "instruction_language": instruction_language}
    return draft("sqa", language, ctx.instruction("sqa", instruction_language, question=question),
                 answer, segments, meta)
