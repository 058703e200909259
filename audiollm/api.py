"""The high-level Python API: `audiollm.load(MODEL)` and questions about audio.

    assistant = audiollm.load()                       # the embedded default model
    assistant.transcribe("clip.wav")                  # -> "hello world"
    assistant.ask(["a.wav", "b.flac"], "Who is speaking?")   # a list in, a list out (batched)

Audio may be a path, file bytes, a 16 kHz float array, or an (array, sampling_rate) pair.
`AudioAssistant` also implements the `Responder` interface that evaluation and the server use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from transformers import TextIteratorStreamer

from audiollm.audio import SAMPLING_RATE, load_audio
from audiollm.config import AudioLLMConfig
from audiollm.convert.whisper_sources import load_whisper_tokenizer
from audiollm.errors import ConfigError, ModelNotFoundError, PromptError
from audiollm.inference import SpeechRequest
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.reader_copy import ANCHOR, ReaderCopy

# Instructions of the convenience methods; the wording follows MERaLiON's own examples.
TRANSCRIBE = "Please transcribe this speech."
TRANSLATE = "Can you please translate this speech into written {language}?"
SUMMARIZE = "Please summarize this spoken dialogue."
DESCRIBE = "Describe the speaker's characteristics including gender, accent, and emotion."

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_QUANTIZE = (None, "int8")


@dataclass
class GenerationSettings:
    """Decoding settings. temperature 0 means greedy; stop strings end the answer early."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    no_repeat_ngram_size: int | None = None  # None: the model's default (see SpeechRequest); 0: off
    # How strongly decoding leans towards Whisper's own reading (audiollm/reader_copy.py); models with
    # transcript rows only. None: the model's default; 0: off.
    reader_copy_bias: float | None = None
    # The answer is to be a transcript of the audio (`transcribe`, ASR requests, the transcription endpoint):
    # where Whisper trusts its reading, the reader copy bias may then take the model's
    # `reader_copy_transcript_anchor` (0: lean from the answer's first token) instead of its anchor.
    transcribing: bool = False


@dataclass
class Segment:
    """A piece of a transcript with its time span in seconds."""

    start: float
    end: float
    text: str


AudioInput = str | Path | bytes | np.ndarray | tuple


def as_waveform(audio: AudioInput) -> np.ndarray:
    """Any supported audio input -> 16 kHz mono float32. Arrays without a rate are taken as 16 kHz."""
    if isinstance(audio, tuple):
        samples, rate = audio
        return load_audio(samples, sampling_rate=rate)
    if isinstance(audio, (np.ndarray, torch.Tensor)):
        return load_audio(audio, sampling_rate=SAMPLING_RATE)
    return load_audio(audio)


