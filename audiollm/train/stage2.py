"""Stage 2: multitask instruction tuning of the AudioLLM (adaptor; LoRA or full decoder; encoder frozen,
partly or fully unfrozen), with text-only replay against forgetting."""

from __future__ import annotations

import dataclasses
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import torch

from audiollm.api import GENERATION_CONFIG
from audiollm.model import AudioLLM
from audiollm.paths import cache_dir, exclusive
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.train.config import ModelSpec, TrainConfig
from audiollm.errors import ConfigError
from audiollm.train.ctc import TokenInventory, ctc_alignment_loss, greedy_read
from audiollm.train.gender_fit import fit_gender_row
from audiollm.train.data import as_text_example, conversation_of, load_examples, non_commercial_rows
from audiollm.train.distributed import Distributed
from audiollm.transcript_rows import set_transcript_rows
from audiollm.train.parts import (MODEL_PARTS_FILE, compose_trained_parts, export_trained_parts, model_from_parts,
                                  non_commercial,
                                  set_trainable)

_QUICK_EVAL_GENERATIONS = 16  # generated answers per evaluation (the dev loss uses every eval example)


def assembled_base_name(spec: ModelSpec) -> str:
    """The folder name, under the cache's bases/, of the base assembled from spec's encoder + decoder +
    adaptor packages; the folder is complete once build_info.json is there."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", f"{spec.encoder}+{spec.decoder}+{spec.adaptor}")


def resolve_model_folder(spec: ModelSpec, dist: Distributed) -> Path:
    """The folder to start from: assembled from parts (cached), the shipped default, or a given folder."""
    if spec.encoder and spec.decoder:
        from audiollm.convert.build import build_audiollm

        folder = cache_dir("bases") / assembled_base_name(spec)
        if dist.is_main:
            with exclusive(folder):
                if not (folder / "build_info.json").is_file():
                    staging = folder.with_name(folder.name + ".partial")
                    shutil.rmtree(staging, ignore_errors=True)
                    build_audiollm(spec.encoder, spec.decoder, staging, adaptor=spec.adaptor)
                    staging.rename(folder)
        dist.barrier()
        return folder
    if spec.init == "default":
        from audiollm.default import default_model_folder

        return default_model_folder()[0]
    if not (Path(spec.init) / "config.json").is_file():  # e.g. a recipe's first leg that has not run yet
        raise ConfigError(f"model.init={spec.init}: not a model folder (give 'default', a run's model/ folder, "
                          "or model.encoder and model.decoder)")
    return Path(spec.init)


class InstructionTuning:
    """The stage-2 Task for train/loop.py."""

    def __init__(self, config: TrainConfig, device: torch.device, dist: Distributed):
        self.config = config
        self.base_folder = resolve_model_folder(config.model, dist)
        model = AudioLLM.from_pretrained(self.base_folder)
        model.config = dataclasses.replace(model.config, encoder_input=config.model.encoder_input,
                                           scale_speech_embeddings=config.model.scale_speech_embeddings)
        if config.model.stack:
            model.new_adaptor(speech_mlp_scale_factor=config.model.stack)
        fresh_voice_rows = (config.model.voice_rows is not None
                            and model.set_voice_rows(config.model.voice_rows, seed=config.seed))
        fresh_gender_row = config.model.gender_row is not None and model.set_gender_row(config.model.gender_row)
        if config.model.transcript_rows is not None:
            no_speech_row, language_row = config.model.no_speech_row, config.model.language_row
            set_transcript_rows(model, config.model.transcript_rows, config.model.transcript_reader, self.base_folder,
                                model.config.transcript_no_speech_row if no_speech_row is None else no_speech_row,
                                model.config.transcript_language_row if language_row is None else language_row)
        if config.model.frame_rows is not None:
            model.config = dataclasses.replace(model.config, frame_rows=config.model.frame_rows)
        if config.model.frame_row_pool is not None:
            model.config = dataclasses.replace(model.config, frame_row_pool=config.model.frame_row_pool)
        if config.model.encoder_weights:
            _load_stage1_encoder(model, Path(config.model.encoder_weights))
        if config.distill_weight and config.trainable.decoder == "full":
            raise ConfigError("distillation needs the original decoder as teacher: use trainable.decoder lora or frozen")
        set_trainable(model, config.trainable.adaptor, config.trainable.encoder, config.trainable.decoder, config.lora,
                      config.trainable.transcript_correction)
        if config.activation_checkpointing:
            model.text_decoder.gradient_checkpointing_enable()
        self.model = model.to(device)
        self.device = device
        self.processor = AudioLLMProcessor.from_pretrained(self.base_folder, model.config)
        data = config.data
        self.train_examples, self.skipped_too_long = load_examples(data.train, data.tasks, data.max_audio_seconds,
                                                                   data.allow_non_commercial)
        # A model started from non-commercial-only parts keeps their mark through compose_trained_parts.
        self.non_commercial_data = non_commercial_rows(self.train_examples) > 0 or bool(
            config.model.encoder_weights and non_commercial(Path(config.model.encoder_weights) / "encoder.safetensors"))
        # Replay data: text-only examples, or text versions of spoken ones (see as_text_example).
        candidates = load_examples(data.text, allow_non_commercial=data.allow_non_commercial)[0] if data.text else []
        self.text_examples = [t for t in map(as_text_example, candidates) if t is not None]
        if data.text_replay and not self.text_examples:
            raise ConfigError(f"data.text_replay is set but {data.text} hold no text or transcribed SI/SQA examples")
        # Dev loss only measures, it teaches nothing: any licence will do for it.
        self.eval_examples = load_examples(data.eval, data.tasks, data.max_audio_seconds,
                                           allow_non_commercial=True)[0][: config.eval_examples]
        if fresh_voice_rows:  # a resumed run then loads its trained values over these
            self._calibrate_voice_rows()
        self.gender_row_fit = None
        if fresh_gender_row:  # likewise
            dev = load_examples(data.eval, allow_non_commercial=True)[0]
            self.gender_row_fit = fit_gender_row(self.model, self.processor.tokenizer, self._pooled_clips,
                                                 self.train_examples, dev[:256], seed=config.seed)
            if dist.is_main:
                print(f"gender row fitted: {self.gender_row_fit}", flush=True)
        vocab_size = self.model.text_decoder.get_input_embeddings().num_embeddings
        self.inventory = (TokenInventory.heard_in(self.processor.tokenizer, self.train_examples, vocab_size)
                          if config.align.ctc_steps else None)

    def _calibrate_voice_rows(self, clips: int = 64) -> None:
        """Start fresh voice rows' standardisation at the pooled statistics of the first training clips
        (the same clips on every process, so DDP replicas start equal)."""
        spoken = [e for e in self.train_examples if e.audio][:clips]
        self.model.calibrate_voice_rows(self._feature_batches(spoken))

    def _feature_batches(self, examples: list, size: int = 8):
        """(input_features, feature_attention_mask) of the examples' audio windows on the device, `size`
        examples at a time (the mask is None with fixed 30 s input)."""
        for start in range(0, len(examples), size):
            batch = self.collate(examples[start : start + size])
            mask = batch.get("feature_attention_mask")
            yield batch["input_features"].to(self.device), None if mask is None else mask.to(self.device)

    def _pooled_clips(self, examples: list) -> torch.Tensor:
        """(N, 2C) pooled encoder frames of the windows of `examples` (model.pooled_windows)."""
        return self.model.pooled_windows(self._feature_batches(list(examples)))

    def collate(self, examples: list) -> dict[str, torch.Tensor]:
        conversations, answers = zip(*(conversation_of(example) for example in examples))
        batch = self.processor(list(conversations), list(answers))
        if self.config.distill_weight:
            teacher = self.processor([teacher_conversation(e) for e in examples], list(answers))
            batch.update({f"teacher_{key}": value for key, value in teacher.items()})
        return batch

    def loss_sum(self, model, batch: dict, phase: str = "main") -> torch.Tensor:
        """Summed answer-token cross-entropy, plus distill_weight x summed KL(teacher || student); in the
        "ctc" phase, the CTC alignment loss of the speech rows against the transcript (train/ctc.py).

        The teacher is the original decoder (LoRA switched off) reading the transcript instead of
        hearing the audio; both rows end with the same answer tokens, so their labelled positions align.
        """
        if phase == "ctc":
            return self._ctc_loss_sum(model, batch)
        student_inputs = {k: v for k, v in batch.items() if not k.startswith("teacher_")}
        student = model(**student_inputs, loss_reduction="sum", labelled_logits_only=True)
        if not self.config.distill_weight:
            return student.loss
        teacher_inputs = {k[len("teacher_"):]: v for k, v in batch.items() if k.startswith("teacher_")}
        with torch.no_grad(), lora_disabled(self.model):
            teacher = model(**teacher_inputs, loss_reduction="sum", labelled_logits_only=True)
        divergence = torch.nn.functional.kl_div(
            student.logits.float().log_softmax(-1), teacher.logits.float().log_softmax(-1),
            log_target=True, reduction="sum",
        )
        return student.loss + self.config.distill_weight * divergence

    def _ctc_loss_sum(self, model, batch: dict) -> torch.Tensor:
        rows = _speech_rows(model, batch)
        rows_per_example = (batch["input_ids"] == self.model.config.speech_token_index).sum(dim=1).tolist()
        targets = self.inventory.targets(batch["labels"], self.processor.stop_token_ids)
        return ctc_alignment_loss(rows, rows_per_example, targets, self._ctc_classes())

    def _ctc_classes(self) -> torch.Tensor:
        return self.inventory.class_embeddings(self.model.text_decoder.get_input_embeddings())

    def parameter_groups(self) -> list[dict]:
        """Adaptor at lr, LoRA at lora_lr, encoder at encoder_lr and a fully trained decoder at decoder_lr
        (both default to lr / 10: pretrained weights need gentler steps than the fresh adaptor)."""
        optim = self.config.optim
        rates = {"adaptor": optim.lr, "lora": optim.lora_lr or optim.lr,
                 "encoder": optim.encoder_lr or optim.lr / 10, "decoder": optim.decoder_lr or optim.lr / 10}
        groups: dict[str, list] = {name: [] for name in rates}
        for name, parameter in self.model.named_parameters():
            if not parameter.requires_grad:
                continue
            if "lora_" in name:
                groups["lora"].append(parameter)
            elif name.startswith("speech_encoder."):
                groups["encoder"].append(parameter)
            elif name.startswith("text_decoder."):
                groups["decoder"].append(parameter)
            else:
                groups["adaptor"].append(parameter)
        return [{"params": params, "lr": rates[name], "name": name} for name, params in groups.items() if params]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Dev loss on every eval example, and WER / token F1 of a few greedy answers."""
        from audiollm.evaluate.metrics import error_rate, token_f1

        if not self.eval_examples:
            return {}
        total, tokens = 0.0, 0
        for start in range(0, len(self.eval_examples), 8):
            batch = {k: v.to(self.device) for k, v in self.collate(self.eval_examples[start : start + 8]).items()}
            total += float(self.loss_sum(self.model, batch))
            tokens += int((batch["labels"][:, 1:] != -100).sum())
        sample = self.eval_examples[:_QUICK_EVAL_GENERATIONS]
        answers = self._generate(sample)
        asr = [(e.answer, a) for e, a in zip(sample, answers) if e.task == "asr" and e.language == "en"]
        others = [token_f1(e.answer, a) for e, a in zip(sample, answers) if e.task != "asr"]
        metrics = {"dev_loss": total / max(tokens, 1)}
        if asr:
            metrics["asr_wer"] = error_rate(*zip(*asr)).rate
        read = self._rows_read_wer() if self.inventory is not None else None
        if read is not None:
            metrics["rows_read_wer"] = read
        if others:
            metrics["token_f1"] = sum(others) / len(others)
        return metrics

    def _rows_read_wer(self) -> float | None:
        """WER of the English ASR eval clips' speech rows read greedily as tokens (train/ctc.py), with no
        decoder: how far the CTC alignment has taught the rows to spell the transcript."""
        from audiollm.evaluate.metrics import error_rate

        clips = [e for e in self.eval_examples if e.task == "asr" and e.language == "en" and e.answer.strip()]
        classes, pairs = self._ctc_classes(), []
        for example in clips:
            batch = {k: v.to(self.device) for k, v in self.collate([example]).items()}
            spelled = greedy_read(_speech_rows(self.model, batch), classes, self.inventory)
            pairs.append((example.answer, self.processor.tokenizer.decode(spelled, skip_special_tokens=True)))
        return error_rate(*zip(*pairs)).rate if pairs else None

    def _generate(self, examples: list) -> list[str]:
        conversations = [conversation_of(example)[0] for example in examples]
        batch = {k: v.to(self.device) for k, v in self.processor(conversations).items()}
        generated = self.model.generate(**batch, max_new_tokens=48, do_sample=False,
                                        eos_token_id=self.processor.stop_token_ids,
                                        pad_token_id=self.processor.tokenizer.pad_token_id)
        return [self.processor.decode(row) for row in generated]

    def export(self, run_dir: Path) -> dict:
        """Write trained_parts.safetensors and a ready-to-use merged model folder under run_dir/model."""
        parts = run_dir / "trained_parts.safetensors"
        counts = export_trained_parts(self.model, parts, self.non_commercial_data)
        starting_parts = Path(self.base_folder) / MODEL_PARTS_FILE
        stacked = None
        if starting_parts.is_file():
            # Started from a trained model: count the parts from the package-built base instead (the stacked
            # LoRA may be cut back on the way).
            stacked = compose_trained_parts(starting_parts, parts, parts, max_rank=self.config.lora.max_stacked_rank)
        # The model folder is built from exactly the parts that ship, so what is evaluated is what ships.
        merged = model_from_parts(self.base_folder, parts)
        merged.save_pretrained(run_dir / "model")
        self.processor.save_pretrained(run_dir / "model")
        shutil.copyfile(parts, run_dir / "model" / MODEL_PARTS_FILE)
        generation = Path(self.base_folder) / GENERATION_CONFIG
        if generation.is_file():  # a model trained from the default decodes with the default's settings
            shutil.copyfile(generation, run_dir / "model" / GENERATION_CONFIG)
        return {"trained_parts": str(parts), "trained_parameters": counts, "stacked_lora": stacked,
                "base": str(self.base_folder),
                "train_examples": len(self.train_examples), "skipped_too_long": self.skipped_too_long,
                "non_commercial_data": self.non_commercial_data, "gender_row_fit": self.gender_row_fit,
                "config": dataclasses.asdict(self.model.config)}


def _speech_rows(model, batch: dict) -> torch.Tensor:
    """The batch's speech rows alone, through the (possibly DDP-wrapped) model's forward."""
    return model(input_ids=batch["input_ids"], input_features=batch["input_features"],
                 feature_attention_mask=batch.get("feature_attention_mask"), speech_only=True)


def teacher_conversation(example) -> list[Turn]:
    """What the text-only teacher reads: the instruction and the transcript, no audio."""
    transcript = example.meta.get("transcript") or ""
    return [Turn("user", f"{example.instruction}\n\nTranscript: {transcript}".strip())]


@contextmanager
def lora_disabled(model: AudioLLM):
    """Switch every LoRA layer off (the decoder is then the original LLM) for the duration."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in layers:
            layer.enable_adapters(True)


def _load_stage1_encoder(model: AudioLLM, folder: Path) -> None:
    """Replace the speech encoder with the encoder of a stage-1 (Whisper fine-tuning) output folder."""
    from safetensors.torch import load_file

    state = load_file(folder / "encoder.safetensors")
    model.speech_encoder.load_state_dict(state)
