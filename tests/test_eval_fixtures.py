"""Shared test material for the evaluation tests: a tiny corpus on disk and a scripted Responder.

The corpus covers every task family, several splits and languages, and two no-speech clips. The
scripted responder answers by example id, so every score in the tests can be computed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from audiollm.data.manifest import Example, write_manifest

RATE = 16000


def tone(seconds: float, frequency: float = 220.0, seed: int = 0) -> np.ndarray:
    """A quiet sine with a little noise: cheap stand-in "speech"."""
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(seed).normal(0, 0.01, t.shape)
    return (0.2 * np.sin(2 * np.pi * frequency * t) + noise).astype(np.float32)


# id -> (task, split, language, instruction, answer, meta, seconds, scripted model answer)
CORPUS = {
    "asr-1": ("asr", "test_seen", "en", "Please transcribe this speech.", "the cat sat on the mat", {}, 1.0,
              "The cat sat on mat."),
    "asr-2": ("asr", "test_unseen_voice", "en", "Please transcribe this speech.", "hello world", {}, 1.0,
              "hello there world"),
    "asr-3": ("asr", "test_real", "en", "Transcribe the audio.", "I'm 5 years old", {}, 1.2, "i am five years old"),
    "asr-zh": ("asr", "test_seen", "zh", "Please transcribe this speech.", "我爱北京天安门", {}, 1.0, "我爱背景天安门"),
    "silence": ("asr", "test_seen", "en", "Please transcribe this speech.", "", {"no_speech": True}, 1.0, ""),
    "noise": ("asr", "test_seen", "en", "Please transcribe this speech.", "", {"no_speech": True}, 1.0,
              "Thank you."),
    "st-1": ("st", "test_seen", "en", "Translate this speech into Chinese.", "我喜欢喝茶。",
             {"source_language": "en", "target_language": "zh", "source_text": "I like tea."}, 1.0, "我喜欢喝绿茶。"),
    "st-2": ("st", "test_seen", "en", "Translate this speech into Malay.", "Saya suka minum teh.",
             {"source_language": "en", "target_language": "ms", "source_text": "I like tea."}, 1.0,
             "Saya suka minum teh."),
    "sqa-1": ("sqa", "test_unseen_template", "en", "Where does she live? Answer from the audio.", "Paris",
              {"question": "Where does she live?", "transcript": "I live in Paris."}, 1.0,
              "She lives in Paris."),
    "sqa-2": ("sqa", "test_seen", "en", "What did they agree on?", "They agreed to meet on Monday at noon.",
              {"question": "What did they agree on?", "transcript": "..."}, 1.5, "They will meet on Monday."),
    "sds-1": ("sds", "test_seen", "en", "Please summarize this spoken dialogue.",
              "Two friends plan a trip to the beach on Saturday.", {"transcript": "..."}, 1.5,
              "Friends plan a beach trip."),
    "si-1": ("si", "test_seen", "en", "Please follow the instruction in the speech.", "Blue is a colour.",
             {"transcript": "Name a colour."}, 1.0, "Blue."),
    "para-1": ("para", "test_seen", "en", "What is the speaker's gender?", "male",
               {"attribute": "gender", "label": "male", "choices": ["male", "female"]}, 1.0, "The speaker is male."),
    "para-2": ("para", "test_seen", "en", "What is the speaker's gender?", "female",
               {"attribute": "gender", "label": "female", "choices": ["male", "female"]}, 1.0, "Female."),
    "para-3": ("para", "test_unseen_voice", "en", "What is the speaker's gender?", "female",
               {"attribute": "gender", "label": "female", "choices": ["male", "female"]}, 1.0,
               "It sounds male, not female."),
    "para-4": ("para", "test_seen", "en", "How does the speaker feel?", "happy",
               {"attribute": "emotion", "label": "happy", "choices": ["happy", "sad", "angry"]}, 1.0, "I can't tell."),
}


def write_corpus(folder: Path, ids=None) -> Path:
    """Write the tiny corpus as one manifest per split (like `audiollm synth`); return the folder."""
    by_split: dict[str, list[Example]] = {}
    for index, (name, row) in enumerate(CORPUS.items()):
        if ids is not None and name not in ids:
            continue
        task, split, language, instruction, answer, meta, seconds, _ = row
        audio = np.zeros(int(seconds * RATE), np.float32) if name == "silence" else tone(seconds, 200 + 20 * index, index)
        path = folder / "audio" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), audio, RATE, subtype="PCM_16")
        by_split.setdefault(split, []).append(Example(
            id=name, task=task, instruction=instruction, answer=answer, audio=f"audio/{name}.wav",
            duration=seconds, language=language, split=split, meta=dict(meta)))
    for split, examples in by_split.items():
        write_manifest(folder / f"{split}.jsonl", examples)
    return folder


class ScriptedResponder:
    """Answers each request with the scripted answer of its example id; counts what it was asked."""

    def __init__(self, name: str = "scripted", answers: dict | None = None) -> None:
        self.name = name
        self.answers = answers or {key: row[7] for key, row in CORPUS.items()}
        self.calls: list[str] = []
        self.requests = []

    def identity(self) -> dict:
        return {"kind": "test", "prompt_template": "{instruction}"}

    def respond(self, requests):
        self.requests.extend(requests)
        self.calls.extend(r.extra["id"] for r in requests)
        return [self.answers.get(r.extra["id"], "") for r in requests]