class AudioAssistant:
    """An AudioLLM with its processor, answering questions about audio. Implements `Responder`."""

    def __init__(self, model: AudioLLM, processor: AudioLLMProcessor, name: str,
                 batch_size: int = 8, notice: str | None = None, folder: Path | None = None,
                 generation_defaults: dict | None = None):
        self.model = model
        self.processor = processor
        self.name = name
        self.batch_size = batch_size
        self.notice = notice  # e.g. "the adaptor is untrained"; the CLI shows it
        self.folder = folder  # where the weights came from (the default's folder name carries its parts' digest)
        # What the model ships for settings a request leaves unset (its folder's generation_config.json).
        self.generation_defaults = generation_defaults or {}
        self._whisper_tokenizer = None  # loaded at the first reader copy bias

    def identity(self) -> dict:
        """What an evaluation records (and checks on resume): the weights' folder, the full config, the
        digest of the trained parts the folder keeps and the generation defaults it ships, so a retrained
        model, another window policy or another default guard never mixes with earlier answers."""
        config = json.dumps(self.model.config.to_dict(), sort_keys=True, default=str)
        identity = {"kind": "audiollm", "folder": str(self.folder) if self.folder else None,
                    "config_sha256": hashlib.sha256(config.encode()).hexdigest()[:16],
                    "window_strategy": self.model.config.window_strategy,
                    "window_overlap_seconds": self.model.config.window_overlap_seconds,
                    "max_windows": self.model.config.max_windows}
        parts = self._trained_parts_sha256()
        if parts:  # a model retrained into the same folder is another model
            identity["trained_parts_sha256"] = parts
        if self.generation_defaults:  # they decide the answers of requests that leave them unset
            identity["generation_defaults"] = self.generation_defaults
        return identity

    def _trained_parts_sha256(self) -> str | None:
        """Digest of the trained parts the folder keeps (models trained here keep them; a few MB)."""
        from audiollm.train.parts import MODEL_PARTS_FILE

        parts = Path(self.folder) / MODEL_PARTS_FILE if self.folder else None
        if parts is None or not parts.is_file():
            return None
        return hashlib.sha256(parts.read_bytes()).hexdigest()[:16]

    # ---- core: conversations in, answers out ---------------------------------------------------
    def chat(self, conversations: Sequence[Sequence[Turn]], settings: GenerationSettings | None = None,
             truncate_audio: bool = False) -> list[str]:
        """Answer each conversation (its last turn is the user's); batched `batch_size` at a time."""
        settings = settings or GenerationSettings()
        answers: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            chunk = conversations[start : start + self.batch_size]
            batch = self._to_device(self.processor(chunk, truncate_audio=truncate_audio))
            with _seeded(settings.seed):
                generated = self.model.generate(**batch, **self._generate_kwargs(settings))
            answers.extend(self._finish(self.processor.decode(row), settings) for row in generated)
        return answers

    def stream(self, conversation: Sequence[Turn], settings: GenerationSettings | None = None) -> Iterator[str]:
        """Yield the answer to one conversation piece by piece as tokens are generated."""
        settings = settings or GenerationSettings()
        batch = self._to_device(self.processor([conversation]))
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=False, skip_special_tokens=True)
        kwargs = {**batch, **self._generate_kwargs(settings), "streamer": streamer}
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with _seeded(settings.seed):
                    self.model.generate(**kwargs)
            except BaseException as error:  # re-raised in the caller's thread below
                errors.append(error)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if errors:
            raise errors[0]

    def respond(self, requests: Sequence[SpeechRequest]) -> list[str]:
        """The Responder interface: one answer per request (grouped by decoding settings).

        ASR requests longer than one transcription window are transcribed window by window, as `transcribe`
        does: the model learned transcripts of clips up to 30 s, and one answer per window keeps long ones whole.
        """
        answers: list[str | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        window = int(self.processor.config.transcription_window_seconds * SAMPLING_RATE)
        for index, request in enumerate(requests):
            budget = request.max_new_tokens
            transcribing = request.extra.get("task") == "asr"
            long_asr = transcribing and request.audio is not None and len(request.audio) > window
            if long_asr:  # the budget was sized for the whole clip; each window gets its share
                budget = min(budget, budget * window // len(request.audio) + 16)
            key = (budget, request.temperature, request.no_repeat_ngram_size, request.reader_copy_bias, transcribing,
                   long_asr)
            groups.setdefault(key, []).append(index)
        for (max_new_tokens, temperature, no_repeat, copy_bias, transcribing, long_asr), indices in groups.items():
            settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature,
                                          no_repeat_ngram_size=no_repeat, reader_copy_bias=copy_bias,
                                          transcribing=transcribing)
            if long_asr:
                found = [(requests[i].instruction, as_waveform(requests[i].audio)) for i in indices]
                replies = [self._join(segments) for segments in self._transcribe_windows(found, settings)]
            else:
                replies = self.chat([[self._turn(requests[i].instruction, requests[i].audio)] for i in indices],
                                    settings)
            for index, answer in zip(indices, replies):
                answers[index] = answer
        return answers  # type: ignore[return-value]

    # ---- convenience methods -------------------------------------------------------------------
    def ask(self, audio, instruction: str, settings: GenerationSettings | None = None):
        """Ask `instruction` about one audio (returns str) or a list of audios (returns list[str])."""
        if not instruction or not instruction.strip():
            raise PromptError("empty instruction: say what to do with the audio")
        single = not isinstance(audio, list)
        audios = [audio] if single else audio
        answers = self.chat([[self._turn(instruction, as_waveform(a))] for a in audios], settings)
        return answers[0] if single else answers

    def transcribe(self, audio, settings: GenerationSettings | None = None):
        """Verbatim transcript of one audio (str) or a list (list[str]), window by window.

        Each window is its own conversation (all windows of all audios batched), as the model was trained
        on clips of at most 30 s; words repeated by overlapping windows are kept once.
        """
        single = not isinstance(audio, list)
        found = [(TRANSCRIBE, as_waveform(a)) for a in ([audio] if single else audio)]
        joined = [self._join(segments) for segments in self._transcribe_windows(found, settings)]
        return joined[0] if single else joined

    def transcribe_segments(self, audio, settings: GenerationSettings | None = None) -> list["Segment"]:
        """Transcribe one audio window by window: [Segment(start, end, text)] with times in seconds."""
        return self._transcribe_windows([(TRANSCRIBE, as_waveform(audio))], settings)[0]

    def _transcribe_windows(self, requests: list[tuple[str, np.ndarray]], settings) -> list[list["Segment"]]:
        """(instruction, waveform) pairs -> the Segments of each, one conversation per window, batched."""
        settings = dataclasses.replace(settings or GenerationSettings(), transcribing=True)
        bounds = [self.processor.window_bounds(waveform) for _, waveform in requests]
        conversations = [[self._turn(instruction, waveform[start:end])]
                         for (instruction, waveform), spans in zip(requests, bounds) for start, end in spans]
        texts = iter(self.chat(conversations, settings))
        return [[Segment(start=start / SAMPLING_RATE, end=end / SAMPLING_RATE, text=next(texts))
                 for start, end in spans] for spans in bounds]

    def _join(self, segments: list["Segment"]) -> str:
        return self.processor.join_transcripts([segment.text for segment in segments])

    def translate(self, audio, to: str = "Chinese", settings: GenerationSettings | None = None):
        return self.ask(audio, TRANSLATE.format(language=to), settings)

    def summarize(self, audio, settings: GenerationSettings | None = None):
        return self.ask(audio, SUMMARIZE, settings)

    def describe(self, audio, settings: GenerationSettings | None = None):
        return self.ask(audio, DESCRIBE, settings)

    # ---- helpers -------------------------------------------------------------------------------
    def _turn(self, instruction: str, audio: np.ndarray | None) -> Turn:
        return Turn("user", instruction, [] if audio is None else [audio])

    def _generate_kwargs(self, settings: GenerationSettings) -> dict:
        sample = settings.temperature > 0
        no_repeat = settings.no_repeat_ngram_size
        if no_repeat is None:
            no_repeat = self.generation_defaults.get("no_repeat_ngram_size", 0)
        kwargs = dict(
            max_new_tokens=settings.max_new_tokens, do_sample=sample,
            eos_token_id=self.processor.stop_token_ids, pad_token_id=self.processor.tokenizer.pad_token_id,
            no_repeat_ngram_size=no_repeat or None, reader_copy=self._reader_copy(settings),
        )
        if sample:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k or None)
        else:  # the decoder's generation_config may carry sampling defaults; greedy means greedy
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings.stop:
            kwargs.update(stop_strings=list(settings.stop), tokenizer=self.processor.tokenizer)
        return kwargs

    def _reader_copy(self, settings: GenerationSettings) -> ReaderCopy | None:
        """The reader copy bias these settings ask for (or the model's default), None when off or when the
        model has no transcript reader to copy."""
        strength = settings.reader_copy_bias
        if strength is None:
            strength = self.generation_defaults.get("reader_copy_bias", 0.0)
        if not strength or self.model.speech_transcriber is None:
            return None
        if self._whisper_tokenizer is None:
            self._whisper_tokenizer = load_whisper_tokenizer(self.model.config.transcript_reader)
        # The anchors and the confidence weighting are a model's settings, not a request's.
        return ReaderCopy.from_generation_defaults(strength, self.generation_defaults, self._whisper_tokenizer,
                                                   self.processor.tokenizer, settings.transcribing)

    def _finish(self, text: str, settings: GenerationSettings) -> str:
        """Cut at the first stop string (generation may run a token past it)."""
        for stop in settings.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        return text.strip()

    def _to_device(self, batch: dict) -> dict:
        return {key: value.to(self.model.device) for key, value in batch.items()}


