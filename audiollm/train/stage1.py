"""Stage 1: adapt the Whisper encoder to local speech by fine-tuning Whisper as Whisper (with its own
decoder) on the ASR examples. Its encoder then goes into stage 2 (`model.encoder_weights: RUN_DIR`).

`model.encoder_input: real` (the default) pads each batch only to its longest clip instead of 30 s:
on this corpus's clips that is several times less encoder work, and it is how stage 2 runs the same
encoder. `fixed` keeps Whisper's own 30 s input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from transformers.modeling_outputs import BaseModelOutput

from audiollm.audio import load_audio, log_mel_spectrogram
from audiollm.data.manifest import is_no_speech
from audiollm.errors import ConfigError
from audiollm.model import whisper_encoder_states
from audiollm.train.config import TrainConfig
from audiollm.train.data import load_examples, non_commercial_rows
from audiollm.train.distributed import Distributed
from audiollm.train.parts import licence_metadata

_EVAL_GENERATIONS = 16


def _asr_only(examples: list) -> list:
    """Examples Whisper can learn from: ASR with a transcript (no-speech clips have no Whisper target)."""
    return [e for e in examples if e.task == "asr" and not is_no_speech(e)]


class TrimmedWhisper(torch.nn.Module):
    """Whisper for training on less than 30 s of log-mels: the encoder runs on the input's own length
    (`whisper_encoder_states`, padding left as silence), then Whisper's decoder as usual. A module of its
    own so that DDP's forward sees (and synchronises) every parameter used."""

    def __init__(self, whisper):
        super().__init__()
        self.whisper = whisper

    def encode(self, input_features: torch.Tensor) -> BaseModelOutput:
        states, _ = whisper_encoder_states(self.whisper.model.encoder, input_features)
        return BaseModelOutput(last_hidden_state=states)

    def forward(self, input_features: torch.Tensor, decoder_input_ids: torch.Tensor):
        return self.whisper(encoder_outputs=self.encode(input_features), decoder_input_ids=decoder_input_ids)


class WhisperFineTuning:
    """The stage-1 Task for train/loop.py."""

    def __init__(self, config: TrainConfig, device: torch.device, dist: Distributed):
        from audiollm.convert.sources import load_whisper

        if config.trainable.decoder == "lora":
            raise ConfigError("stage 1 trains Whisper's own decoder: trainable.decoder must be frozen or full")
        self.config = config
        bundle = load_whisper(config.model.encoder or "whisper-base")
        self.tokenizer, self.n_mels, self.multilingual = bundle.tokenizer, bundle.n_mels, bundle.multilingual
        model = bundle.model
        model.requires_grad_(False)
        encoder, spec = model.model.encoder, config.trainable.encoder
        if spec == "full":
            encoder.requires_grad_(True)
        elif spec.startswith("top:"):
            for layer in encoder.layers[len(encoder.layers) - int(spec[4:]) :]:
                layer.requires_grad_(True)
            encoder.layer_norm.requires_grad_(True)
        if config.trainable.decoder == "full":
            model.model.decoder.requires_grad_(True)
        self.whisper = model.to(device)
        self.trimmed = config.model.encoder_input == "real"
        self.model = TrimmedWhisper(self.whisper) if self.trimmed else self.whisper
        self.device = device
        data = config.data
        self.train_examples = _asr_only(load_examples(data.train, (), data.max_audio_seconds,
                                                      data.allow_non_commercial)[0])
        self.text_examples: list = []
        if config.data.text_replay:
            raise ConfigError("stage 1 has no text replay; set data.text_replay=0")
        self.eval_examples = _asr_only(load_examples(data.eval, (), data.max_audio_seconds,
                                                     allow_non_commercial=True)[0])[: config.eval_examples]

    def _token_ids(self, example) -> list[int]:
        """<|startoftranscript|> [<|lang|> <|transcribe|>] <|notimestamps|> text <|endoftext|>."""
        if self.multilingual:
            self.tokenizer.set_prefix_tokens(language=example.language, task="transcribe", predict_timestamps=False)
        return self.tokenizer(" " + example.answer.strip()).input_ids

    def collate(self, examples: list) -> dict[str, torch.Tensor]:
        """Log-mels (not normalised; 30 s, or the longest clip's length rounded up to an even frame count
        when trimmed) and decoder ids with labels."""
        waveforms = [load_audio(e.audio_path) for e in examples]
        if self.trimmed:
            features, _ = log_mel_spectrogram(waveforms, n_mels=self.n_mels, padding="longest")
            features = torch.nn.functional.pad(features, (0, features.shape[-1] % 2))  # conv2 has stride 2
        else:
            features, _ = log_mel_spectrogram(waveforms, n_mels=self.n_mels)
        rows = [self._token_ids(e) for e in examples]
        length = max(len(row) for row in rows)
        ids = torch.full((len(rows), length), self.tokenizer.eos_token_id, dtype=torch.long)
        labels = torch.full((len(rows), length), -100, dtype=torch.long)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = torch.tensor(row)
            labels[index, : len(row)] = torch.tensor(row)
        return {"input_features": features, "decoder_input_ids": ids, "labels": labels}

    def loss_sum(self, model, batch: dict, phase: str = "main") -> torch.Tensor:
        """Summed next-token loss; position t predicts token t + 1, as in stage 2. (Stage 1 has one phase.)"""
        logits = model(input_features=batch["input_features"], decoder_input_ids=batch["decoder_input_ids"]).logits
        targets = batch["labels"][:, 1:]
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100, reduction="sum"
        )

    def parameter_groups(self) -> list[dict]:
        return [{"params": [p for p in self.whisper.parameters() if p.requires_grad], "lr": self.config.optim.lr}]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        from audiollm.evaluate.metrics import error_rate

        sample = [e for e in self.eval_examples if e.language == "en"][:_EVAL_GENERATIONS]
        if not sample:
            return {}
        features = self.collate(sample)["input_features"].to(self.device)
        language = {"language": "en", "task": "transcribe"} if self.multilingual else {}
        inputs = {"encoder_outputs": self.model.encode(features)} if self.trimmed else {"input_features": features}
        generated = self.whisper.generate(**inputs, max_new_tokens=96, **language)
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return {"asr_wer": error_rate([e.answer for e in sample], texts).rate}

    def export(self, run_dir: Path) -> dict:
        """run_dir/encoder.safetensors (for stage 2) and run_dir/whisper (the whole fine-tuned Whisper)."""
        encoder_state = {k: v.detach().cpu().contiguous() for k, v in self.whisper.model.encoder.state_dict().items()}
        restricted = non_commercial_rows(self.train_examples) > 0
        save_file(encoder_state, run_dir / "encoder.safetensors", metadata=licence_metadata(restricted))
        self.whisper.save_pretrained(run_dir / "whisper")
        self.tokenizer.save_pretrained(run_dir / "whisper")
        return {"encoder": str(run_dir / "encoder.safetensors"), "train_examples": len(self.train_examples),
                "non_commercial_data": restricted}
