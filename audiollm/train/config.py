"""Typed training recipes: YAML files in configs/, validated into dataclasses, with command-line overrides.

    stage: 2
    model: {init: default}
    data: {train: [corpus/train.jsonl], eval: [corpus/dev.jsonl]}
    steps: 2000

Unknown keys, wrong types and contradictory settings raise ConfigError naming the key.
`apply_overrides(raw, ["optim.lr=3e-4", "steps=10"])` changes values by dotted path before validation.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from audiollm.data.manifest import TASKS
from audiollm.errors import ConfigError

NO_SPEECH_KEY = "no_speech"  # the data.weights key of the speech-free clips (silence, noise), whatever their task


@dataclass
class ModelSpec:
    """Where the model comes from: `init` is a model folder or "default"; or build from parts."""

    init: str | None = "default"
    encoder: str | None = None  # with decoder: build from parts instead of loading `init`
    decoder: str | None = None
    adaptor: str = "meralion-v1"
    encoder_input: str = "real"  # "real": no 30 s padding for models trained here
    encoder_weights: str | None = None  # a stage-1 output folder whose encoder replaces the model's
    # Speech rows get the decoder's token-embedding factor (Gemma: sqrt(hidden)), as in MERaLiON; see AudioLLMConfig.
    scale_speech_embeddings: bool = True
    # Encoder frames per speech token; null keeps the model's (MERaLiON: 15, 100 tokens per 30 s). Another
    # value replaces the model's adaptor by a fresh, untrained one of that input width.
    stack: int | None = None
    # Voice rows per window (AudioLLMConfig.voice_rows); null keeps the model's. Another value gives the
    # model fresh, untrained ones and keeps its speech adaptor (a trained model can learn them in a leg).
    voice_rows: int | None = None
    # Transcript rows per second of audio (AudioLLMConfig.transcript_rows_per_second); null keeps the model's.
    # A model without them gets them read by `transcript_reader`'s decoder, the Whisper its encoder came from;
    # their correction starts at zero, so the model starts as it was plus Whisper's words (transcript_rows.py).
    transcript_rows: float | None = None
    transcript_reader: str = "whisper-base"
    # With transcript_rows: Whisper's no-speech probability as one more row (AudioLLMConfig.transcript_no_speech_row);
    # null keeps the model's.
    no_speech_row: bool | None = None
    # With transcript_rows: Whisper's language identification as one more row (AudioLLMConfig.transcript_language_row);
    # null keeps the model's.
    language_row: bool | None = None
    # true: a gender row first in each window (AudioLLMConfig.gender_row), fitted to the training clips' speaker
    # genders when the model has none yet (train/gender_fit.py); false removes one; null keeps the model's.
    gender_row: bool | None = None
    # false: no rows of stacked frames (AudioLLMConfig.frame_rows); null keeps the model's.
    frame_rows: bool | None = None
    # Frame rows averaged in groups of this many (AudioLLMConfig.frame_row_pool); null keeps the model's.
    frame_row_pool: int | None = None


@dataclass
class Trainable:
    """What learns. encoder: frozen | full | top:N (the last N layers); decoder: frozen | lora | full."""

    adaptor: bool = True
    encoder: str = "frozen"
    decoder: str = "lora"
    # The transcript rows' correction (transcript_rows.py). Off by default: it starts at zero, Adam's first
    # steps move it as far as any weight, and Gemma's embedding factor (25x) then lets it swamp the token
    # mixture (a first try's loss rose several-fold in three steps); the mixture alone already reads.
    transcript_correction: bool = False


@dataclass
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # A leg that starts from a trained model stacks its LoRA onto that model's (the ranks add up). Above this
    # rank the stacked delta is cut back to its leading singular directions, so that shipped parts stay small.
    max_stacked_rank: int | None = None


@dataclass
class Optim:
    lr: float = 1e-3
    lora_lr: float | None = None  # default: lr
    encoder_lr: float | None = None  # default: lr / 10
    decoder_lr: float | None = None  # full decoder fine-tuning; default: lr / 10
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = 50
    schedule: str = "cosine"  # cosine | linear | constant
    clip: float = 1.0


@dataclass
class DataSpec:
    train: list[str] = field(default_factory=list)
    eval: list[str] = field(default_factory=list)
    text_replay: float = 0.0  # fraction of each batch drawn from text-only examples (task "text")
    text: list[str] = field(default_factory=list)  # manifests for replay: text examples, or SI/SQA with transcripts
    max_audio_seconds: float = 30.0  # longer training clips are skipped (counted and reported)
    tasks: list[str] = field(default_factory=list)  # empty: all tasks
    # Copies per epoch of the main phase's examples, by "task" or "task:language" (the more specific key
    # wins; unnamed: 1), times the weight of "split:NAME" if given. 2 repeats each, 0.5 keeps half of
    # them, 0 leaves them out; "no_speech" multiplies the speech-free clips' weight. {"asr:zh": 2, "split:train_long": 10}
    weights: dict[str, float] = field(default_factory=dict)
    # Train on rows marked meta.non_commercial (e.g. UQM's CC BY-NC-SA voice lines). The run's trained parts
    # then say so, and `python -m audiollm.default` refuses to ship them.
    allow_non_commercial: bool = False


@dataclass
class AlignSpec:
    """An alignment phase at the start of stage 2. For its first `steps` steps the run draws only `tasks`
    examples (no text replay) and only the parameter groups in `train` learn (the others wait at lr 0,
    then warm up). Why: with LoRA learning from the start, the decoder fits the answers' wording from
    its priors within tens of steps and the adaptor gets little reason to carry the audio's content."""

    steps: int = 0  # 0: no alignment phase
    tasks: list[str] = field(default_factory=lambda: ["asr"])
    train: list[str] = field(default_factory=lambda: ["adaptor"])  # of adaptor, lora, encoder, decoder
    transcribed: bool = False  # also hear the other tasks' transcribed clips as ASR (needs asr in tasks)
    # The phase's first ctc_steps steps train with the CTC alignment loss instead of the decoder's: speech
    # rows are taught to be the transcript's token embeddings (train/ctc.py; wants model.stack 5 or less).
    ctc_steps: int = 0
    # Copies per epoch of the phase's clips, keyed like data.weights; the transcribed clips count as asr:
    # {"asr:ta": 2} hears Tamil twice as often.
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainConfig:
    stage: int = 2  # 1: fine-tune Whisper as Whisper on ASR; 2: instruction-tune the AudioLLM
    out: str = "runs/default"
    model: ModelSpec = field(default_factory=ModelSpec)
    trainable: Trainable = field(default_factory=Trainable)
    lora: LoraSpec = field(default_factory=LoraSpec)
    optim: Optim = field(default_factory=Optim)
    data: DataSpec = field(default_factory=DataSpec)
    align: AlignSpec = field(default_factory=AlignSpec)
    steps: int = 1000
    batch_size: int = 8  # examples per optimiser step, over all processes and accumulation steps
    grad_accum: int = 1
    bucket_size: int = 50  # batches per duration-sorted bucket (bigger: less padding, less randomness)
    distill_weight: float = 0.0  # KL towards the text-only decoder reading the transcript
    precision: str = "fp32"  # fp32 | bf16 (autocast where the hardware has it)
    activation_checkpointing: bool = False
    eval_every: int = 200
    eval_examples: int = 64
    save_every: int = 200
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads; 0 = torch's default. 1 is far faster on a busy 2-core machine
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ConfigError("stage must be 1 (Whisper ASR fine-tuning) or 2 (AudioLLM instruction tuning)")
        if self.trainable.decoder not in ("frozen", "lora", "full"):
            raise ConfigError("trainable.decoder must be frozen, lora or full")
        encoder = self.trainable.encoder
        if encoder not in ("frozen", "full") and not (encoder.startswith("top:") and encoder[4:].isdigit()):
            raise ConfigError("trainable.encoder must be frozen, full or top:N")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError("precision must be fp32 or bf16")
        if self.optim.schedule not in ("cosine", "linear", "constant"):
            raise ConfigError("optim.schedule must be cosine, linear or constant")
        if not 0.0 <= self.data.text_replay < 1.0:
            raise ConfigError("data.text_replay is a fraction in [0, 1)")
        if self.data.text_replay > 0 and not self.data.text:
            raise ConfigError("data.text_replay > 0 needs data.text manifests of text-only examples")
        if self.align.steps:
            if not (0 < self.align.steps < self.steps and self.align.tasks):
                raise ConfigError("align.steps must be below steps, with align.tasks naming its tasks")
            if self.stage != 2:
                raise ConfigError("align is a stage-2 setting (stage 1 trains on ASR only anyway)")
            if self.align.transcribed and "asr" not in self.align.tasks:
                raise ConfigError("align.transcribed turns other clips into ASR examples: add asr to align.tasks")
            if not 0 <= self.align.ctc_steps <= self.align.steps:
                raise ConfigError("align.ctc_steps counts steps of the alignment phase: between 0 and align.steps")
            if self.align.ctc_steps and ("asr" not in self.align.tasks or "adaptor" not in self.align.train):
                raise ConfigError("align.ctc_steps aligns the adaptor's rows to transcripts: it needs asr in "
                                  "align.tasks and adaptor in align.train")
            unknown = set(self.align.train) - {"adaptor", "lora", "encoder", "decoder"}
            if unknown or not self.align.train:
                raise ConfigError(f"align.train names parameter groups of adaptor, lora, encoder, decoder; got {self.align.train}")
        if self.stage == 2 and self.model.init and self.model.encoder and self.model.decoder:
            raise ConfigError(f"model.init={self.model.init} and model.encoder + model.decoder both say where the model "
                              "starts: set model.init=null to build from parts, or model.encoder=null "
                              "model.decoder=null to start from init")
        if self.model.transcript_rows is not None and self.model.transcript_rows < 0:
            raise ConfigError(f"model.transcript_rows is rows per second (0 for none), got {self.model.transcript_rows}")
        if self.model.transcript_rows and self.align.ctc_steps:
            raise ConfigError("align.ctc_steps spells the transcript with the speech rows alone: leave it 0 "
                              "with model.transcript_rows")
        if self.model.voice_rows is not None and self.model.voice_rows < 0:
            raise ConfigError(f"model.voice_rows is a number of rows per window (0 for none), got {self.model.voice_rows}")
        if self.model.stack is not None and self.model.stack < 1:
            raise ConfigError(f"model.stack is a number of encoder frames per speech token (1 or more), got {self.model.stack}")
        if self.align.ctc_steps and not self.align.steps:
            raise ConfigError("align.ctc_steps is part of the alignment phase: set align.steps too")
        for setting, weights in (("data.weights", self.data.weights), ("align.weights", self.align.weights)):
            for key, weight in weights.items():
                head, _, tail = key.partition(":")
                known = head in TASKS or (head == "split" and tail) or key == NO_SPEECH_KEY
                if not known or key.count(":") > 1 or weight < 0:
                    raise ConfigError(f"{setting}.{key}: keys are a task, task:language ({', '.join(TASKS)}), "
                                      f"split:NAME or {NO_SPEECH_KEY}, values copies per epoch (0 or more); got {weight}")
        if self.batch_size % self.grad_accum:
            raise ConfigError("batch_size must be a multiple of grad_accum")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be positive")


