"""Transcript rows: Whisper's own decoder reads each window, and what it would write enters the LLM.

Why: the adaptor learns to read Whisper's encoder frames from the speech it is trained on. Trained on
synthetic voices, it reads real people badly (docs/training.md: a CTC probe on the same frozen frames
scores 84.5% WER on real speech where Whisper's own decoder scores 19.7%). Whisper's decoder was trained
on real speech, so its states carry what was said whatever the voice. These rows hand them to the LLM.

Per window, with the window's encoder states from 30 s padded input (the only input Whisper's decoder
reads well; on real-length states it loops, see docs/training.md):
    greedy decoding  <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|> t1 t2 ... <|endoftext|>
    state h_k        the decoder's last hidden state where it predicts token k+1 (K_w states)
    row_k            sum over the 8 likeliest text tokens v of p(v | h_k) * token_rows[v]   (p: Whisper's own)
                     + correction(h_k)                                                        (trained)
token_rows[v] is the LLM's own input embedding of Whisper token v's text (its LLM tokens averaged), so
before any training a row already says "probably this word" in the LLM's vocabulary; where Whisper
predicts the end of text, the mass is on no token and the row is the correction alone. Rows after the
end, up to the window's fixed count K_w (config.transcript_rows_for: the prompt's length must not depend
on what Whisper writes), are zeros. Whisper's decoder and the token table are never trained.

With config.transcript_no_speech_row, one row comes first: p(<|nocaptions|> | <|startoftranscript|>), the
probability Whisper gives to there being no speech (the token Whisper's own no-speech test reads), times
the LLM's embedding of the words "no speech". Whisper writes words for silence and noise; this row tells
the LLM how little to trust them (on the corpus's speech-free clips it is 0.7-0.97, on speech mostly
under 0.3: docs/training.md). With config.transcript_language_row, one row follows it: Whisper's language
identification at the same place (its probabilities over its language tokens) times the LLM's embeddings of
those languages' names, the language Whisper hears in the LLM's own words.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from transformers import AutoTokenizer, WhisperConfig
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.models.whisper.modeling_whisper import WhisperDecoder
from transformers.models.whisper.tokenization_whisper import LANGUAGES as WHISPER_LANGUAGES

from audiollm.errors import ConfigError

# The WhisperConfig fields that the reader needs (the decoder and its special tokens).
READER_FIELDS = ("vocab_size", "decoder_layers", "decoder_attention_heads", "decoder_ffn_dim", "max_target_positions",
                 "decoder_start_token_id", "eos_token_id", "pad_token_id", "bos_token_id", "no_timestamps_token_id",
                 "lang_to_id", "task_to_id", "suppress_tokens", "begin_suppress_tokens", "scale_embedding",
                 "activation_function", "d_model")
TOP_TOKENS = 8  # text tokens mixed into a row; the rest of Whisper's distribution is negligible mass
NO_SPEECH_WORDS = "no speech"  # what the no-speech row says, in the LLM's own embeddings


class Reading(NamedTuple):
    """What TranscriptReader.read returns (see there)."""

    states: torch.Tensor
    alive: torch.Tensor
    top_probabilities: torch.Tensor
    top_tokens: torch.Tensor
    no_speech: torch.Tensor
    languages: torch.Tensor | None
    written: list["WindowReading"]


class WindowReading(NamedTuple):
    """One window's greedy reading: Whisper's token ids (the end of text left out), the probability Whisper
    gave each of them when it chose it, and its probability that nobody speaks (the reader copy bias reads
    them to judge how far to trust the reading)."""

    tokens: list[int]
    probabilities: list[float]
    no_speech: float = 0.0


class TranscriptReader(nn.Module):
    """Whisper's decoder plus the map from its states to decoder-width rows (see module docstring)."""

    def __init__(self, whisper_config: WhisperConfig, decoder_width: int, dropout: float = 0.1,
                 no_speech_row: bool = False, language_row: bool = False):
        super().__init__()
        self.decoder = WhisperDecoder(whisper_config)
        width = whisper_config.d_model
        self.register_buffer("token_rows", torch.zeros(whisper_config.vocab_size, decoder_width))
        self.correction = nn.Sequential(nn.Linear(width, 4 * width), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Linear(4 * width, decoder_width))
        nn.init.zeros_(self.correction[3].weight)  # starts as the token mixture alone
        nn.init.zeros_(self.correction[3].bias)
        self.start = whisper_config.decoder_start_token_id
        self.end = whisper_config.eos_token_id
        self.no_speech_token = whisper_config.no_timestamps_token_id - 1  # <|nocaptions|>, as Whisper lays it out
        self.prompt_tail = [whisper_config.no_timestamps_token_id]
        languages = getattr(whisper_config, "lang_to_id", None) or {}
        self.languages = sorted(languages.values())
        self.language_codes = [code.strip("<|>") for code, _ in sorted(languages.items(), key=lambda item: item[1])]
        tasks = getattr(whisper_config, "task_to_id", None) or {}
        if self.languages:  # multilingual: <|lang|> is detected, then <|transcribe|>
            self.prompt_tail = [tasks["transcribe"], whisper_config.no_timestamps_token_id]
        self.suppressed = [t for t in (whisper_config.suppress_tokens or []) if t < self.end]
        self.int8_text_head: nn.Module | None = None  # audiollm.quantize.quantize_reader_int8 sets it
        self.make_head_rows(no_speech_row, language_row)

    @property
    def head_rows(self) -> tuple[bool, bool]:
        """Whether the reader writes the no-speech row and the language row (before the text rows)."""
        return self.no_speech_words is not None, self.language_words is not None

    def make_head_rows(self, no_speech_row: bool, language_row: bool) -> None:
        """The head rows' word tables (module docstring), zeros until `fill_head_rows`: the words "no speech"
        (D,) and the names of Whisper's languages in token order (languages, D). None, and no key, without
        the row. They hold no trained weights, so a trained reader may gain or drop them."""
        if language_row and not self.languages:
            raise ConfigError("transcript_language_row needs a multilingual Whisper (one that identifies languages)")
        width, device = self.token_rows.shape[1], self.token_rows.device
        self.register_buffer("no_speech_words", torch.zeros(width, device=device) if no_speech_row else None)
        self.register_buffer("language_words", torch.zeros(len(self.languages), width, device=device)
                             if language_row else None)

    @torch.no_grad()  # fixed tables, like token_rows: no graph back to the embeddings
    def fill_head_rows(self, llm_tokenizer, llm_embeddings: torch.Tensor) -> None:
        """Write the head rows' word tables from the LLM's tokenizer and input embeddings."""
        if self.no_speech_words is not None:
            self.no_speech_words.copy_(phrase_rows(llm_tokenizer, llm_embeddings, [NO_SPEECH_WORDS])[0])
        if self.language_words is not None:
            names = [" " + WHISPER_LANGUAGES.get(code, code).title() for code in self.language_codes]
            self.language_words.copy_(phrase_rows(llm_tokenizer, llm_embeddings, names))

    def train(self, mode: bool = True):
        """Whisper's decoder always runs as at inference (no dropout); only the correction trains."""
        super().train(mode)
        self.decoder.eval()
        return self

    def forward(self, encoder_states: torch.Tensor, rows: torch.Tensor, written: list | None = None) -> torch.Tensor:
        """(W, 1500, C) encoder states of 30 s padded windows and (W,) row counts (the no-speech row
        included) -> (W, max rows, D). Given a list `written`, each window's greedy reading (a WindowReading:
        Whisper token ids, the end of text left out, and their probabilities) is appended to it: the reader copy
        bias decodes towards it."""
        text_rows = rows - sum(self.head_rows)
        steps = int(text_rows.max())
        reading = self.read(encoder_states, steps)
        if written is not None:  # what the window's rows carry: a window read past its own count is cut there
            written.extend(WindowReading(window.tokens[:count], window.probabilities[:count], window.no_speech)
                           for window, count in zip(reading.written, text_rows.tolist()))
        mixture = (reading.top_probabilities.unsqueeze(-1) * self.token_rows[reading.top_tokens].float()).sum(-2)
        out = mixture.to(reading.states.dtype) + self.correction(reading.states)
        keep = reading.alive & (torch.arange(out.shape[1], device=rows.device)[None, :] < text_rows[:, None])
        out = out * keep.unsqueeze(-1).to(out.dtype)
        # Every window ended before the longest count: the rest are the zeros after the end.
        out = nn.functional.pad(out, (0, 0, 0, steps - out.shape[1]))
        first = []  # the head rows, each (W, 1, D)
        if self.no_speech_words is not None:
            first.append(reading.no_speech[:, None, None] * self.no_speech_words.float())
        if self.language_words is not None:
            first.append((reading.languages @ self.language_words.float())[:, None])
        return torch.cat([row.to(out.dtype) for row in first] + [out], dim=1)

    @torch.no_grad()
    def read(self, encoder_states: torch.Tensor, steps: int) -> "Reading":
        """Greedy decoding of every window at once, at most `steps` text positions.

        Returns the (W, S, C) states where the decoder predicts each next token, the (W, S) mask of
        states read before the window's end of text (the state that predicts the end is kept), and at
        each state Whisper's TOP_TOKENS likeliest text tokens with their probabilities (W, S, TOP_TOKENS),
        taken from the logits that chose the next token (the end's mass is no token's), and the (W,)
        probability of <|nocaptions|> where Whisper reads <|startoftranscript|> and there its (W, languages)
        probabilities over its language tokens (None for an English-only Whisper).
        Each window attends only to its own states and tokens, so batching never changes its rows.
        `written` holds each window's greedy reading with Whisper's probability of every token in it.
        """
        windows = encoder_states.shape[0]
        device = encoder_states.device
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        # <|startoftranscript|> alone first: where it is read, Whisper says whether anyone speaks and
        # (multilingual) which language it hears, which comes next.
        start = torch.full((windows, 1), self.start, dtype=torch.long, device=device)
        first = self._logits(self._step(start, encoder_states, cache)).float()
        no_speech = first.softmax(-1)[:, self.no_speech_token]
        ids, heard = start[:, :0], None
        if self.languages:
            languages = torch.tensor(self.languages, device=device)
            heard = first[:, languages].softmax(-1)
            ids = languages[heard.argmax(-1)][:, None]
        ids = torch.cat([ids, torch.tensor(self.prompt_tail, device=device).expand(windows, -1)], dim=1)
        states, alive, top_probabilities, top_tokens, chosen = [], [], [], [], []
        finished = torch.zeros(windows, dtype=torch.bool, device=device)
        for _ in range(steps):
            hidden = self._step(ids, encoder_states, cache)
            logits = self._text_logits(hidden)
            probabilities, tokens = logits.float().softmax(-1)[:, : self.end].topk(TOP_TOKENS, dim=-1)
            states.append(hidden)
            alive.append(~finished)
            top_probabilities.append(probabilities)
            top_tokens.append(tokens)
            following = logits.argmax(-1)
            finished = finished | (following == self.end)
            chosen.append(torch.where(finished, -1, following))
            if bool(finished.all()):
                break
            ids = following[:, None]
        stack = functools.partial(torch.stack, dim=1)
        top_probabilities = stack(top_probabilities)  # (W, S, TOP_TOKENS)
        # The chosen text token is the top one, so its probability is the top probability at that step.
        chosen_probabilities = top_probabilities[:, :, 0].tolist()
        written = [WindowReading([token for token in row if token >= 0],
                                 [p for token, p in zip(row, probabilities) if token >= 0], silent)
                   for row, probabilities, silent in zip(stack(chosen).tolist(), chosen_probabilities,
                                                         no_speech.tolist())]
        return Reading(stack(states), stack(alive), top_probabilities, stack(top_tokens), no_speech, heard,
                       written)

    def _step(self, ids: torch.Tensor, encoder_states: torch.Tensor, cache) -> torch.Tensor:
        """Feed `ids` (W, n) after what the cache holds; the (W, C) last hidden state."""
        out = self.decoder(input_ids=ids, encoder_hidden_states=encoder_states, cache=cache, use_cache=True)
        return out.last_hidden_state[:, -1]

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Whisper's output layer: its token embeddings, tied."""
        return hidden @ self.decoder.embed_tokens.weight.T

    def _text_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over text tokens and the end of text only (timestamps, languages, tasks and Whisper's
        suppressed symbols can never come next here)."""
        if self.int8_text_head is not None:
            logits = self.int8_text_head(hidden)
        else:
            logits = hidden @ self.decoder.embed_tokens.weight[: self.end + 1].T
        if self.suppressed:
            logits[..., self.suppressed] = torch.finfo(logits.dtype).min
        return logits


@torch.no_grad()
def token_rows(whisper_tokenizer, llm_tokenizer, llm_embeddings: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(vocab_size, D): row v is the mean of the LLM's input embedding rows of Whisper token v's text.

    Tokens below the end of text are text pieces; a piece that decodes to no text or to a broken
    character (part of a multi-byte UTF-8 sequence) gets a zero row: it names no word on its own.
    """
    end = whisper_tokenizer.eos_token_id
    texts = [whisper_tokenizer.decode([token]) for token in range(end)]
    table = torch.zeros(vocab_size, llm_embeddings.shape[1])
    table[:end] = phrase_rows(llm_tokenizer, llm_embeddings, texts)
    table[[token for token, text in enumerate(texts) if not text or "\ufffd" in text]] = 0
    return table


