"""Long recordings made from a corpus's short clips: for testing past 30 s, and for training on it.

Two kinds of item, each an ordinary manifest row with its own audio file:

- ASR: utterances of one language joined with short silences until a target duration is reached; the
  reference is their transcripts joined in order.
- SQA: a question's dialogue placed at a random position among other utterances of its language, so
  the answer is somewhere inside a long recording; question and reference stay the dialogue's.

`build_long_training` writes such items from the training split (`audiollm synth --long-hours`), so a
model can learn to follow several encoder windows at once; the evaluation set of the same kind is
`audiollm.evaluate.longform`, built from the test splits.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from audiollm.audio import load_audio as load_audio_file
from audiollm.data.manifest import Example, is_no_speech, read_manifest, write_manifest
from audiollm.errors import ConfigError

SAMPLE_RATE = 16000
TRAIN_MANIFEST = "train_long.jsonl"
TRAIN_SPLIT = "train_long"
# Training targets: past one 30 s window, up to four windows (MERaLiON-2 goes to 300 s; four windows
# keep a CPU training step affordable while still teaching the decoder to read across windows).
TRAIN_SECONDS = (35.0, 120.0)


def write_audio(path: Path, audio: np.ndarray) -> None:
    """16-bit PCM at 16 kHz; the format (WAV, FLAC) follows the file name."""
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


def _clip_samples(example: Example) -> np.ndarray:
    """A manifest example's samples as 16 kHz mono float32."""
    if example.audio_path is None:
        raise ConfigError(f"example {example.id!r} has no audio to build a long recording from")
    return load_audio_file(example.audio_path)


