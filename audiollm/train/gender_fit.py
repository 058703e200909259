"""Fitting a fresh gender row (audiollm/gender_row.py) when a recipe adds one (model.gender_row: true).

The classifier learns from training clips whose one speaker's gender the manifest records (every
synthetic voice has it), the same number of each label, and is scored on the dev clips that have one;
only clips of one window count, so that each gives one pooled row for its one label.
Every process draws the same clips and fits the same way, so DDP replicas start equal.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

import torch

from audiollm.data.manifest import Example, is_no_speech
from audiollm.errors import ConfigError
from audiollm.gender_row import LABELS
from audiollm.transcript_rows import phrase_rows


def gender_label(example: Example) -> int | None:
    """The index in LABELS of the example's speaker's gender; None without speech, with several speakers
    or with no recorded gender."""
    if not example.audio or is_no_speech(example) or len(example.speakers) != 1:
        return None
    gender = example.speakers[0].get("gender")
    return LABELS.index(gender) if gender in LABELS else None


def balanced_clips(examples: Sequence[Example], per_label: int, seed: int) -> list[tuple[Example, int]]:
    """Up to `per_label` labelled clips of each gender, drawn with `seed`."""
    labelled = [(example, label) for example in examples if (label := gender_label(example)) is not None]
    random.Random(seed).shuffle(labelled)
    chosen = []
    for index in range(len(LABELS)):
        chosen += [pair for pair in labelled if pair[1] == index][:per_label]
    return chosen


def fit_gender_row(model, tokenizer, pool: Callable[[Sequence[Example]], torch.Tensor], train: Sequence[Example],
                   dev: Sequence[Example], per_label: int = 256, seed: int = 0) -> dict:
    """Fit `model.speech_gender_row` (see the module docstring); returns what it measured. `pool` gives the
    (N, 2C) pooled encoder frames of N one-window examples (stage 2: model.pooled_windows)."""
    one_window = [example for example in train if example.duration <= model.config.window_seconds]
    fitted = balanced_clips(one_window, per_label, seed)
    if len({label for _, label in fitted}) < len(LABELS):
        raise ConfigError("model.gender_row needs training clips of both genders (speakers[0].gender)")
    was_training = model.training
    model.eval()  # no dropout while pooling
    device = model.device
    pooled = pool([example for example, _ in fitted])
    labels = torch.tensor([label for _, label in fitted])
    words = phrase_rows(tokenizer, model.text_decoder.get_input_embeddings().weight, [f" {w}" for w in LABELS])
    row = model.speech_gender_row
    fit_accuracy = row.float().fit(pooled.to(device), labels.to(device), words.to(device))
    row.to(model.dtype)
    measured = {"clips": len(fitted), "fit_accuracy": fit_accuracy}
    held_out = [(example, label) for example in dev
                if example.duration <= model.config.window_seconds and (label := gender_label(example)) is not None]
    if held_out:
        dev_pooled = pool([example for example, _ in held_out])
        guesses = row.probabilities(dev_pooled.to(device=device, dtype=model.dtype)).argmax(-1).cpu()
        measured.update(dev_clips=len(held_out),
                        dev_accuracy=float((guesses == torch.tensor([label for _, label in held_out])).float().mean()))
    model.train(was_training)
    return measured
