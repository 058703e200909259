"""The inference interface that evaluation, the server and the baselines all speak.

Anything that can answer a list of `SpeechRequest`s is a `Responder`: the local AudioLLM, a cascade
(ASR then a text LLM), or a client of a running `audiollm serve`. Evaluation code only ever sees this
interface, so every model is scored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@dataclass
class SpeechRequest:
    """One question about (at most) one audio clip.

    audio: 16 kHz mono float32 samples, or None for a text-only request.
    instruction: what to do with the audio ("Please transcribe this speech.").
    """

    instruction: str
    audio: np.ndarray | None = None
    max_new_tokens: int = 128
    temperature: float = 0.0
    extra: dict = field(default_factory=dict)
    # Forbid any n-gram from appearing twice in the answer (0: off; None: the model's own default, from its
    # folder's generation_config.json). MERaLiON-2 ships 6, and so does the embedded default: greedy decoding
    # of a small model can fall into "i had no idea that i had no idea that ..." loops.
    no_repeat_ngram_size: int | None = None
    # How strongly decoding leans towards the transcript reader's own reading (audiollm/reader_copy.py; models
    # with transcript rows). None: the model's default (its generation_config.json); 0: off.
    reader_copy_bias: float | None = None


@runtime_checkable
class Responder(Protocol):
    """Something that answers speech requests; `name` identifies it in reports."""

    name: str

    def respond(self, requests: Sequence[SpeechRequest]) -> list[str]:
        """Answer each request; the i-th string answers the i-th request."""
        ...
