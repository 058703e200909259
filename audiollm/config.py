"""AudioLLMConfig: the one typed description of an AudioLLM, and readers for MERaLiON v1/v2 configs.

An AudioLLM is a Whisper encoder, `ln_speech`, an adaptor and a causal LM. The config holds the two
sub-model configs as plain dicts (serialisable, so a saved folder is self-contained) plus the settings
of the glue between them. Everything derivable (adaptor widths, tokens per window) is derived.

Three on-disk flavours are read:
  - `model_type: audiollm`  — folders written by this project (`save_pretrained`, `audiollm build`);
  - `model_type: meralion`  — MERaLiON-AudioLLM v1 (Whisper-large-v2 + Gemma-2-9B, v1 adaptor);
  - `model_type: meralion2` — MERaLiON-2 (Whisper-large-v3 + Gemma-2, gated adaptor, 30 s chunking).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoConfig, PretrainedConfig, WhisperConfig

from audiollm.audio.windows import WINDOW_STRATEGIES
from audiollm.errors import ConfigError

SPEECH_PLACEHOLDER = "<SpeechHere>"

# Prompt templates (user-turn content) of the reference models; `{instruction}` is filled in and the
# placeholder marks where the audio goes (v1: audio first; v2: audio last, note the space before \n).
PROMPT_TEMPLATE_V1 = f"Given the following audio context: {SPEECH_PLACEHOLDER}\n\nText instruction: {{instruction}}"
PROMPT_TEMPLATE_V2 = (
    f"Instruction: {{instruction}} \nFollow the text instruction based on the following audio: {SPEECH_PLACEHOLDER}"
)

ADAPTORS = ("meralion-v1", "meralion-v2", "qformer", "conv-mlp")  # see adaptors.py
ENCODER_INPUTS = ("fixed", "real")
HOP_LENGTH = 160  # audio samples per log-mel frame (10 ms at 16 kHz)

# Keys of released MERaLiON configs that carry no information of their own: HF bookkeeping, and the
# copies of text-decoder fields that MERaLiONConfig mirrors at top level (we derive those).
_IGNORED_RELEASE_KEYS = {
    "architectures", "auto_map", "torch_dtype", "dtype", "transformers_version", "_name_or_path",
    "model_type", "sliding_window", "hidden_size", "num_attention_heads", "num_hidden_layers",
    "num_key_value_heads", "head_dim", "intermediate_size", "speech_mlp_use_projection",
    "tie_word_embeddings", "output_attentions", "output_hidden_states", "return_dict", "use_cache",
    "_attn_implementation_autoset", "pad_token_id", "bos_token_id", "eos_token_id", "vocab_size",
}
# Sub-config model types used by the v1 remote code; they are stock Whisper / Gemma-2 underneath.
_SUB_MODEL_TYPES = {"meralion_speech_encoder": "whisper", "meralion_text_decoder": "gemma2"}


# Settings added after models were made, with the value those models have: a config.json (or training run)
# written before a setting existed describes a model built without it.
SETTINGS_BEFORE_THEY_EXISTED = {"scale_speech_embeddings": False}


@dataclass
class AudioLLMConfig:
    """Typed config of an AudioLLM.

    speech_config: WhisperConfig fields (only the encoder side is used).
    text_config: the causal LM's config fields, including its `model_type`.
    adaptor: one of ADAPTORS.
    speech_mlp_scale_factor: encoder frames stacked into one speech token (15 -> 100 tokens per 30 s).
    speech_token_index: vocabulary id of the speech placeholder token.
    prompt_template: user-turn template with `{instruction}` and one SPEECH_PLACEHOLDER.
    window_seconds: audio is encoded in windows of this length (Whisper's 30 s).
    window_strategy: "fixed" consecutive windows (MERaLiON-2) or "pause" (cut at the quietest moment of
        each window's last 5 s); window_overlap_seconds: how much consecutive windows share.
    max_windows: windows allowed per audio (None: unlimited); longer audio is an error, never dropped.
    transcribe_window_seconds: transcription cuts audio into windows of at most this length (None: window_seconds),
        each transcribed on its own. Shorter windows did not help default-v18: on 28 held-out real clips of
        20-60 s its WER was 12.5% with 30 s windows and 13.6 / 15.5 / 14.6% with 25 / 20 / 15 s
        (docs/runs/default-v18/), so it ships without one.
    encoder_input: "fixed" pads every window to 30 s, as Whisper and MERaLiON were trained;
        "real" encodes only the real length (far cheaper for short clips; for models trained that way).
    normalize_audio: zero-mean unit-variance waveform before the log-mel (MERaLiON's do_normalize).
    flavour: "audiollm", "meralion" or "meralion2" — which on-disk layout `save_pretrained` writes.
    scale_speech_embeddings: speech rows get the same factor the decoder's token embeddings get (Gemma's
        sqrt(hidden size)), as in MERaLiON, whose decoder multiplies all its input rows by it. Since
        transformers 5 applies Gemma's factor inside the embedding module, rows passed as embeddings
        are no longer scaled by the decoder, so the model does it. False: speech rows enter as the
        adaptor writes them (how audiollm models trained before this field existed were made).
    voice_rows: rows per window, before its speech rows, that summarise the whole window (pooled encoder
        frames; adaptors.VoiceSummary), a route for speaker traits the per-token rows drop. 0: none (MERaLiON).
    transcript_rows_per_second: rows per second of audio, after each window's speech rows, that carry what
        Whisper's own decoder reads in the window (transcript_rows.py). 0: none (MERaLiON). Needs
        encoder_input "real" (the count follows each window's length) and `transcript_reader`.
    frame_rows: False drops the adaptor's rows of stacked frames, so a window is its voice rows and its
        transcript rows only (needs transcript rows): the LLM then learns what was said from Whisper's
        decoder alone, and the voice from the voice rows.
    frame_row_pool: the adaptor's frame rows averaged in groups of this many (1: as the adaptor writes them).
        Coarse rows (4: one per 1.2 s) still carry the voice and whether anyone speaks, but too little of
        the words for the decoder to read them there instead of in the transcript rows.
    transcript_no_speech_row: each window's transcript rows start with one more row, Whisper's own
        probability that the window holds no speech (its <|nocaptions|> token after <|startoftranscript|>)
        times the LLM's embedding of the words "no speech": Whisper writes words for silence and noise.
    transcript_language_row: one more transcript row per window, after the no-speech row: Whisper's language
        identification (its probabilities over its languages) times the LLM's embeddings of their names.
    transcript_reader: the Whisper source (e.g. "whisper-base") whose decoder reads the encoder's states;
        the model's folder carries its weights, trained parts carry only the name.
    gender_row: one more row at the start of each window: a classifier's probabilities that the speaker is
        male or female, from the window's pooled encoder frames, times the LLM's embeddings of the two
        words (gender_row.py). Needs encoder_input "real" and flavour 'audiollm'.
    """

    speech_config: dict
    text_config: dict
    adaptor: str = "meralion-v1"
    speech_mlp_scale_factor: int = 15
    speech_token_index: int = -1
    prompt_template: str = PROMPT_TEMPLATE_V2
    window_seconds: float = 30.0
    window_strategy: str = "fixed"
    window_overlap_seconds: float = 0.0
    max_windows: int | None = 10
    transcribe_window_seconds: float | None = None
    encoder_input: str = "fixed"
    normalize_audio: bool = True
    flavour: str = "audiollm"
    adaptor_dropout: float = 0.1
    scale_speech_embeddings: bool = True
    voice_rows: int = 0
    transcript_rows_per_second: float = 0.0
    transcript_reader: str | None = None
    frame_rows: bool = True
    frame_row_pool: int = 1
    transcript_no_speech_row: bool = False
    transcript_language_row: bool = False
    gender_row: bool = False

    def __post_init__(self) -> None:
        if self.adaptor not in ADAPTORS:
            raise ConfigError(f"unknown adaptor {self.adaptor!r}; choose one of {ADAPTORS}")
        if self.flavour != "audiollm" and not self.adaptor.startswith("meralion"):
            raise ConfigError(f"the {self.flavour} layout has no {self.adaptor!r} adaptor; save it as flavour 'audiollm'")
        if self.voice_rows < 0:
            raise ConfigError(f"voice_rows is a number of rows per window (0 for none), got {self.voice_rows}")
        if self.flavour != "audiollm" and self.voice_rows:
            raise ConfigError(f"the {self.flavour} layout has no voice rows; save it as flavour 'audiollm'")
        if self.gender_row and (self.encoder_input != "real" or self.flavour != "audiollm"):
            raise ConfigError("the gender row needs encoder_input 'real' and flavour 'audiollm' (MERaLiON's layouts "
                              "have no place for it)")
        if self.transcript_rows_per_second < 0:
            raise ConfigError(f"transcript_rows_per_second must be 0 (none) or more, got {self.transcript_rows_per_second}")
        if self.transcript_rows_per_second and (self.encoder_input != "real" or not self.transcript_reader
                                                or self.flavour != "audiollm"):
            raise ConfigError("transcript rows need encoder_input 'real', a transcript_reader (a Whisper source) "
                              "and flavour 'audiollm'")
        if self.frame_row_pool < 1 or (self.frame_row_pool > 1 and self.flavour != "audiollm"):
            raise ConfigError(f"frame_row_pool is a number of frame rows averaged into one (at least 1; more only "
                              f"in flavour 'audiollm'), got {self.frame_row_pool}")
        if (self.transcript_no_speech_row or self.transcript_language_row) and not self.transcript_rows_per_second:
            raise ConfigError("transcript_no_speech_row and transcript_language_row are transcript rows: "
                              "they need transcript rows")
        if not self.frame_rows and not self.transcript_rows_per_second:
            raise ConfigError("frame_rows: false leaves a window no rows for what was said: it needs transcript rows")
        if self.window_strategy not in WINDOW_STRATEGIES:
            raise ConfigError(f"window_strategy must be one of {WINDOW_STRATEGIES}, got {self.window_strategy!r}")
        if not 0 <= self.window_overlap_seconds <= self.window_seconds / 4:
            raise ConfigError(f"window_overlap_seconds must be between 0 and {self.window_seconds / 4:g}")
        if self.transcribe_window_seconds is not None and not (
                4 * self.window_overlap_seconds <= self.transcribe_window_seconds <= self.window_seconds
                and self.transcribe_window_seconds > 0):
            raise ConfigError(f"transcribe_window_seconds must be above 0, at most window_seconds "
                              f"({self.window_seconds:g}) and at least 4 x window_overlap_seconds, "
                              f"got {self.transcribe_window_seconds}")
        if self.encoder_input not in ENCODER_INPUTS:
            raise ConfigError(f"encoder_input must be one of {ENCODER_INPUTS}, got {self.encoder_input!r}")
        if self.speech_mlp_scale_factor < 1:
            raise ConfigError("speech_mlp_scale_factor must be a positive number of frames")
        if self.max_windows is not None and self.max_windows < 1:
            raise ConfigError("max_windows must be at least 1 (or None for no limit)")
        if self.prompt_template.count(SPEECH_PLACEHOLDER) != 1 or "{instruction}" not in self.prompt_template:
            raise ConfigError(
                f"prompt_template needs exactly one {SPEECH_PLACEHOLDER} and one {{instruction}}: "
                f"{self.prompt_template!r}"
            )
        if "model_type" not in self.text_config:
            raise ConfigError("text_config needs a model_type (e.g. 'gemma2', 'llama')")
        frames = self.encoder_frames_per_window
        if frames % self.speech_mlp_scale_factor:
            raise ConfigError(
                f"{frames} encoder frames per window do not split into groups of {self.speech_mlp_scale_factor}"
            )

    # ---- derived values -------------------------------------------------------------------------
    def whisper_config(self) -> WhisperConfig:
        return WhisperConfig(**self.speech_config)

    def decoder_config(self) -> PretrainedConfig:
        fields = dict(self.text_config)
        return AutoConfig.for_model(fields.pop("model_type"), **fields)

    @property
    def encoder_width(self) -> int:
        return int(self.speech_config.get("d_model", 1280))

    @property
    def decoder_width(self) -> int:
        return int(self.text_config["hidden_size"])

    @property
    def num_mel_bins(self) -> int:
        return int(self.speech_config.get("num_mel_bins", 80))

    @property
    def encoder_frames_per_window(self) -> int:
        """Encoder output frames for one full window (conv2 halves the 100 mel frames per second)."""
        return int(self.speech_config.get("max_source_positions", 1500))

    @property
    def tokens_per_window(self) -> int:
        """Speech tokens one full 30 s window becomes (100 for MERaLiON), voice and transcript rows included."""
        speech = self.frame_rows_for(self.encoder_frames_per_window // self.speech_mlp_scale_factor)
        return self.summary_rows + speech + self.transcript_rows_for(2 * self.encoder_frames_per_window)

    def speech_tokens_for(self, num_samples: int) -> int:
        """Speech tokens that one window of `num_samples` samples becomes.

        fixed: always tokens_per_window (the window is padded to 30 s).
        real: mel frames F = ceil(samples / 160), encoder frames ceil(F / 2) (conv2 has stride 2),
        tokens ceil(frames / k) (the last token's missing frames are zeros).
        Either way plus the window's voice rows, and its transcript rows (transcript_rows_for).
        """
        if self.encoder_input == "fixed":
            return self.tokens_per_window
        mel_frames = -(-num_samples // HOP_LENGTH)
        encoder_frames = -(-mel_frames // 2)
        speech = self.frame_rows_for(-(-encoder_frames // self.speech_mlp_scale_factor))
        return self.summary_rows + speech + self.transcript_rows_for(mel_frames)

    @property
    def summary_rows(self) -> int:
        """Rows at the start of every window that summarise all of it: the gender row, then the voice rows."""
        return int(self.gender_row) + self.voice_rows

    def frame_rows_for(self, stacked: int) -> int:
        """Frame rows of a window whose adaptor writes `stacked` rows: pooled in groups of frame_row_pool
        (the last group may be short), none without frame rows."""
        return -(-stacked // self.frame_row_pool) if self.frame_rows else 0

    def transcript_rows_for(self, mel_frames: int) -> int:
        """Transcript rows of a window of `mel_frames` real log-mel frames (100 per second): one per
        transcript_rows_per_second of audio, rounded up, plus one for the end of text; at most what
        Whisper's decoder can write (its positions less the 4 of its prompt); plus the no-speech and language rows."""
        if not self.transcript_rows_per_second:
            return 0
        rows = -int(-mel_frames * self.transcript_rows_per_second // 100) + 1
        rows = min(rows, int(self.speech_config.get("max_target_positions", 448)) - 4)
        return rows + int(self.transcript_no_speech_row) + int(self.transcript_language_row)

    @property
    def transcription_window_seconds(self) -> float:
        """How long the windows that transcription cuts audio into are, at most."""
        return self.transcribe_window_seconds or self.window_seconds

    # ---- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"model_type": "audiollm", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, raw: dict) -> "AudioLLMConfig":
        """Build from any supported config dict; unknown keys are errors."""
        model_type = raw.get("model_type")
        if model_type == "audiollm":
            fields = {k: v for k, v in raw.items() if k != "model_type"}
            unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ConfigError(f"unknown AudioLLM config keys: {sorted(unknown)}")
            return cls(**{**SETTINGS_BEFORE_THEY_EXISTED, **fields})
        if model_type in ("meralion", "meralion2"):
            return _from_meralion(raw)
        raise ConfigError(
            f"config model_type {model_type!r} is not an AudioLLM; expected 'audiollm', 'meralion' or 'meralion2'"
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> "AudioLLMConfig":
        path = Path(folder) / "config.json"
        if not path.is_file():
            raise ConfigError(f"no config.json in {folder}")
        return cls.from_dict(json.loads(path.read_text()))

    def to_release_dict(self) -> dict:
        """The MERaLiON-style config.json for flavour meralion/meralion2 (nested configs, mirrored fields)."""
        text = self.text_config
        mirrored = {k: text[k] for k in ("hidden_size", "num_attention_heads", "num_hidden_layers",
                                         "num_key_value_heads", "head_dim", "intermediate_size",
                                         "sliding_window") if k in text}
        return {
            "model_type": self.flavour,
            "speech_config": {**self.speech_config, "model_type": "whisper"},
            "text_config": dict(text),
            "speech_mlp_scale_factor": self.speech_mlp_scale_factor,
            "speech_token_index": self.speech_token_index,
            "speech_mlp_use_projection": self.adaptor == "meralion-v2",
            **mirrored,
        }


def _clean_sub_config(raw: dict, default_type: str) -> dict:
    """A released sub-config as a dict for AutoConfig.for_model, with the custom model_type mapped."""
    sub = {k: v for k, v in raw.items() if k not in ("architectures", "_name_or_path", "transformers_version")}
    sub["model_type"] = _SUB_MODEL_TYPES.get(sub.get("model_type", default_type), sub.get("model_type", default_type))
    return sub


def _from_meralion(raw: dict) -> AudioLLMConfig:
    """Read a released MERaLiON v1 (`meralion`) or v2 (`meralion2`) config.json."""
    known = _IGNORED_RELEASE_KEYS | {"speech_config", "text_config", "speech_mlp_scale_factor", "speech_token_index"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown keys in MERaLiON config: {sorted(unknown)}")
    v2 = raw["model_type"] == "meralion2"
    speech = _clean_sub_config(raw.get("speech_config", {}), "whisper")
    speech.pop("model_type")
    text = _clean_sub_config(raw.get("text_config", {}), "gemma2")
    gated = raw.get("speech_mlp_use_projection", True) if v2 else False
    return AudioLLMConfig(
        speech_config=speech,
        text_config=text,
        adaptor="meralion-v2" if gated else "meralion-v1",
        speech_mlp_scale_factor=int(raw.get("speech_mlp_scale_factor", 15)),
        speech_token_index=int(raw.get("speech_token_index", 255999)),
        prompt_template=PROMPT_TEMPLATE_V2 if v2 else PROMPT_TEMPLATE_V1,
        # v2 chunks up to 300 s; v1 was trained on 30 s clips and its vLLM plugin allows 4 min (8 windows).
        max_windows=10 if v2 else 8,
        flavour=raw["model_type"],
    )
