"""Open-vocabulary English ASR: installed fortune-cookie sentences read by the corpus voices.

The template bank gives every other example its text, so a model trained on it alone learns a small
world (stalls, MRT stations, chicken rice) and, shown real speech, writes that world back. These
examples read free English sentences instead: quotations, jokes and proverbs from Debian's `fortunes`
package (BSD licence; `apt-get install fortunes`), cut into single sentences of 5-25 words that a TTS
engine can say (letters and punctuation only: no digits, code, verse layout or ASCII art).

Every tenth sentence (by a hash of its text, so the choice never depends on the seed or the build
size) is held out for the `test_open_text` split, read by unseen voices; the rest may appear in
train. `audiollm synth --open-text-hours H` adds these examples; without it the corpus is unchanged.

Passages (`audiollm synth --open-passage-hours H`) read 2-4 of those sentences in one breath, 10-28 s and
30-90 answer tokens: single sentences never teach the decoder to keep listening past the twentieth token,
and real recordings run longer than that. They get manifests of their own (`train_open_passages`, and
`test_open_passages` from the held-out sentences in unseen voices), so a recipe can weight them by split
and the earlier rows stay as they are.

Neural-voice readings (`audiollm synth --neural-voice-hours H`, with Piper installed) are the shared
sentences, and passages of them, read by a neural voice of a recorded speaker at many pitch-and-formant
shifts, in `train_neural_voice` only: every other voice in the corpus is a formant, diphone or HMM voice,
and real people sound nearer to the neural one. There is no test split in that voice: the model's test on
human-like speech is real speech (test_real), and experiments/natural_voice.py reads held-out sentences in it.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

from audiollm.data.augment import choose_augment
from audiollm.data.casting import Caster, draft
from audiollm.data.instructions import pick_instruction
from audiollm.data.render import spec_hash
from audiollm.data.voices import DEFAULT_NEURAL_SPEAKERS, NEURAL_INSTALL, NEURAL_SPEAKERS, Voice, neural_voices
from audiollm.errors import ConfigError

FORTUNE_DIR = Path("/usr/share/games/fortunes")
# Files left out: pictures, program code, jargon and in-jokes that no voice can read as a sentence,
# and the collections whose jokes are about groups of people.
SKIPPED_FILES = {"art", "ascii-art", "computers", "debian", "definitions", "drugs", "ethnic", "knghtbrd",
                 "linux", "linuxcookie", "men-women", "perl", "startrek", "translate-me", "zippy"}
MIN_WORDS, MAX_WORDS = 5, 25
SPEAKABLE = re.compile(r"[A-Za-z ,.'?!;\"-]+")  # no colons: "Q:" and "A:" label jokes, they are not spoken
ATTRIBUTION = re.compile(r"\s*(--|~~)")  # "-- Mark Twain" lines name the author, they are not the quote
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"])")
HELD_OUT_EVERY = 10
TEST_SHARE = 0.05  # of --open-text-hours, at least one example
OPEN_TEXT_SPLITS = ("train", "test_open_text")
PASSAGE_SPLITS = {"train": "train_open_passages", "test_open_text": "test_open_passages"}  # sentence pool -> split
PASSAGE_SENTENCES = (2, 4)
# About 19 s at normal speed: read at the slowest voice speed (0.82) and slowed again by augmentation (0.9),
# with pauses and padding, a passage still fits one 30 s encoder window.
PASSAGE_MAX_CHARS = 370
NEURAL_VOICE_SPLIT = "train_neural_voice"
NEURAL_PASSAGE_SHARE = 0.5  # of the neural-voice examples; the rest read one sentence


def read_sentences(folder: Path | None = None) -> list[str]:
    """Every speakable sentence of the fortune files in `folder` (default FORTUNE_DIR), deduplicated and sorted."""
    folder = Path(folder or FORTUNE_DIR)
    files = sorted(p for p in folder.glob("*") if p.is_file() and "." not in p.name
                   and p.name not in SKIPPED_FILES) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"no fortune files in {folder}: --open-text-hours reads Debian's `fortunes` "
                          "package (apt-get install fortunes)")
    sentences = set()
    for path in files:
        for entry in path.read_text(encoding="latin-1").split("\n%\n"):
            lines = [line.strip() for line in entry.splitlines() if not ATTRIBUTION.match(line)]
            for sentence in SENTENCE_END.split(" ".join(" ".join(lines).split())):
                words = len(sentence.split())
                if (MIN_WORDS <= words <= MAX_WORDS and SPEAKABLE.fullmatch(sentence)
                        and sentence[0].isupper() and sentence[-1] in ".!?"):
                    sentences.add(sentence)
    return sorted(sentences)


def is_held_out(sentence: str) -> bool:
    """True for the sentences only `test_open_text` may use (a fixed tenth, chosen by text hash)."""
    return int(hashlib.sha256(sentence.encode()).hexdigest(), 16) % HELD_OUT_EVERY == 0


def _example(rng: random.Random, caster: Caster, sentence: str, split: str, number: int,
             kind: str = "open", extra_meta: dict | None = None) -> dict:
    """One planned ASR example: one voice reading `sentence` (or a passage), augmented like the rest of the corpus."""
    segment = caster.segment(sentence, "en")
    spec = draft("asr", "en", pick_instruction(rng, "asr", "en", holdout=False), sentence, [segment],
                 {"transcript": sentence, "open_text": True, "text_source": "fortunes",
                  "instruction_language": "en", **(extra_meta or {})})
    spec["augment"] = choose_augment(rng, spec.pop("policy"))
    spec["id"] = f"{split}-asr-{kind}-{number:06d}"
    spec["split"] = split
    spec["hash"] = spec_hash(spec)
    return spec


def plan_open_text(seed: int, hours: float, folder: Path | None = None) -> list[dict]:
    """Specs for `hours` of open-text ASR: train from the shared sentences, a test split from the held-out ones."""
    if hours <= 0:
        return []
    pools = _sentence_pools(folder)
    budgets = {"train": hours * 3600 * (1 - TEST_SHARE), "test_open_text": hours * 3600 * TEST_SHARE}
    specs = []
    for split in OPEN_TEXT_SPLITS:
        rng = random.Random(f"{seed}:{split}:open-text")
        pool = pools[split]
        rng.shuffle(pool)
        caster = Caster(rng, seen=split == "train")
        seconds = 0.0
        for number, sentence in enumerate(pool):
            if seconds >= budgets[split] and number >= 1:
                break
            specs.append(_example(rng, caster, sentence, split, number))
            seconds += specs[-1]["estimate"] + sum(specs[-1]["augment"]["pad"])
        if seconds < budgets[split]:
            raise ConfigError(f"--open-text-hours {hours} needs more {split} sentences than the "
                              f"{len(pool)} in {folder or FORTUNE_DIR}; ask for fewer hours")
    return specs


def _sentence_pools(folder: Path | None) -> dict[str, list[str]]:
    sentences = read_sentences(folder)
    return {"train": [s for s in sentences if not is_held_out(s)],
            "test_open_text": [s for s in sentences if is_held_out(s)]}


def plan_open_passages(seed: int, hours: float, folder: Path | None = None) -> list[dict]:
    """Specs for `hours` of passages (2-4 free sentences read by one voice): train_open_passages from the
    shared sentences, test_open_passages (TEST_SHARE of the hours) from the held-out ones."""
    if hours <= 0:
        return []
    pools = _sentence_pools(folder)
    specs = []
    for pool_name, split in PASSAGE_SPLITS.items():
        shared = pool_name == "train"  # the shared sentences, read by seen voices; else the held-out ones
        budget = hours * 3600 * (1 - TEST_SHARE if shared else TEST_SHARE)
        rng = random.Random(f"{seed}:{split}")
        pool = list(pools[pool_name])
        rng.shuffle(pool)
        caster = Caster(rng, seen=shared)
        seconds, cursor, number = 0.0, 0, 0
        while seconds < budget or number == 0:
            chosen, cursor = _next_passage(rng, pool, cursor)
            if len(chosen) < PASSAGE_SENTENCES[0]:
                if cursor >= len(pool):
                    raise ConfigError(f"--open-passage-hours {hours} needs more {pool_name} sentences than the "
                                      f"{len(pool)} in {folder or FORTUNE_DIR}; ask for fewer hours")
                continue  # a sentence too long to share a passage stays unused
            specs.append(_passage_example(rng, caster, chosen, split, number))
            seconds += specs[-1]["estimate"] + sum(specs[-1]["augment"]["pad"])
            number += 1
    return specs


def _next_passage(rng: random.Random, pool: list[str], cursor: int) -> tuple[list[str], int]:
    """The next 2-4 sentences of `pool` from `cursor` that fit PASSAGE_MAX_CHARS, and the new cursor."""
    wanted = rng.randint(*PASSAGE_SENTENCES)
    chosen = []
    while cursor < len(pool) and len(chosen) < wanted:
        if chosen and len(" ".join(chosen + [pool[cursor]])) > PASSAGE_MAX_CHARS:
            break
        chosen.append(pool[cursor])
        cursor += 1
    return chosen, cursor


def _passage_example(rng: random.Random, caster: Caster, sentences: list[str], split: str, number: int) -> dict:
    return _example(rng, caster, " ".join(sentences), split, number, kind="passage",
                    extra_meta={"passage_sentences": len(sentences)})


def plan_neural_voice(seed: int, hours: float, folder: Path | None = None, voices: tuple[Voice, ...] | None = None,
                      speakers: tuple[str, ...] = DEFAULT_NEURAL_SPEAKERS) -> list[dict]:
    """Specs for `hours` of the shared free sentences read by the neural voices of `speakers` (or the given
    `voices`), in train_neural_voice: half passages, half single sentences, each at its own speed and
    pitch-and-formant shift."""
    if hours <= 0:
        return []
    if voices is None:
        voices = neural_voices(speakers)
        missing = sorted(set(speakers) - {voice.speaker for voice in voices})
        if missing:
            raise ConfigError(f"--neural-voice-hours: neural voice(s) {', '.join(missing)} not installed "
                              f"(known: {', '.join(NEURAL_SPEAKERS)}): {NEURAL_INSTALL}")
    if not voices:
        raise ConfigError(f"--neural-voice-hours reads with neural voices: {NEURAL_INSTALL}")
    rng = random.Random(f"{seed}:{NEURAL_VOICE_SPLIT}")
    pool = list(_sentence_pools(folder)["train"])
    rng.shuffle(pool)
    caster = Caster(rng, seen=True, voices=voices)
    specs, seconds, cursor, number = [], 0.0, 0, 0
    while seconds < hours * 3600:
        if cursor >= len(pool):
            raise ConfigError(f"--neural-voice-hours {hours} needs more sentences than the {len(pool)} "
                              f"in {folder or FORTUNE_DIR}; ask for fewer hours")
        if rng.random() < NEURAL_PASSAGE_SHARE:
            chosen, cursor = _next_passage(rng, pool, cursor)
            if len(chosen) < PASSAGE_SENTENCES[0]:
                continue
            specs.append(_passage_example(rng, caster, chosen, NEURAL_VOICE_SPLIT, number))
        else:
            specs.append(_example(rng, caster, pool[cursor], NEURAL_VOICE_SPLIT, number))
            cursor += 1
        seconds += specs[-1]["estimate"] + sum(specs[-1]["augment"]["pad"])
        number += 1
    return specs
