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

The anchor keeps the bias out of every other answer. Without it, a translation, an answer to a question, a
label or a summary leans towards the reading from its first token and whenever a word of it occurs in the
reading (default-v21, strength 16: ST BLEU 6.5 -> 0.7, SQA token F1 13.3 -> 4.5; docs/training.md). The
strength is a decoding setting (`reader_copy_bias`); the shipped default sets it in its generation_config.json,
which may also set `reader_copy_anchor` (0: no anchor, the bias is on from the answer's first token).
"""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import LogitsProcessor

LONGEST_MATCH = 8  # tokens of the answer's tail looked up in the reading; longer tails add nothing
ANCHOR = 2  # the answer's first tokens that must be the reading's before the bias engages


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
    """Adds `strength` to the logits of the tokens that continue each row's copy of its reading."""

    def __init__(self, strength: float, sources: list[list[int]], end_ids: Sequence[int], anchor: int = ANCHOR):
        self.strength = strength
        self.sources = sources
        self.end_ids = list(end_ids)
        self.anchor = anchor

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # Generation from embeddings: input_ids holds only the answer written so far.
        for row, source in enumerate(self.sources):
            if not source:
                continue
            positions = following_positions(source, input_ids[row].tolist(), anchor=self.anchor)
            tokens = {source[p] for p in positions if p < len(source)}
            if len(source) in positions:
                tokens.update(self.end_ids)
            if tokens:
                scores[row, sorted(tokens)] += self.strength
        return scores


class ReaderCopy:
    """Spells the windows' readings in the LLM's tokens and makes the bias for one batch.

    whisper_tokenizer decodes the reader's token ids; llm_tokenizer encodes the text for the LLM."""

    def __init__(self, strength: float, whisper_tokenizer, llm_tokenizer, anchor: int = ANCHOR):
        self.strength = strength
        self.anchor = anchor
        self.whisper_tokenizer = whisper_tokenizer
        self.llm_tokenizer = llm_tokenizer

    def spell(self, windows: list[list[int]]) -> list[int]:
        """The LLM token ids of the windows' readings, joined in order with spaces."""
        texts = [self.whisper_tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in windows]
        text = " ".join(text for text in texts if text)
        return self.llm_tokenizer(text, add_special_tokens=False).input_ids if text else []

    def bias(self, readings: list[tuple[list[int], int]], speech_tokens_per_row: list[int],
             end_ids: int | Sequence[int] | None) -> ReaderCopyBias:
        """`readings`: (reading, speech token count) per window, windows in batch order, as AudioLLM.encode_speech
        collects them; each row takes windows until their token counts add up to its placeholders."""
        windows = iter(readings)
        sources = []
        for placeholders in speech_tokens_per_row:
            row_windows = []
            while placeholders > 0:
                reading, count = next(windows)
                row_windows.append(reading)
                placeholders -= count
            sources.append(self.spell(row_windows))
        ends = [] if end_ids is None else [end_ids] if isinstance(end_ids, int) else list(end_ids)
        return ReaderCopyBias(self.strength, sources, ends, self.anchor)
