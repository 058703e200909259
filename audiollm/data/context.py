"""What every task builder gets: the seeded random source, the text sampler, the caster, the split's flags.

Task builders (`tasks_*.py`) are functions `build(ctx, language) -> dict` returning an example draft
(see `casting.draft`). They draw every random choice from `ctx.rng`, so planning is deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from audiollm.data.casting import Caster
from audiollm.data.instructions import pick_instruction
from audiollm.data.textgen import Filled, TextSampler
from audiollm.errors import ConfigError


@dataclass
class TaskContext:
    """Shared state for planning one split; `used_texts` is shared by all splits to keep them disjoint."""

    rng: random.Random
    text: TextSampler
    cast: Caster
    holdout: bool
    used_texts: set = field(default_factory=set)
    languages: tuple = ("en", "zh", "ms", "ta")
    counters: dict = field(default_factory=dict)

    def instruction(self, task: str, language: str = "en", **fields) -> str:
        """A wording in `language`, from the held-out group when this split is the unseen-template one."""
        return pick_instruction(self.rng, task, language, self.holdout, **fields)

    def instruction_language(self, audio_language: str, other_share: float = 0.25) -> str:
        """Mostly English instructions; sometimes in the language of the audio."""
        if audio_language != "en" and self.rng.random() < other_share:
            return audio_language
        return "en"

    def fresh_sentence(self, languages, english_only_ok: bool = True, key_language: str | None = None) -> Filled:
        """A filled template whose text (in `key_language`) has not been used anywhere in the corpus yet."""
        key_language = key_language or languages[0]
        for _ in range(200):
            filled = self.text.sentence(languages, english_only_ok)
            key = filled.texts[key_language]
            if key not in self.used_texts:
                self.used_texts.add(key)
                return filled
        raise ConfigError(f"could not find an unused sentence in {list(languages)}; the corpus is too large "
                          "for the template bank")
