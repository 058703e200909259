"""Open-vocabulary English ASR: installed fortune-cookie sentences read by the corpus voices.

The template bank gives every other example its text, so a model trained on it alone learns a small
world (stalls, MRT stations, chicken rice) and, shown real speech, writes that world back. These
examples read free English sentences instead: quotations, jokes and proverbs from Debian's `fortunes`
package (BSD licence; `apt-get install fortunes`), cut into single sentences of 5-25 words that a TTS
engine can say (letters and punctuation only: no digits, code, verse layout or ASCII art).

Every tenth sentence (by a hash of its text, so the choice never depends on the seed or the build
size) is held out for the `test_open_text` split, read by unseen voices; the rest may appear in
train. `audiollm synth --open-text-hours H` adds these examples; without it the corpus is unchanged.
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


def _example(rng: random.Random, caster: Caster, sentence: str, split: str, number: int) -> dict:
    """One planned ASR example: one voice reading one sentence, augmented like the rest of the corpus."""
    segment = caster.segment(sentence, "en")
    spec = draft("asr", "en", pick_instruction(rng, "asr", "en", holdout=False), sentence, [segment],
                 {"transcript": sentence, "open_text": True, "text_source": "fortunes",
                  "instruction_language": "en"})
    spec["augment"] = choose_augment(rng, spec.pop("policy"))
    spec["id"] = f"{split}-asr-open-{number:06d}"
    spec["split"] = split
    spec["hash"] = spec_hash(spec)
    return spec


def plan_open_text(seed: int, hours: float, folder: Path | None = None) -> list[dict]:
    """Specs for `hours` of open-text ASR: train from the shared sentences, a test split from the held-out ones."""
    if hours <= 0:
        return []
    sentences = read_sentences(folder)
    pools = {"train": [s for s in sentences if not is_held_out(s)],
             "test_open_text": [s for s in sentences if is_held_out(s)]}
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
