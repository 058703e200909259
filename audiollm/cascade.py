"""The cascade baseline: Whisper transcribes, then a text LLM answers the instruction from the transcript.

It implements the Responder interface, so `audiollm eval` scores it exactly like the end-to-end
model. For ASR requests (`request.extra["task"] == "asr"`) the answer is the transcript itself; for
every other task the LLM gets `CASCADE_PROMPT` (instruction + transcript) through its chat template.

Transcription backends:
- faster-whisper on a CTranslate2 folder (`whisper_ct2_folder`), the default: the shipped Whisper
  models are CTranslate2 folders already, it runs Whisper's own long-form decoding (sliding 30 s
  windows with timestamps, no-speech detection), which makes it the fair "Whisper as designed"
  baseline on long audio and silence, and int8 CTranslate2 was the faster CPU path here (8 clips of
  4.8 s, whisper-tiny.en: 14.0 s vs 17.7 s for transformers batched by 8; docs/evaluation.md).
- Hugging Face `generate` on `load_whisper(...)`, for HF Whisper folders, hub ids and tiny test
  models; audio longer than 30 s is cut into 30 s windows whose transcripts are joined.

Presets: `cascade:default` = whisper-base + gemma3-270m (the default model's parts), `cascade:small` =
whisper-tiny.en + smollm2-135m. Any "cascade:<whisper source>+<LLM source>" works.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from audiollm.errors import AudioLLMError, ConfigError, ModelNotFoundError
from audiollm.inference import SpeechRequest

CASCADE_PROMPT = ('Here is the transcript of an audio recording:\n"""\n{transcript}\n"""\n\n{instruction}')
PRESETS = {"default": "whisper-base+gemma3-270m", "small": "whisper-tiny.en+smollm2-135m"}
SAMPLE_RATE = 16000
WINDOW = 30 * SAMPLE_RATE
# End-of-turn markers of common chat templates: generation stops at any that the vocabulary has.
_TURN_ENDS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")


class Transcriber(Protocol):
    """Speech to text: `transcribe` takes 16 kHz mono float32 clips and returns one string each."""

    name: str

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[str]:
        """One transcript per clip."""
        ...

    def identity(self) -> dict:
        """What to record about this transcriber."""
        ...


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) on a converted Whisper folder; greedy, Whisper's own decoder."""

    def __init__(self, folder, name: str, device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 1, cpu_threads: int = 0, seed: int = 0) -> None:
        import ctranslate2
        from faster_whisper import WhisperModel

        self.name, self.beam_size = name, beam_size
        self.settings = {"backend": "faster-whisper", "folder": str(folder), "compute_type": compute_type,
                         "beam_size": beam_size, "condition_on_previous_text": False, "sampling_seed": seed}
        # Whisper's own decoding falls back to sampling at higher temperatures where greedy output looks
        # wrong (compression ratio, log-probability). CTranslate2 seeds its sampler once per thread from this
        # global seed, so the same clips in the same order read the same; unseeded, one evaluation of 24
        # clips scored 43.3% and 45.3% WER on two runs.
        ctranslate2.set_random_seed(seed)
        self.model = WhisperModel(str(folder), device=device, compute_type=compute_type, cpu_threads=cpu_threads)

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[str]:
        """One transcript per clip; each clip runs Whisper's own long-form decoding."""
        texts = []
        for audio in audios:
            # Not conditioning on previous text keeps one bad window from derailing the rest.
            segments, _ = self.model.transcribe(np.asarray(audio, dtype=np.float32), beam_size=self.beam_size,
                                                condition_on_previous_text=False)
            texts.append(" ".join(segment.text.strip() for segment in segments).strip())
        return texts

    def identity(self) -> dict:
        """Backend, folder and decoding settings, for the report."""
        return {"name": self.name, **self.settings}


