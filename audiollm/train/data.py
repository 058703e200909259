"""Training data: manifests -> deterministic, duration-bucketed global batches -> per-process micro-batches.

The whole data order is a pure function of (seed, step): step s uses epoch s // batches_per_epoch and
batch s % batches_per_epoch of that epoch's plan. So resuming at step s needs no saved iterator, and
every process computes the same plan and takes its own share of each global batch.
"""

from __future__ import annotations

import dataclasses
import random
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from audiollm.audio import load_audio
from audiollm.data.instructions import LANGUAGE_NAMES, pick_instruction
from audiollm.data.manifest import Example, is_no_speech, read_manifest
from audiollm.errors import ConfigError
from audiollm.processor import Turn
from audiollm.train.config import NO_SPEECH_KEY


def non_commercial_rows(examples: Sequence[Example]) -> int:
    """How many examples are licensed for non-commercial use only (`meta.non_commercial`)."""
    return sum(1 for example in examples if example.meta.get("non_commercial"))


def load_examples(paths: Sequence[str], tasks: Sequence[str] = (), max_audio_seconds: float | None = None,
                  allow_non_commercial: bool = False):
    """Read manifests; keep the given tasks (all if empty) and clips up to max_audio_seconds.

    Rows marked `meta.non_commercial` (licensed for non-commercial use only, such as the corpus's UQM voice
    lines) are refused unless `allow_non_commercial`: a model trained on them may not ship.
    Returns (kept examples, number skipped for length) so the caller can report what was left out.
    """
    examples, too_long = [], 0
    for path in paths:
        manifest = read_manifest(path)
        restricted = non_commercial_rows(manifest)
        if restricted and not allow_non_commercial:
            raise ConfigError(f"{path}: {restricted} example(s) are licensed for non-commercial use only "
                              "(meta.non_commercial); set data.allow_non_commercial=true to train on them "
                              "(research runs only: their trained parts cannot ship as the default)")
        for example in manifest:
            if tasks and example.task not in tasks:
                continue
            if max_audio_seconds is not None and example.duration > max_audio_seconds:
                too_long += 1
                continue
            examples.append(example)
    return examples, too_long


@dataclass
class BatchPlan:
    """The order of global batches. Each epoch: shuffle, cut into buckets of `bucket_size` batches,
    sort each bucket by duration (so a batch holds clips of similar length: little padding), cut into
    batches, and shuffle the batches."""

    durations: list[float]
    batch_size: int
    bucket_size: int
    seed: int

    def __post_init__(self) -> None:
        if len(self.durations) < self.batch_size:
            raise ConfigError(f"{len(self.durations)} training examples are fewer than one batch of {self.batch_size}")
        self.batches_per_epoch = len(self.durations) // self.batch_size  # the ragged rest waits for next epoch
        self._cached_epoch, self._cached_batches = -1, []

    def _epoch(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.durations)))
        rng.shuffle(order)
        bucket = self.batch_size * self.bucket_size
        batches = []
        for start in range(0, self.batches_per_epoch * self.batch_size, bucket):
            chunk = sorted(order[start : start + bucket], key=lambda i: self.durations[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk) - self.batch_size + 1, self.batch_size)]
        rng.shuffle(batches)
        return batches[: self.batches_per_epoch]

    def batch(self, step: int) -> list[int]:
        """Example indices of the global batch used at optimiser step `step` (0-based)."""
        epoch, index = divmod(step, self.batches_per_epoch)
        if epoch != self._cached_epoch:
            self._cached_epoch, self._cached_batches = epoch, self._epoch(epoch)
        return self._cached_batches[index]


def _weight_key_matches(key: str, example: Example) -> bool:
    return (key in (example.task, f"{example.task}:{example.language}", f"split:{example.split}")
            or (key == NO_SPEECH_KEY and is_no_speech(example)))


