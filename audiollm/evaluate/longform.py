"""A long-audio test set built from a corpus, to show what happens past Whisper's 30 s window.

For each target duration (default 20 s to 10 min, with 28 and 35 s on either side of 30 s):

- ASR: utterances of one language concatenated with short silences until the target is reached;
  the reference is their transcripts joined in order.
- SQA: a question's dialogue placed at a random position among other utterances, so the answer is
  somewhere inside a long recording; question and reference stay those of the dialogue.

The result is an ordinary manifest (`test_longform.jsonl`, split "test_longform") plus its WAV files,
so any model is scored on it the usual way and reports plot WER and answer quality against duration.
Building is deterministic for a given seed; an existing set built with the same settings is reused,
which keeps resumed evaluations consistent.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from audiollm.data.manifest import Example, write_manifest
from audiollm.errors import ConfigError
from audiollm.evaluate.data import EvalSet, is_no_speech, load_audio

SAMPLE_RATE = 16000
DEFAULT_DURATIONS = (20.0, 28.0, 35.0, 60.0, 120.0, 300.0, 600.0)
MANIFEST_NAME = "test_longform.jsonl"


def _write_wav(path: Path, audio: np.ndarray) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


class _Pool:
    """Speech utterances of one language to draw filler from, audio loaded once each."""

    def __init__(self, examples: list[Example], rng: random.Random, gap: float) -> None:
        self.examples, self.rng = examples, rng
        self.silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
        self._audio: dict[str, np.ndarray] = {}

    def audio(self, example: Example) -> np.ndarray:
        """The example's samples, read on first use."""
        if example.id not in self._audio:
            self._audio[example.id] = load_audio(example)
        return self._audio[example.id]

    def fill(self, seconds: float) -> list[Example]:
        """Utterances (drawn in a shuffled cycle) that, joined with gaps, last at least `seconds`.

        The overshoot is under one utterance, so a target of 28 s stays below the 30 s window edge
        only if utterances are short; the manifest records each item's real duration.
        """
        chosen: list[Example] = []
        total, order = 0.0, []
        gap = len(self.silence) / SAMPLE_RATE
        while total < seconds:
            if not order:
                order = self.rng.sample(self.examples, len(self.examples))
            example = order.pop()
            total += len(self.audio(example)) / SAMPLE_RATE + (gap if chosen else 0.0)
            chosen.append(example)
        return chosen

    def join(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """Concatenate clips with the pool's silence between them."""
        pieces = []
        for part in parts:
            pieces += [part, self.silence]
        return np.concatenate(pieces[:-1]) if pieces else np.zeros(0, dtype=np.float32)


def _asr_item(pool: _Pool, target: float, index: int, folder: Path, language: str) -> Example:
    parts = pool.fill(target)
    audio = pool.join([pool.audio(e) for e in parts])
    name = f"longform-asr-{int(target)}s-{index}"
    _write_wav(folder / "audio" / f"{name}.wav", audio)
    return Example(id=name, task="asr", instruction=parts[0].instruction,
                   answer=" ".join(e.answer.strip() for e in parts), audio=f"audio/{name}.wav",
                   duration=len(audio) / SAMPLE_RATE, language=language, split="test_longform",
                   meta={"longform": True, "target_duration": target, "parts": [e.id for e in parts]})


def _sqa_item(pool: _Pool, question: Example, target: float, index: int, folder: Path) -> Example | None:
    core = load_audio(question)
    room = target - len(core) / SAMPLE_RATE
    if room < 0:
        return None  # the dialogue alone is longer than this target
    before = pool.fill(room * pool.rng.random()) if room > 1 else []
    after = pool.fill(room - sum(len(pool.audio(e)) for e in before) / SAMPLE_RATE) if room > 1 else []
    audio = pool.join([pool.audio(e) for e in before] + [core] + [pool.audio(e) for e in after])
    position = sum(len(pool.audio(e)) + len(pool.silence) for e in before) / SAMPLE_RATE
    name = f"longform-sqa-{int(target)}s-{index}"
    _write_wav(folder / "audio" / f"{name}.wav", audio)
    meta = {**question.meta, "longform": True, "target_duration": target, "position_s": position,
            "source_id": question.id}
    return Example(id=name, task="sqa", instruction=question.instruction, answer=question.answer,
                   audio=f"audio/{name}.wav", duration=len(audio) / SAMPLE_RATE, language=question.language,
                   split="test_longform", meta=meta)


def build_longform(sets: Sequence[EvalSet], folder: str | Path, durations: Sequence[float] = DEFAULT_DURATIONS,
                   per_duration: int = 2, seed: int = 0, gap: float = 0.3) -> Path:
    """Write the long-form manifest and audio under `folder`; return the manifest path."""
    folder = Path(folder)
    settings = {"sources": sorted(str(s.path) for s in sets), "durations": list(durations),
                "per_duration": per_duration, "seed": seed, "gap": gap}
    manifest, settings_path = folder / MANIFEST_NAME, folder / "longform.json"
    if manifest.exists() and settings_path.exists() and json.loads(settings_path.read_text()) == settings:
        return manifest
    examples = [e for s in sets for e in s.examples]
    speech = [e for e in examples if e.task == "asr" and not is_no_speech(e) and e.audio_path is not None]
    if not speech:
        raise ConfigError("long-form test needs ASR utterances with audio in the test data")
    language = Counter(e.language for e in speech).most_common(1)[0][0]
    rng = random.Random(seed)
    pool = _Pool([e for e in speech if e.language == language], rng, gap)
    questions = [e for e in examples if e.task == "sqa" and e.audio_path is not None and e.language == language]
    built = []
    for target in durations:
        for index in range(per_duration):
            built.append(_asr_item(pool, target, index, folder, language))
            if questions:
                item = _sqa_item(pool, rng.choice(questions), target, index, folder)
                if item is not None:
                    built.append(item)
    write_manifest(manifest, built)
    settings_path.write_text(json.dumps(settings))
    return manifest