@contextmanager
def _seeded(seed: int | None):
    """Seed sampling for this call only, leaving the caller's global RNG state untouched."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def cpu_threads(threads: int | str | None) -> int | None:
    """How many torch threads to use: None keeps torch's default, an int is taken as it is, and "auto"
    takes the cores not busy right now (at least 1), see `_busy_cores`.

    Why "auto": on a small shared machine a thread whose core is busy with another process stalls
    every parallel region at its barrier; on 2 busy cores one thread was 2x faster than two for a
    Whisper window and up to 6x for int8 decoding (docs/performance.md), while an idle machine wants
    all its cores (two threads were 2x faster than one there).
    """
    if threads is None:
        return None
    if threads == "auto":
        cores = os.cpu_count() or 1
        return max(1, min(cores, cores - round(_busy_cores(cores))))
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0:
        return threads
    raise ConfigError(f"threads must be a positive number, 'auto' or None, not {threads!r}")


def _busy_cores(cores: int, seconds: float = 0.25) -> float:
    """Cores busy with other work now: the non-idle share of /proc/stat over `seconds` (this process is
    idle meanwhile), times the cores. Elsewhere the 1-minute load average, which lags: it still counts a
    job that ended a minute ago."""

    def idle_and_total() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal

    try:
        idle_before, total_before = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return min(float(cores), os.getloadavg()[0])
    total = max(total_after - total_before, 1)
    return cores * (1 - (idle_after - idle_before) / total)


def quantize_int8(model: AudioLLM) -> AudioLLM:
    """Smaller decoder weights for CPU inference, in place: the LM head int8, the decoder's other Linear
    layers fp16 (see audiollm/quantize.py for what and why), and the same for a transcript reader's Whisper
    decoder; the speech encoder and adaptor stay fp32. The WER/BLEU change is measured by
    benchmarks/quantization.py."""
    if model.device.type != "cpu" or model.dtype != torch.float32:
        raise ConfigError("int8 quantisation is for float32 models on the CPU; use dtype='bfloat16' on a GPU")
    from audiollm.quantize import quantize_decoder_int8, quantize_reader_int8

    quantize_decoder_int8(model.text_decoder)
    if model.speech_transcriber is not None:
        quantize_reader_int8(model.speech_transcriber)
    return model


def load(model: str = "default", device: str = "cpu", dtype: str = "float32", batch_size: int = 8,
         quantize: str | None = None, threads: int | str | None = None, windows: str | None = None,
         max_windows: int | None = None, transcribe_window: float | None = None) -> AudioAssistant:
    """Load an AudioLLM by name: "default" (the embedded model), or a model folder.

    quantize: None, or "int8" for CPU inference with an int8 LM head and fp16 decoder layers (`quantize_int8`).
    threads: torch CPU threads for this process: None (torch's default), a number, or "auto" (see `cpu_threads`).
    windows: how long audio is cut, "STRATEGY[:OVERLAP_SECONDS]" ("fixed", "pause", "pause:2"); None keeps
        the model's own (see audiollm/audio/windows.py).
    max_windows: the most 30 s windows one audio may have (0: no cap); None keeps the model's own.
    transcribe_window: the longest window, in seconds, a transcription is cut into (each transcribed on its
        own); None keeps the model's own (config.transcribe_window_seconds).
    """
    if dtype not in _DTYPES:
        raise ModelNotFoundError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
    if quantize not in _QUANTIZE:
        raise ConfigError(f"unknown quantize {quantize!r}; choose one of {_QUANTIZE}")
    if quantize and (device != "cpu" or dtype != "float32"):
        raise ConfigError(f"quantize={quantize!r} is for device='cpu' with dtype='float32'; "
                          "on a GPU use dtype='bfloat16'")
    count = cpu_threads(threads)
    if count is not None:
        torch.set_num_threads(count)
    notice = None
    if model == "default":
        from audiollm.default import default_model_folder

        folder, notice = default_model_folder()
    else:
        folder = Path(model)
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model not found: {model}. Pass a model folder (see `audiollm build`) or 'default'."
            )
    network = AudioLLM.from_pretrained(folder, dtype=_DTYPES[dtype], device=device)
    if windows is not None:
        network.config = with_windows(network.config, windows)
    if max_windows is not None:
        network.config = dataclasses.replace(network.config, max_windows=max_windows or None)
    if transcribe_window is not None:
        network.config = dataclasses.replace(network.config, transcribe_window_seconds=transcribe_window)
    if quantize == "int8":
        quantize_int8(network)
    processor = AudioLLMProcessor.from_pretrained(folder, network.config)
    return AudioAssistant(network, processor, name=str(model), batch_size=batch_size, notice=notice, folder=folder,
                          generation_defaults=read_generation_defaults(folder))


GENERATION_CONFIG = "generation_config.json"
# The settings of a model folder's generation_config.json that requests inherit when they leave them unset.
# MERaLiON-2 ships {"no_repeat_ngram_size": 6}; its other keys (eos/pad ids, cache kind) are the
# processor's and the decoder's business.
INHERITED_GENERATION_SETTINGS = ("no_repeat_ngram_size", "reader_copy_bias", "reader_copy_anchor",
                                 "reader_copy_transcript_anchor", "reader_copy_confidence")


def read_generation_defaults(folder: Path) -> dict:
    """The inherited settings of `folder`'s generation_config.json ({} when it has none)."""
    path = Path(folder) / GENERATION_CONFIG
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} is not readable JSON: {error}") from error
    defaults = {key: found[key] for key in INHERITED_GENERATION_SETTINGS if found.get(key) is not None}
    value = defaults.get("no_repeat_ngram_size", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{path}: no_repeat_ngram_size must be a whole number of 0 or more, not {value!r}")
    for key in ("reader_copy_bias", "reader_copy_confidence"):
        number = defaults.get(key, 0.0)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or number < 0:
            raise ConfigError(f"{path}: {key} must be a number of 0 or more, not {number!r}")
    for key in ("reader_copy_anchor", "reader_copy_transcript_anchor"):
        anchor = defaults.get(key, ANCHOR)
        if not isinstance(anchor, int) or isinstance(anchor, bool) or anchor < 0:
            raise ConfigError(f"{path}: {key} must be a whole number of 0 or more, not {anchor!r}")
    return defaults


def with_windows(config: AudioLLMConfig, spec: str) -> AudioLLMConfig:
    """`config` with the window policy "STRATEGY[:OVERLAP_SECONDS]", e.g. "pause" or "fixed:2"."""
    strategy, _, overlap = spec.partition(":")
    try:
        seconds = float(overlap) if overlap else 0.0
    except ValueError:
        raise ConfigError(f"windows must look like 'pause' or 'fixed:2' (strategy:overlap seconds), not {spec!r}") from None
    return dataclasses.replace(config, window_strategy=strategy, window_overlap_seconds=seconds)