def weighted_pool(examples: Sequence[Example], weights: dict[str, float], seed: int,
                  setting: str = "data.weights") -> list[Example]:
    """The examples an epoch of a phase draws from (`setting` names its weights in the recipe): each one
    `weight` times. The weight is that of "task:language", else "task", else 1, times that of
    "split:NAME" if given (so a small manifest, such as train_long, can be drawn more often without
    naming its tasks), times that of "no_speech" for the speech-free clips (meta no_speech). The
    fraction of a weight is a seeded coin per example, tossed once per run (1.5: every example once, half
    of them twice), so the pool and a resumed run agree."""
    if not weights:
        return list(examples)
    for key in weights:
        if not any(_weight_key_matches(key, e) for e in examples):
            raise ConfigError(f"{setting}.{key}: no training example is {key!r} "
                              f"(task, task:language, split:NAME or {NO_SPEECH_KEY})")
    rng = random.Random(seed * 104_729 + 1)
    pool = []
    for example in examples:
        weight = weights.get(f"{example.task}:{example.language}", weights.get(example.task, 1.0))
        weight *= weights.get(f"split:{example.split}", 1.0)
        if is_no_speech(example):
            weight *= weights.get(NO_SPEECH_KEY, 1.0)
        copies = int(weight) + (rng.random() < weight - int(weight))
        pool += [example] * copies
    return pool


def replay_indices(step: int, count: int, pool_size: int, seed: int) -> list[int]:
    """`count` text-only example indices for `step`, a pure function of (seed, step)."""
    rng = random.Random(seed * 7_919 + step)
    return [rng.randrange(pool_size) for _ in range(count)]


def share_of(batch: list, rank: int, world: int, accum: int) -> list[list]:
    """This process's micro-batches of a global batch: world*accum contiguous slices, `accum` per rank.

    Contiguous slices of a duration-sorted batch keep similar lengths together.
    """
    parts = world * accum
    if len(batch) % parts:
        raise ConfigError(f"a global batch of {len(batch)} does not split into {world} processes x {accum} steps")
    size = len(batch) // parts
    return [batch[(rank * accum + m) * size : (rank * accum + m + 1) * size] for m in range(accum)]


def as_text_example(example: Example) -> Example | None:
    """A text-only version of an example for replay, or None.

    Text examples stay as they are; a spoken instruction (SI) becomes its transcript as the prompt, and
    spoken QA becomes "passage + question" — the same answers, so replay keeps the decoder answering
    text without any audio.
    """
    if example.task == "text":
        return example
    transcript = example.meta.get("transcript")
    if not transcript:
        return None
    if example.task == "si":
        instruction = transcript
    elif example.task == "sqa" and example.meta.get("question"):
        instruction = f"{transcript}\n\nQuestion: {example.meta['question']}"
    else:
        return None
    return Example(id=f"{example.id}-text", task="text", instruction=instruction, answer=example.answer,
                   language=example.language, split=example.split)


def as_asr_example(example: Example) -> Example | None:
    """A transcribed clip of another task (SI, ST, SQA, SDS, PARA) as an ASR example, or None.

    The answer is the clip's transcript; the instruction is an ASR wording in the speech's language,
    chosen by a hash of the example id so that the data order stays a pure function of the step.
    """
    transcript = example.meta.get("transcript")
    if example.audio is None or example.task == "asr" or not transcript:
        return None
    language = example.language if example.language in LANGUAGE_NAMES else "en"
    instruction = pick_instruction(random.Random(zlib.crc32(example.id.encode())), "asr", language, holdout=False)
    return dataclasses.replace(example, id=f"{example.id}-asr", task="asr", instruction=instruction, answer=transcript)


def conversation_of(example: Example) -> tuple[list[Turn], str]:
    """A manifest example as a one-turn conversation plus its reference answer."""
    audio = [] if example.audio is None else [load_audio(example.audio_path)]
    return [Turn("user", example.instruction, audio)], example.answer


def audio_seconds(examples: Sequence[Example]) -> float:
    return float(np.sum([example.duration for example in examples]))