@torch.no_grad()
def phrase_rows(llm_tokenizer, llm_embeddings: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """(len(texts), D) float rows: each text's LLM input embedding rows averaged (zeros for no tokens)."""
    rows = torch.zeros(len(texts), llm_embeddings.shape[1])
    for row, ids in enumerate(llm_tokenizer(texts, add_special_tokens=False).input_ids):
        if ids:
            rows[row] = llm_embeddings[ids].float().mean(0)
    return rows


def set_transcript_rows(model, rows_per_second: float, whisper_source: str | None,
                        tokenizer_folder: str | Path | None = None, no_speech_row: bool = False,
                        language_row: bool = False) -> bool:
    """Give `model` transcript rows at this rate (0: none), read by `whisper_source`'s decoder, with or without
    the no-speech and language rows. A model that has a reader keeps it (gaining or dropping head rows); one
    without gets a fresh one. Token and head-row tables need the LLM's tokenizer: it is read from
    `tokenizer_folder` (a model folder) when a table is made, and only then. Returns whether a fresh reader
    was made."""
    reader = model.speech_transcriber
    model.config = dataclasses.replace(model.config, transcript_rows_per_second=rows_per_second,
                                       transcript_reader=whisper_source if rows_per_second else None,
                                       transcript_no_speech_row=bool(rows_per_second and no_speech_row),
                                       transcript_language_row=bool(rows_per_second and language_row))
    if not rows_per_second:
        model.speech_transcriber = None
        return False
    heads = (no_speech_row, language_row)
    if reader is not None and heads == reader.head_rows:
        return False
    if tokenizer_folder is None:
        raise ConfigError("giving a model transcript rows needs its tokenizer (for the token and head-row tables)")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    if reader is None:
        attach_transcript_reader(model, whisper_source, tokenizer)
        return True
    reader.make_head_rows(*heads)
    reader.fill_head_rows(tokenizer, model.text_decoder.get_input_embeddings().weight)
    return False


def attach_transcript_reader(model, whisper_source: str, llm_tokenizer) -> None:
    """Give `model` a TranscriptReader: Whisper's decoder from `whisper_source` (the Whisper its encoder
    came from) and the token table from the LLM's tokenizer and embeddings."""
    from audiollm.convert.sources import load_whisper

    whisper = load_whisper(whisper_source)
    config = whisper.model.config
    if config.d_model != model.config.encoder_width:
        raise ConfigError(f"transcript rows: {whisper_source} is {config.d_model} wide, the model's encoder "
                          f"{model.config.encoder_width}; name the Whisper the encoder came from")
    # The model's config must rebuild the reader when the folder is loaded: it takes the decoder side of
    # this Whisper (its encoder side is the model's own encoder already).
    decoder_side = {key: value for key, value in config.to_dict().items() if key in READER_FIELDS}
    model.config = dataclasses.replace(model.config, speech_config={**model.config.speech_config, **decoder_side})
    reader = TranscriptReader(model.config.whisper_config(), model.config.decoder_width, model.config.adaptor_dropout,
                              model.config.transcript_no_speech_row, model.config.transcript_language_row)
    reader.decoder.load_state_dict(whisper.model.model.decoder.state_dict())
    embeddings = model.text_decoder.get_input_embeddings().weight
    reader.token_rows.copy_(token_rows(whisper.tokenizer, llm_tokenizer, embeddings, config.vocab_size))
    reader.fill_head_rows(llm_tokenizer, embeddings)
    model.speech_transcriber = reader.to(device=model.device, dtype=model.dtype).train(model.training)
