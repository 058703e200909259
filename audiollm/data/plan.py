"""Planning: the complete, seeded list of synthetic examples (text, voices, settings) before any audio exists.

`plan_corpus(seed, hours, tasks, languages)` returns one spec dict per example. Everything random is
decided here, from `random.Random(f"{seed}:{split}")`, so rendering only executes the plan and a rerun
with the same arguments reproduces it exactly. Durations are estimated from text length to fill
`hours`; small builds are padded so every split has a few examples of every task.
"""

from __future__ import annotations

import random

from audiollm.data.augment import choose_augment
from audiollm.data.casting import Caster
from audiollm.data.context import TaskContext
from audiollm.data.render import spec_hash
from audiollm.data.conventions import LANGUAGES, SYNTHETIC_SPLITS
from audiollm.data.tasks_para import build_para
from audiollm.data.tasks_sds import build_sds
from audiollm.data.tasks_si import build_si
from audiollm.data.tasks_speech import build_asr, build_no_speech, build_st
from audiollm.data.tasks_sqa import build_sqa
from audiollm.data.textgen import TextSampler
from audiollm.errors import ConfigError

TASK_NAMES = ("asr", "st", "sqa", "sds", "si", "para")
SPLIT_SHARES = {"train": 0.80, "dev": 0.04, "test_seen": 0.04, "test_unseen_voice": 0.06,
                "test_unseen_template": 0.06}
TASK_SHARES = {"asr": 0.30, "st": 0.16, "sqa": 0.16, "sds": 0.12, "si": 0.12, "para": 0.14}
# Spoken-language mix per task (ST: the non-English side; SDS is English only).
LANGUAGE_SHARES = {
    "asr": {"en": 0.46, "zh": 0.18, "ms": 0.18, "ta": 0.18},
    "st": {"zh": 1 / 3, "ms": 1 / 3, "ta": 1 / 3},
    "sqa": {"en": 0.64, "zh": 0.12, "ms": 0.12, "ta": 0.12},
    "sds": {"en": 1.0},
    "si": {"en": 0.64, "zh": 0.12, "ms": 0.12, "ta": 0.12},
    "para": {"en": 0.55, "zh": 0.15, "ms": 0.15, "ta": 0.15},
}
# Floors that keep tiny builds (tests) covering every task in every split, and every PARA attribute in train.
MIN_EXAMPLES = {("train", "para"): 6, ("train", None): 2}
MIN_EXAMPLES_TEST = 1
NO_SPEECH_SHARE = 0.05  # of ASR examples
BUILDERS = {"asr": build_asr, "st": build_st, "sqa": build_sqa, "sds": build_sds, "si": build_si,
            "para": build_para}


def _language(rng: random.Random, task: str, languages: tuple) -> str:
    shares = {l: w for l, w in LANGUAGE_SHARES[task].items() if l in languages}
    if not shares:
        raise ConfigError(f"task {task!r} has no language among {list(languages)}")
    names = sorted(shares)
    return rng.choices(names, weights=[shares[n] for n in names])[0]


def check_request(tasks, languages) -> tuple[tuple, tuple]:
    """Validate --tasks/--languages; drop tasks no requested language can serve."""
    tasks = tuple(tasks or TASK_NAMES)
    languages = tuple(languages or LANGUAGES)
    unknown = [t for t in tasks if t not in TASK_NAMES] + [l for l in languages if l not in LANGUAGES]
    if unknown:
        raise ConfigError(f"unknown task or language {unknown}; tasks: {TASK_NAMES}, languages: {LANGUAGES}")
    if "en" not in languages and any(t in tasks for t in ("st", "sds")):
        raise ConfigError("speech translation and dialogue summaries need English: add 'en' to --languages")
    if "st" in tasks and len(languages) == 1:
        raise ConfigError("speech translation needs English and at least one of zh, ms, ta in --languages")
    return tasks, languages


def _plan_split(split: str, seed: int, hours: float, tasks, languages, used_texts: set) -> list[dict]:
    rng = random.Random(f"{seed}:{split}")
    holdout = split == "test_unseen_template"
    ctx = TaskContext(rng, TextSampler(rng, holdout), Caster(rng, seen=split != "test_unseen_voice"),
                      holdout, used_texts, languages)
    task_total = sum(TASK_SHARES[t] for t in tasks)
    specs = []
    for task in tasks:
        budget = hours * 3600 * SPLIT_SHARES[split] * TASK_SHARES[task] / task_total
        minimum = MIN_EXAMPLES.get((split, task), MIN_EXAMPLES.get((split, None), MIN_EXAMPLES_TEST))
        seconds, count = 0.0, 0
        while seconds < budget or count < minimum:
            language = _language(rng, task, languages)
            if task == "asr" and (count == 1 or rng.random() < NO_SPEECH_SHARE):
                spec = build_no_speech(ctx, rng.choice(languages))
            else:
                spec = BUILDERS[task](ctx, language)
            policy = spec.pop("policy")
            # Speech-free clips are made whole by `no_speech_audio`; only their seed is needed.
            spec["augment"] = ({"seed": rng.randrange(2**31), "pad": [0.0, 0.0]} if "no_speech" in spec
                               else choose_augment(rng, policy))
            spec["id"] = f"{split}-{task}-{count:06d}"
            spec["split"] = split
            spec["hash"] = spec_hash(spec)
            seconds += spec["estimate"] + sum(spec["augment"]["pad"])
            count += 1
            specs.append(spec)
    return specs


def plan_corpus(seed: int, hours: float, tasks=None, languages=None) -> list[dict]:
    """Every synthetic example of the corpus, in a fixed order (split by split, task by task)."""
    if hours <= 0:
        raise ConfigError(f"--hours must be positive, got {hours}")
    tasks, languages = check_request(tasks, languages)
    used_texts: set = set()
    specs = []
    for split in SYNTHETIC_SPLITS:
        specs.extend(_plan_split(split, seed, hours, tasks, languages, used_texts))
    return specs
