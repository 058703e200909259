"""Text-only tests: does the decoder still follow plain text instructions after speech training?

Two sets, both task "text" (no audio), scored by token F1 and, for short answers, exact/contains match:

- `text_general`: 32 short-answer questions shipped with the package (facts, arithmetic, copying a
  word, replying with a given word), unrelated to the corpus, so they show general forgetting;
- `<set>-text`: the SI and SQA examples of a test set with their transcript as the prompt and the same
  answers (the form of the training-time text replay, so this one is in-domain).

The base LLM is scored on the same sets through a cascade (`cascade:...` answers text prompts with its
LLM alone), so "within 10% of the base LLM" is one `audiollm eval --compare`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence

from audiollm.data.manifest import read_manifest
from audiollm.evaluate.data import EvalSet
from audiollm.train.data import as_text_example

GENERAL_NAME = "text_general"


def general_text_set() -> EvalSet:
    path = Path(str(resources.files("audiollm.resources") / "text_test.jsonl"))
    return EvalSet(GENERAL_NAME, path, read_manifest(path))


def text_only_sets(sets: Sequence[EvalSet]) -> list[EvalSet]:
    """The general set plus a text version of each set's SI/SQA examples (sets without any are skipped)."""
    result = [general_text_set()]
    for eval_set in sets:
        converted = [as_text_example(e) for e in eval_set.examples if e.task in ("si", "sqa")]
        examples = [e for e in converted if e is not None]
        if examples:
            result.append(EvalSet(f"{eval_set.name}-text", eval_set.path, examples))
    return result
