"""From conversations with audio to model inputs: prompts, placeholders, features, padding, label masks.

    conversation (turns of text + audio)
      -> user content: the model's prompt template places one <SpeechHere> per audio (unless the text
         already carries the markers)
      -> the tokenizer's chat template -> token ids (no extra special tokens: the template has them)
      -> each placeholder id expanded to windows x tokens_per_window ids
      -> left-padded batch (input_ids, attention_mask[, labels]) + log-mel windows of every audio in order

Labels put loss on the answer tokens and the end-of-turn marker only (-100 everywhere else).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from audiollm.audio import HOP_LENGTH, join_transcripts, log_mel_spectrogram, split_into_windows, window_bounds
from audiollm.config import SPEECH_PLACEHOLDER, AudioLLMConfig
from audiollm.errors import ModelNotFoundError, PromptError
from audiollm.model import IGNORE_INDEX

_ANSWER_MARK = "\ue000"  # a private-use character: never in real text, so it locates the answer in a rendering


# Windows per log-mel call. One call per window pays Python and threading overhead per window; one call
# for a whole recording allocates ~5 MB per window of fresh buffers at once, and on the small VMs we
# measured, page faults on fresh memory then cost more than the arithmetic (20 windows: 4 per call was
# 1.5-2x faster than 20 per call, on 1 and 2 threads; benchmarks/features.py). Results do not depend on it.
FEATURE_CHUNK = 4


def _log_mel_chunked(windows: list[np.ndarray], n_mels: int, normalize: bool, padding: str) -> torch.Tensor:
    """log_mel_spectrogram over `windows` in calls of at most FEATURE_CHUNK windows -> (W, M, F)."""
    parts = [log_mel_spectrogram(windows[start : start + FEATURE_CHUNK], n_mels=n_mels, do_normalize=normalize,
                                 padding=padding)[0] for start in range(0, len(windows), FEATURE_CHUNK)]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


@dataclass
class Turn:
    """One chat turn. `audios` are 16 kHz mono float32 arrays heard in this turn, in order."""

    role: str
    text: str = ""
    audios: list[np.ndarray] = field(default_factory=list)


class AudioLLMProcessor:
    """Builds batches for an AudioLLM from conversations; also decodes generated ids back to text."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, config: AudioLLMConfig):
        if tokenizer.chat_template is None:
            raise ModelNotFoundError("the tokenizer has no chat template; `audiollm build` adds one")
        self.tokenizer = tokenizer
        self.config = config
        self.speech_token = tokenizer.convert_ids_to_tokens(config.speech_token_index)
        self.answer_suffix = self._answer_suffix()

    # ---- prompts --------------------------------------------------------------------------------
    def user_content(self, turn: Turn) -> str:
        """The user-turn text with one speech marker per audio, placed by the prompt template if needed."""
        text = turn.text.replace(SPEECH_PLACEHOLDER, self.speech_token)
        markers = text.count(self.speech_token)
        if markers and markers != len(turn.audios):
            raise PromptError(f"the text has {markers} {self.speech_token} markers but {len(turn.audios)} audios")
        if markers or not turn.audios:
            if not text.strip():
                raise PromptError("empty message: give an instruction, an audio, or both")
            return text
        speech = " ".join([self.speech_token] * len(turn.audios))
        template = self.config.prompt_template.replace(SPEECH_PLACEHOLDER, speech)
        return template.replace("{instruction}", text.strip())

    def render(self, conversation: Sequence[Turn]) -> str:
        """Chat-templated prompt text ending with the assistant's generation prompt."""
        messages = [
            {"role": turn.role, "content": self.user_content(turn) if turn.role == "user" else turn.text}
            for turn in conversation
        ]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _answer_suffix(self) -> str:
        """What the chat template writes after an assistant answer (e.g. "<end_of_turn>\\n").

        Found by rendering a conversation whose answer is a marker character, so it works for any
        template without knowing its special tokens.
        """
        messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _ANSWER_MARK}]
        rendered = self.tokenizer.apply_chat_template(messages, tokenize=False)
        return rendered.split(_ANSWER_MARK, 1)[1] if _ANSWER_MARK in rendered else (self.tokenizer.eos_token or "")

    @property
    def stop_token_ids(self) -> list[int]:
        """Ids that end an answer: the first token of the end-of-turn suffix, and the tokenizer's eos."""
        ids = []
        suffix_ids = self.tokenizer(self.answer_suffix, add_special_tokens=False).input_ids
        if suffix_ids:
            ids.append(suffix_ids[0])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    # ---- tokens ---------------------------------------------------------------------------------
    def _expand_placeholders(self, ids: list[int], tokens_per_audio: list[int]) -> list[int]:
        """Replace the i-th placeholder id by tokens_per_audio[i] copies of it."""
        placeholder = self.config.speech_token_index
        found = ids.count(placeholder)
        if found != len(tokens_per_audio):
            raise PromptError(f"the prompt has {found} speech placeholders for {len(tokens_per_audio)} audios")
        expanded, audio_index = [], 0
        for token in ids:
            if token == placeholder:
                expanded.extend([placeholder] * tokens_per_audio[audio_index])
                audio_index += 1
            else:
                expanded.append(token)
        return expanded

    def window_bounds(self, audio) -> list[tuple[int, int]]:
        """Sample bounds of the windows a transcription of `audio` is cut into, each transcribed on its own
        (the config's strategy, its transcription window length; no cap)."""
        config = self.config
        return window_bounds(audio, config.transcription_window_seconds, config.window_strategy,
                             config.window_overlap_seconds)

    def join_transcripts(self, texts: Sequence[str]) -> str:
        """Window transcripts in order, as one text; words repeated where windows overlap are kept once."""
        return join_transcripts(list(texts), overlapping=self.config.window_overlap_seconds > 0)

    def encode(self, conversation: Sequence[Turn], answer: str | None = None, truncate_audio: bool = False):
        """One conversation -> (ids, labels or None, windows) with placeholders expanded."""
        audios = [audio for turn in conversation if turn.role == "user" for audio in turn.audios]
        tokens_per_audio, windows = [], []
        for audio in audios:
            pieces = split_into_windows(
                audio, self.config.window_seconds, self.config.max_windows,
                on_overflow="truncate" if truncate_audio else "error",
                strategy=self.config.window_strategy, overlap_seconds=self.config.window_overlap_seconds,
            )
            tokens_per_audio.append(sum(self.config.speech_tokens_for(len(piece)) for piece in pieces))
            windows.extend(pieces)
        prompt = self.tokenizer(self.render(conversation), add_special_tokens=False).input_ids
        ids = self._expand_placeholders(prompt, tokens_per_audio)
        if answer is None:
            return ids, None, windows
        answer_ids = self.tokenizer(answer + self.answer_suffix, add_special_tokens=False).input_ids
        return ids + answer_ids, [IGNORE_INDEX] * len(ids) + answer_ids, windows

    def __call__(
        self,
        conversations: Sequence[Sequence[Turn]],
        answers: Sequence[str] | None = None,
        truncate_audio: bool = False,
    ) -> dict[str, torch.Tensor]:
        """A left-padded batch: input_ids, attention_mask (B, L), labels if answers given, and
        input_features (W, M, F) holding every window of every audio in batch order (absent if no audio),
        plus feature_attention_mask (W, F) for real-length encoding (and transcript_features, see features)."""
        if answers is not None and len(answers) != len(conversations):
            raise PromptError(f"{len(conversations)} conversations but {len(answers)} answers")
        rows, label_rows, windows = [], [], []
        for index, conversation in enumerate(conversations):
            ids, labels, pieces = self.encode(conversation, None if answers is None else answers[index], truncate_audio)
            rows.append(ids)
            label_rows.append(labels)
            windows.extend(pieces)
        batch = self._pad(rows, label_rows if answers is not None else None)
        if windows:
            batch.update(self.features(windows))
        return batch

    def features(self, windows: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """Log-mel features of audio windows: {"input_features": (W, M, F)} and, for real-length
        encoding, "feature_attention_mask" (W, F).

        fixed: every window padded to 30 s (F = 3000), each normalised on its own, as the reference does.
        real: each window's features are those it gets alone (so a window's numbers never depend on what
        it is batched with), right-padded with zeros to the longest. Windows with the same number of
        frames are computed together: padded to the same length they get exactly the samples they get
        alone, and log_mel_spectrogram treats every row on its own (tested bit for bit).
        Both modes compute at most FEATURE_CHUNK windows per call (see there).
        With transcript rows, "transcript_features" (W, M, 3000) are the windows as Whisper itself hears
        them (padded to 30 s, not normalised), for Whisper's own decoder (transcript_rows.py).
        """
        mels, normalize = self.config.num_mel_bins, self.config.normalize_audio
        if self.config.encoder_input == "fixed":
            return {"input_features": _log_mel_chunked(windows, mels, normalize, "max_length")}
        groups: dict[int, list[int]] = {}
        for index, window in enumerate(windows):
            groups.setdefault(-(-len(window) // HOP_LENGTH), []).append(index)  # frames: ceil(samples / hop)
        longest = max(groups)
        features = torch.zeros(len(windows), mels, longest)
        mask = torch.zeros(len(windows), longest, dtype=torch.long)
        for frames, indices in groups.items():
            batch = _log_mel_chunked([windows[i] for i in indices], mels, normalize, "longest")  # (G, M, frames)
            features[indices, :, :frames] = batch
            mask[indices, :frames] = 1
        batch = {"input_features": features, "feature_attention_mask": mask}
        if self.config.transcript_rows_per_second:
            batch["transcript_features"] = _log_mel_chunked(windows, mels, False, "max_length")
        return batch

    def _pad(self, rows: list[list[int]], label_rows: list[list[int]] | None) -> dict[str, torch.Tensor]:
        """Left-pad to the longest row: generation appends on the right, so every row ends at the same column."""
        length = max(len(row) for row in rows)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, length - len(row):] = torch.tensor(row)
            attention_mask[index, length - len(row):] = 1
            if label_rows is not None:
                labels[index, length - len(row):] = torch.tensor(label_rows[index])
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if label_rows is not None:
            batch["labels"] = labels
        return batch

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """Generated ids -> text, cut at the first stop token, special tokens removed."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        stops = set(self.stop_token_ids)
        for position, token in enumerate(ids):
            if token in stops:
                ids = ids[:position]
                break
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    # ---- persistence ----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        """Tokenizer files (with chat template) and Whisper-style feature-extractor settings."""
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        features = {
            "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": self.config.num_mel_bins,
            "sampling_rate": 16000, "hop_length": 160, "n_fft": 400, "chunk_length": 30,
            "n_samples": 480000, "nb_max_frames": 3000, "padding_value": 0.0, "padding_side": "right",
            "return_attention_mask": True, "do_normalize": self.config.normalize_audio,
        }
        (folder / "preprocessor_config.json").write_text(json.dumps(features, indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path, config: AudioLLMConfig | None = None) -> "AudioLLMProcessor":
        folder = Path(folder)
        config = config or AudioLLMConfig.from_folder(folder)
        # An explicit (empty) config stops AutoTokenizer from reading our config.json, whose
        # model_type it does not know; the tokenizer class comes from tokenizer_config.json.
        tokenizer = AutoTokenizer.from_pretrained(folder, config=PretrainedConfig())
        return cls(tokenizer, config)
