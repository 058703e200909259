"""Reader copy bias: decoding leans towards continuing Whisper's own reading of the audio.

A model with transcript rows (audiollm/transcript_rows.py) hears each window through Whisper's decoder,
whose greedy reading enters the LLM as soft rows. The LLM copies most of that reading but, on real
speech, drops or rewrites stretches of it (docs/training.md: 22.1% WER where Whisper base reads 13.9%).
The bias works on the tokens the LLM writes, like prompt-lookup decoding does, but nudges instead of
verifying:

    source   the row's windows' readings, decoded by Whisper's tokenizer, joined and tokenized by the LLM
    written  what the LLM has written so far in this answer
    anchor   the bias engages only once the answer's first ANCHOR tokens are the reading's first ANCHOR
             tokens: the LLM, on its own, has started to write out what was said
    match    the longest m <= LONGEST_MATCH such that written's last m tokens occur in source;
             every token that follows such an occurrence gets +strength on its logit, and where an
             occurrence ends the source the end-of-turn ids get it (the reading is over: stop)
    weight   with `reader_copy_confidence` c > 0, a continuation's lift is strength x p^c, p the probability
             Whisper gave the reading's text there: where Whisper hesitated (a name it misreads), the LLM's
             own reading can win

The anchor keeps the bias out of every other answer. Without it, a translation, an answer to a question, a
label or a summary leans towards the reading from its first token and whenever a word of it occurs in the
reading (default-v21, strength 16: ST BLEU 6.5 -> 0.7, SQA token F1 13.3 -> 4.5; docs/training.md). The
strength is a decoding setting (`reader_copy_bias`); the shipped default sets it in its generation_config.json,
which may also set `reader_copy_anchor` (0: no anchor, the bias is on from the answer's first token) and
`reader_copy_confidence` (0, every continuation lifted alike, when unset).

A transcription is asked for the reading itself, so a model's `reader_copy_transcript_anchor` replaces its
anchor there (GenerationSettings.transcribing), but only where Whisper would keep its reading (`trusted`:
no-speech probability at most 0.6, mean token log-probability at least -1.0). Elsewhere leaning from the
first token writes Whisper's inventions for silence and its wrong-language readings (default-v21, anchor 0
on every answer: 8 of 36 speech-free clips answered with text; with the test: 0, and the 30 real clips
15.0% WER against 17.0% anchored; docs/training.md).
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import torch
from transformers import LogitsProcessor

from audiollm.errors import ConfigError
from audiollm.transcript_rows import WindowReading

LONGEST_MATCH = 8  # tokens of the answer's tail looked up in the reading; longer tails add nothing
ANCHOR = 2  # the answer's first tokens that must be the reading's before the bias engages
# Whisper's own tests of a failed reading (its decoding defaults): a mean token log-probability under -1.0
# makes it decode again at a higher temperature, and a no-speech probability over 0.6 marks the window silent.
TRUSTED_MEAN_LOGPROB = -1.0
NO_SPEECH_THRESHOLD = 0.6


def following_positions(source: Sequence[int], written: Sequence[int], longest: int = LONGEST_MATCH,
                        anchor: int = ANCHOR) -> list[int]:
    """Where `written` would continue a copy of `source`: the positions right after every occurrence of its
    longest tail (at most `longest` tokens) found in `source`; len(source) means the copy is complete.
    [] before `written` holds `anchor` tokens, when they are not `source`'s first ones, and when not even
    its last token occurs in `source`. Anchor 0 is no anchor: an empty answer continues at [0]."""
    if not written:
        return [0] if source and anchor == 0 else []
    if len(written) < anchor or list(written[:anchor]) != list(source[:anchor]):
        return []
    for size in range(min(longest, len(written)), 0, -1):
        tail = list(written[-size:])
        found = [start + size for start in range(len(source) - size + 1) if list(source[start : start + size]) == tail]
        if found:
            return found
    return []


class ReaderCopyBias(LogitsProcessor):
    """Adds `strength` (times each source token's weight, when given) to the logits of the tokens that continue
    each row's copy of its reading."""

    def __init__(self, strength: float, sources: list[list[int]], end_ids: Sequence[int],
                 anchor: int | list[int] = ANCHOR, weights: list[list[float]] | None = None):
        self.strength = strength
        self.sources = sources
        self.weights = weights or [[1.0] * len(source) for source in sources]
        self.end_ids = list(end_ids)
        self.anchors = anchor if isinstance(anchor, list) else [anchor] * len(sources)  # one per row

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # Generation from embeddings: input_ids holds only the answer written so far.
        for row, (source, weights, anchor) in enumerate(zip(self.sources, self.weights, self.anchors)):
            if not source:
                continue
            lift: dict[int, float] = {}  # token -> its largest weight among the continuations
            for position in following_positions(source, input_ids[row].tolist(), anchor=anchor):
                if position < len(source):
                    lift[source[position]] = max(lift.get(source[position], 0.0), weights[position])
                else:  # the reading is over: stop
                    lift.update((end, 1.0) for end in self.end_ids)
            for token, weight in lift.items():
                scores[row, token] += self.strength * weight
        return scores


def character_confidences(whisper_tokenizer, reading: WindowReading) -> tuple[str, list[float]]:
    """A window's reading as text (stripped) and, per character, Whisper's probability of the token that wrote it.

    A character split over several tokens (a multi-byte letter) takes the least of their probabilities."""
    text = whisper_tokenizer.decode(reading.tokens, skip_special_tokens=True)
    confidences: list[float] = []
    pending = 1.0  # the least probability of the tokens since the last completed character
    for end, probability in enumerate(reading.probabilities, start=1):
        pending = min(pending, probability)
        prefix = whisper_tokenizer.decode(reading.tokens[:end], skip_special_tokens=True)
        complete = len(os.path.commonprefix([prefix, text]))  # a half-written letter decodes as U+FFFD
        if complete > len(confidences):
            confidences.extend([pending] * (complete - len(confidences)))
            pending = 1.0
    confidences.extend([pending] * (len(text) - len(confidences)))
    start = len(text) - len(text.lstrip())
    stripped = text.strip()
    return stripped, confidences[start : start + len(stripped)]


class ReaderCopy:
    """Spells the windows' readings in the LLM's tokens and makes the bias for one batch.

    whisper_tokenizer decodes the reader's token ids; llm_tokenizer encodes the text for the LLM.
    `trusted_anchor` (None: unused) replaces `anchor` in the rows whose reading Whisper trusts (`trusted`): a
    transcription asks for the reading itself, so it may lean on it from its first token. With
    `confidence` c > 0 the bias on a reading's token is strength x p^c, p Whisper's probability of the text
    it spells (the least over its characters): the LLM is pushed hard where Whisper was sure and left to
    its own reading where Whisper hesitated. c = 0 pushes every token alike."""

    def __init__(self, strength: float, whisper_tokenizer, llm_tokenizer, anchor: int = ANCHOR,
                 confidence: float = 0.0, trusted_anchor: int | None = None):
        self.strength = strength
        self.anchor = anchor
        self.trusted_anchor = trusted_anchor
        self.confidence = confidence
        self.whisper_tokenizer = whisper_tokenizer
        self.llm_tokenizer = llm_tokenizer

    @classmethod
    def from_generation_defaults(cls, strength: float, defaults: dict, whisper_tokenizer, llm_tokenizer,
                                 transcribing: bool) -> "ReaderCopy":
        """The bias a model folder's generation_config.json settings (read_generation_defaults) ask for: its
        anchor and confidence weighting, and for a transcription its transcript anchor."""
        trusted_anchor = defaults.get("reader_copy_transcript_anchor") if transcribing else None
        return cls(strength, whisper_tokenizer, llm_tokenizer, defaults.get("reader_copy_anchor", ANCHOR),
                   defaults.get("reader_copy_confidence", 0.0), trusted_anchor)

    def spell(self, windows: list[WindowReading]) -> tuple[list[int], list[float]]:
        """The LLM token ids of the windows' readings, joined in order with spaces, and each one's weight."""
        if not self.confidence:
            texts = [self.whisper_tokenizer.decode(window.tokens, skip_special_tokens=True).strip() for window in windows]
            text = " ".join(text for text in texts if text)
            ids = self.llm_tokenizer(text, add_special_tokens=False).input_ids if text else []
            return ids, [1.0] * len(ids)
        if not getattr(self.llm_tokenizer, "is_fast", False):
            raise ConfigError("reader_copy_confidence needs the LLM's fast tokenizer (character offsets); "
                              "set it to 0 for this model")
        text, confidences = "", []
        for window in windows:
            window_text, window_confidences = character_confidences(self.whisper_tokenizer, window)
            if window_text:
                if text:  # the space that joins two windows is no word of Whisper's: it counts as sure
                    text, confidences = text + " ", confidences + [1.0]
                text, confidences = text + window_text, confidences + window_confidences
        if not text:
            return [], []
        encoded = self.llm_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        weights = [min(confidences[start:end], default=1.0) ** self.confidence
                   for start, end in encoded.offset_mapping]
        return encoded.input_ids, weights

    def bias(self, readings: list[tuple[WindowReading, int]], speech_tokens_per_row: list[int],
             end_ids: int | Sequence[int] | None) -> ReaderCopyBias:
        """`readings`: (reading, speech token count) per window, windows in batch order, as AudioLLM.encode_speech
        collects them; each row takes windows until their token counts add up to its placeholders."""
        windows = iter(readings)
        sources, weights, anchors = [], [], []
        for placeholders in speech_tokens_per_row:
            row_windows = []
            while placeholders > 0:
                reading, count = next(windows)
                row_windows.append(reading)
                placeholders -= count
            source, source_weights = self.spell(row_windows)
            sources.append(source)
            weights.append(source_weights)
            use_trusted = self.trusted_anchor is not None and trusted(row_windows)
            anchors.append(self.trusted_anchor if use_trusted else self.anchor)
        ends = [] if end_ids is None else [end_ids] if isinstance(end_ids, int) else list(end_ids)
        return ReaderCopyBias(self.strength, sources, ends, anchors, weights)


def trusted(windows: list[WindowReading]) -> bool:
    """Whether Whisper would keep these readings: someone speaks in every window (no-speech probability at
    most 0.6) and its tokens' mean log-probability is at least -1.0. Readings that fail are where it read a
    wrong language or invented words for silence (docs/training.md)."""
    probabilities = [p for window in windows for p in window.probabilities]
    if not probabilities or any(window.no_speech > NO_SPEECH_THRESHOLD for window in windows):
        return False
    return sum(math.log(max(p, 1e-12)) for p in probabilities) / len(probabilities) >= TRUSTED_MEAN_LOGPROB