class FillerPool:
    """Speech utterances of one language to draw filler from, audio loaded once each."""

    def __init__(self, examples: list[Example], rng: random.Random, gap: float, reader=_clip_samples) -> None:
        self.examples, self.rng, self.reader = examples, rng, reader
        self.silence = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
        self._audio: dict[str, np.ndarray] = {}
        self._order: list[Example] = []

    def audio(self, example: Example) -> np.ndarray:
        """The example's samples, read on first use."""
        if example.id not in self._audio:
            self._audio[example.id] = self.reader(example)
        return self._audio[example.id]

    def _next(self) -> Example:
        """The next utterance of a shuffled cycle through the pool."""
        if not self._order:
            self._order = self.rng.sample(self.examples, len(self.examples))
        return self._order.pop()

    def fill(self, seconds: float) -> list[Example]:
        """Utterances that, joined with gaps, last at least `seconds`.

        The overshoot is under one utterance, so a target of 28 s stays below the 30 s window edge
        only if utterances are short; the manifest records each item's real duration. Each call starts a
        fresh cycle (as train_long.jsonl was first built, so that a rebuild gives the same recordings).
        """
        self._order = []
        return self.fill_within(seconds, float("inf"))

    def fill_within(self, low: float, high: float, tries: int = 20) -> list[Example]:
        """Utterances that, joined with gaps, last between `low` and `high` seconds: an utterance that
        would pass `high` is skipped. After `tries` skips in a row it stops short of `low`. Where the
        cycle starts again, an utterance already chosen is passed over (a recording never repeats one)."""
        chosen: list[Example] = []
        total, skipped = 0.0, 0
        gap = len(self.silence) / SAMPLE_RATE
        while total < low and skipped < tries:
            example = self._next()
            if any(example.id == taken.id for taken in chosen) and len(chosen) < len(self.examples):
                continue
            length = len(self.audio(example)) / SAMPLE_RATE + (gap if chosen else 0.0)
            if total + length > high:
                skipped += 1
                continue
            chosen.append(example)
            total, skipped = total + length, 0
        return chosen

    def join(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """Concatenate clips with the pool's silence between them."""
        pieces = []
        for part in parts:
            pieces += [part, self.silence]
        return np.concatenate(pieces[:-1]) if pieces else np.zeros(0, dtype=np.float32)


def voices_of(examples: Sequence[Example]) -> list[dict]:
    """The distinct speakers heard across `examples`, in order of first appearance."""
    seen, voices = set(), []
    for example in examples:
        for speaker in example.speakers:
            key = json.dumps(speaker, sort_keys=True)
            if key not in seen:
                seen.add(key)
                voices.append(speaker)
    return voices


def long_asr_item(pool: FillerPool, target: float, name: str, root: Path, relative: str, language: str,
                  split: str) -> Example:
    """Utterances of `pool` joined to at least `target` seconds; the audio goes to root/relative."""
    parts = pool.fill(target)
    audio = pool.join([pool.audio(e) for e in parts])
    write_audio(root / relative, audio)
    return Example(id=name, task="asr", instruction=parts[0].instruction,
                   answer=" ".join(e.answer.strip() for e in parts), audio=relative,
                   duration=len(audio) / SAMPLE_RATE, language=language, split=split, speakers=voices_of(parts),
                   meta={"longform": True, "target_duration": target, "parts": [e.id for e in parts]})


def long_sqa_item(pool: FillerPool, question: Example, target: float, name: str, root: Path, relative: str,
                  split: str) -> Example | None:
    """`question`'s dialogue hidden at a random place among filler, `target` seconds in all (None if the
    dialogue alone is longer)."""
    core = pool.reader(question)
    room = target - len(core) / SAMPLE_RATE
    if room < 0:
        return None
    before = pool.fill(room * pool.rng.random()) if room > 1 else []
    after = pool.fill(room - sum(len(pool.audio(e)) for e in before) / SAMPLE_RATE) if room > 1 else []
    audio = pool.join([pool.audio(e) for e in before] + [core] + [pool.audio(e) for e in after])
    position = sum(len(pool.audio(e)) + len(pool.silence) for e in before) / SAMPLE_RATE
    write_audio(root / relative, audio)
    meta = {**question.meta, "longform": True, "target_duration": target, "position_s": position,
            "source_id": question.id}
    return Example(id=name, task="sqa", instruction=question.instruction, answer=question.answer,
                   audio=relative, duration=len(audio) / SAMPLE_RATE, language=question.language,
                   split=split, speakers=voices_of(before + [question] + after), meta=meta)


def _speech_by_language(examples: Sequence[Example], task: str) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        if example.task == task and example.audio is not None and not is_no_speech(example):
            groups[example.language].append(example)
    return groups


def _pick(rng: random.Random, clips: dict[str, list[Example]]) -> str:
    """A language of `clips`, in proportion to its number of clips."""
    languages = sorted(clips)
    return rng.choices(languages, [len(clips[language]) for language in languages])[0]


def build_long_training(source: str | Path, out: str | Path, hours: float, seed: int = 0, gap: float = 0.3,
                        seconds: tuple[float, float] = TRAIN_SECONDS) -> Path:
    """Write `hours` of long training recordings (half ASR, half SQA) made from the clips of `source`.

    Languages keep their share of the source's ASR clips (of its SQA clips for questions); each
    recording is one language. The result is `out/train_long.jsonl` (split "train_long", audio under
    out/audio/train_long/); a build with the same settings is reused, and the manifest is written last,
    so an interrupted build simply reruns.
    """
    source, out = Path(source), Path(out)
    if hours <= 0:
        raise ConfigError(f"long training audio needs hours > 0, got {hours}")
    low, high = seconds
    if not 30.0 < low <= high:
        raise ConfigError(f"long training recordings must last more than 30 s: got {low}-{high} s")
    settings = {"source": str(source), "hours": hours, "seed": seed, "gap": gap, "seconds": [low, high]}
    manifest, settings_path = out / TRAIN_MANIFEST, out / "train_long.json"
    if manifest.exists() and settings_path.exists() and json.loads(settings_path.read_text()) == settings:
        return manifest
    examples = read_manifest(source)
    speech = _speech_by_language(examples, "asr")
    if not speech:
        raise ConfigError(f"{source}: no ASR clips with audio to build long recordings from")
    # Questions need filler of their own language.
    questions = {language: clips for language, clips in _speech_by_language(examples, "sqa").items()
                 if language in speech}
    rng = random.Random(seed)
    pools = {language: FillerPool(clips, rng, gap) for language, clips in sorted(speech.items())}
    built, total, budget = [], 0.0, hours * 3600
    while total < budget:
        target = rng.uniform(low, high)
        item = None
        if questions and len(built) % 2:  # every other recording a question, while there are any
            language = _pick(rng, questions)
            name = f"long-{len(built):05d}-{language}-sqa"
            item = long_sqa_item(pools[language], rng.choice(questions[language]), target, name, out,
                                 f"audio/{TRAIN_SPLIT}/{name}.flac", TRAIN_SPLIT)
        if item is None:
            language = _pick(rng, speech)
            name = f"long-{len(built):05d}-{language}-asr"
            item = long_asr_item(pools[language], target, name, out, f"audio/{TRAIN_SPLIT}/{name}.flac", language,
                                 TRAIN_SPLIT)
        built.append(item)
        total += item.duration
    write_manifest(manifest, built)
    settings_path.write_text(json.dumps(settings))
    return manifest