def _build(cls, raw, path: str):
    """Recursively turn a dict into dataclass `cls`, checking keys and basic types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in {path or 'config'}; known: {sorted(names)}")
    values = {}
    for name, value in raw.items():
        hint, where = hints[name], f"{path}.{name}" if path else name
        values[name] = _build(hint, value, where) if dataclasses.is_dataclass(hint) else _check(hint, value, where)
    return cls(**values)


def _check(hint, value, where: str):
    """Check a leaf value against its annotation; ints are accepted where floats are expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a {hint}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected nothing, got {value!r}")
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_hint, value_hint = typing.get_args(hint)
        return {_check(key_hint, key, where): _check(value_hint, item, f"{where}.{key}") for key, item in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check(typing.get_args(hint)[0], item, where) for item in value]
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" (no dot) as a string; accept what Python reads as a float
            return float(value)
        except ValueError:
            pass
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set dotted keys from "a.b=value" strings; values are parsed as YAML (numbers, lists, null)."""
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like key.path=value")
        dotted, text = override.split("=", 1)
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {part} is not a section")
        node[leaf] = yaml.safe_load(text)
    return raw


def load_train_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML recipe (or start from defaults with path=None), apply overrides, validate."""
    raw = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"training config not found: {path}")
        raw = yaml.safe_load(path.read_text()) or {}
    return _build(TrainConfig, apply_overrides(raw, list(overrides)), "")


def config_to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)