class HFWhisperTranscriber:
    """transformers Whisper `generate`, batched over 30 s windows (longer clips are cut and joined)."""

    def __init__(self, model, tokenizer, n_mels: int, name: str, multilingual: bool = False,
                 device: str = "cpu", batch_size: int = 8, max_new_tokens: int = 200) -> None:
        from transformers import WhisperFeatureExtractor

        self.model = model.to(device).eval()
        self.tokenizer, self.name, self.device = tokenizer, name, device
        self.multilingual, self.batch_size, self.max_new_tokens = multilingual, batch_size, max_new_tokens
        self.features = WhisperFeatureExtractor(feature_size=n_mels)

    def _decode(self, windows: list[np.ndarray]) -> list[str]:
        import torch

        inputs = self.features(windows, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        features = inputs.input_features.to(self.device, dtype=self.model.dtype)
        options = {"max_new_tokens": self.max_new_tokens}
        if self.multilingual and getattr(self.model.generation_config, "task_to_id", None):
            options["task"] = "transcribe"  # language is detected, as in the faster-whisper path
        with torch.inference_mode():
            ids = self.model.generate(features, **options)
        return [text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[str]:
        """One transcript per clip: its 30 s windows are decoded in batches and joined in order."""
        windows, owners = [], []
        for index, audio in enumerate(audios):
            for start in range(0, max(len(audio), 1), WINDOW):
                windows.append(np.asarray(audio[start:start + WINDOW], dtype=np.float32))
                owners.append(index)
        texts = []
        for start in range(0, len(windows), self.batch_size):
            texts += self._decode(windows[start:start + self.batch_size])
        joined = [[] for _ in audios]
        for owner, text in zip(owners, texts):
            joined[owner].append(text)
        return [" ".join(t for t in parts if t) for parts in joined]

    def identity(self) -> dict:
        """Backend and decoding settings, for the report."""
        return {"name": self.name, "backend": "transformers", "decoding": "greedy",
                "window_seconds": 30, "max_new_tokens": self.max_new_tokens}


class TextLLM:
    """A causal LM answering text prompts through its chat template, batched with left padding."""

    def __init__(self, model, tokenizer, name: str, device: str = "cpu", dtype=None) -> None:
        self.model = (model.to(device, dtype=dtype) if dtype is not None else model.to(device)).eval()
        self.tokenizer, self.name, self.device = tokenizer, name, device
        # Left padding keeps every prompt's last token next to the first generated one.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        vocab = tokenizer.get_vocab()
        stops = {tokenizer.eos_token_id} | {vocab[t] for t in _TURN_ENDS if t in vocab}
        self.stop_ids = sorted(i for i in stops if i is not None)

    def render(self, text: str) -> str:
        """The prompt string: the chat template's user turn, or plain text for base models without one."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                      add_generation_prompt=True)
        return f"{text}\n\nAnswer:"

    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], temperature: float = 0.0,
                 no_repeat_ngram_size: int | None = None) -> list[str]:
        """Answers to `prompts`; each answer is cut to its own token budget."""
        import torch

        texts = [self.render(p) for p in prompts]
        # Templates already contain the BOS token; adding special tokens again would double it.
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        options = {"max_new_tokens": max(max_new_tokens), "eos_token_id": self.stop_ids,
                   "pad_token_id": self.tokenizer.pad_token_id, "do_sample": temperature > 0}
        if temperature > 0:
            options["temperature"] = temperature
        if no_repeat_ngram_size:
            options["no_repeat_ngram_size"] = no_repeat_ngram_size
        with torch.inference_mode():
            output = self.model.generate(**batch, **options)
        new = output[:, batch["input_ids"].shape[1]:]
        return [self.tokenizer.decode(row[:budget], skip_special_tokens=True).strip()
                for row, budget in zip(new, max_new_tokens)]


class CascadeResponder:
    """Responder: `transcriber` then `llm`; ASR requests return the transcript unchanged."""

    def __init__(self, transcriber: Transcriber, llm: TextLLM, prompt: str = CASCADE_PROMPT,
                 batch_size: int = 8, name: str | None = None) -> None:
        if "{transcript}" not in prompt or "{instruction}" not in prompt:
            raise ConfigError("cascade prompt needs {transcript} and {instruction} placeholders")
        self.transcriber, self.llm, self.prompt, self.batch_size = transcriber, llm, prompt, batch_size
        self.name = name or f"cascade:{transcriber.name}+{llm.name}"

    def identity(self) -> dict:
        """Both halves, the prompt template and the LLM's stop ids, recorded with every score."""
        return {"kind": "cascade", "asr": self.transcriber.identity(), "llm": self.llm.name,
                "prompt_template": self.prompt, "chat_template": bool(getattr(self.llm.tokenizer, "chat_template", None)),
                "llm_decoding": {"greedy_at_temperature_0": True, "stop_ids": self.llm.stop_ids}}

    def respond(self, requests: Sequence[SpeechRequest]) -> list[str]:
        """Transcribe every clip of the batch, then answer non-ASR requests in LLM batches."""
        with_audio = [i for i, r in enumerate(requests) if r.audio is not None]
        transcripts = dict(zip(with_audio, self.transcriber.transcribe([requests[i].audio for i in with_audio])))
        answers: list[str | None] = [None] * len(requests)
        todo = []
        for index, request in enumerate(requests):
            transcript = transcripts.get(index, "")
            if request.extra.get("task") == "asr":
                answers[index] = transcript
            else:
                text = self.prompt.format(transcript=transcript, instruction=request.instruction)
                todo.append((index, text if request.audio is not None else request.instruction))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            first = requests[chunk[0][0]]  # one batch shares the decoding settings of the eval run
            replies = self.llm.generate([text for _, text in chunk],
                                        [requests[i].max_new_tokens for i, _ in chunk],
                                        first.temperature, first.no_repeat_ngram_size)
            for (index, _), reply in zip(chunk, replies):
                answers[index] = reply
        return [a or "" for a in answers]


def _transcriber(source: str, backend: str, device: str, dtype, threads: int = 0) -> Transcriber:
    """The Whisper half: faster-whisper when a CTranslate2 folder exists (and backend allows)."""
    from audiollm.convert import sources

    if backend in ("auto", "faster-whisper"):
        try:
            folder = sources.whisper_ct2_folder(source)
            return FasterWhisperTranscriber(folder, name=source, device="cuda" if device.startswith("cuda") else "cpu",
                                            cpu_threads=threads)
        except (AudioLLMError, ImportError) as error:
            if backend == "faster-whisper":
                raise ModelNotFoundError(f"no CTranslate2 Whisper folder for {source!r} ({error}); "
                                         "use --cascade-asr hf or a converted folder") from None
    bundle = sources.load_whisper(source)
    model = bundle.model.to(dtype=dtype) if dtype is not None else bundle.model
    return HFWhisperTranscriber(model, bundle.tokenizer, bundle.n_mels, name=bundle.name or source,
                                multilingual=bundle.multilingual, device=device)


def load_cascade(spec: str, device: str = "cpu", dtype=None, asr_backend: str = "auto",
                 batch_size: int = 8, threads: int = 0) -> CascadeResponder:
    """A cascade from "cascade:<whisper>+<llm>" (or a preset name: "cascade:default", "cascade:small").

    threads: CPU threads of the faster-whisper half (0: CTranslate2's default); torch's are set by the caller.
    """
    body = spec.split(":", 1)[1] if spec.startswith("cascade:") else spec
    body = PRESETS.get(body or "default", body)
    if body.count("+") != 1:
        raise ConfigError(f"cascade spec {spec!r} should look like 'cascade:whisper-base+gemma3-270m' "
                          f"or name a preset {sorted(PRESETS)}")
    if asr_backend not in ("auto", "faster-whisper", "hf"):
        raise ConfigError(f"cascade ASR backend must be auto, faster-whisper or hf, not {asr_backend!r}")
    whisper_source, llm_source = body.split("+")
    from audiollm.convert import sources

    transcriber = _transcriber(whisper_source, asr_backend, device, dtype, threads)
    model, tokenizer = sources.load_causal_lm(llm_source)
    llm = TextLLM(model, tokenizer, name=llm_source, device=device, dtype=dtype)
    return CascadeResponder(transcriber, llm, batch_size=batch_size, name=f"cascade:{body}")
