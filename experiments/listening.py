"""Does a model listen? Teacher-forced answer loss with the right audio, another clip, and silence.

    python experiments/listening.py runs/default/model                     # a model folder
    python experiments/listening.py BASE_FOLDER --checkpoint runs/X/checkpoints/step-0000100
    python experiments/listening.py default --data corpus/test_unseen_voice.jsonl --out gain.json

On N transcription examples of a manifest (default: English ASR of corpus/train.jsonl), the loss of the
reference transcript is computed three ways: hearing its own clip, hearing another clip cut or padded
to the same length (same speech-token count, so length gives nothing away), and hearing silence of
that length. A model that uses the audio has a clearly lower loss with the right clip; a model that
ignores it scores all three alike. With --transcribe N it also greedy-decodes the first N clips and
reports their WER, so a checkpoint's listening can be read as transcripts too; --whisper NAME scores a
Whisper with its own decoder on the same clips beside it. `gain_by_position` splits the gain by answer
token (1-5, 6-10, 11-20, 21+): whether the audio helps all through the answer or only at its start.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from audiollm.api import cpu_threads, read_generation_defaults
from audiollm.cli.core import threads_option
from audiollm.config import SETTINGS_BEFORE_THEY_EXISTED
from audiollm.convert.whisper_sources import load_whisper_tokenizer
from audiollm.data.manifest import read_manifest
from audiollm.default import resolve_model_folder
from audiollm.evaluate.data import load_audio
from audiollm.evaluate.metrics import error_rate
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.reader_copy import ReaderCopy
from audiollm.train.config import LoraSpec
from audiollm.train.parts import add_lora


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    return audio[:length] if len(audio) >= length else np.pad(audio, (0, length - len(audio)))


def per_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token losses (K,) of one example's labelled tokens, in answer order (the mean is its loss)."""
    targets = labels[1:]
    labelled = targets != -100
    return torch.nn.functional.cross_entropy(logits[:-1][labelled].float(), targets[labelled], reduction="none")


POSITION_BINS = ((0, 5), (5, 10), (10, 20), (20, None))  # answer tokens [start, end)


def gain_by_position(token_gains: list[torch.Tensor]) -> dict[str, dict]:
    """Mean listening gain of the answer tokens in each position bin, over all examples: does the model
    use the audio for the whole answer, or only for its first words?"""
    found = {}
    for start, end in POSITION_BINS:
        values = torch.cat([gains[start:end] for gains in token_gains])
        if len(values):
            found[f"{start + 1}-{end}" if end else f"{start + 1}+"] = {"gain": round(values.mean().item(), 4),
                                                                      "tokens": len(values)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder (with --checkpoint: the base the run started from)")
    parser.add_argument("--checkpoint", help="a training checkpoint folder whose trainable weights to load")
    parser.add_argument("--encoder-input", choices=("fixed", "real"), help="override the folder's setting")
    parser.add_argument("--data", default="corpus/train.jsonl")
    parser.add_argument("--language", default="en")
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--threads", type=threads_option, default=1, help="torch threads: a number or 'auto' (the idle cores)")
    parser.add_argument("--transcribe", type=int, default=0, metavar="N", help="also transcribe the first N clips")
    parser.add_argument("--whisper", metavar="NAME", help="with --transcribe: also Whisper NAME (e.g. whisper-base) "
                        "with its own decoder on the same clips")
    parser.add_argument("--reader-copy-bias", type=float, default=0.0, metavar="B",
                        help="with --transcribe: lean decoding towards the transcript reader's reading (0: off; "
                        "its transcript anchor and confidence weighting are the model folder's generation_config.json's)")
    parser.add_argument("--out", help="also write the JSON result to this file (written whole, then renamed)")
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads(args.threads))
    args.model = resolve_model_folder(args.model)  # "default": the shipped default, built on first use
    model = AudioLLM.from_pretrained(args.model).eval()
    if args.encoder_input:
        model.config = dataclasses.replace(model.config, encoder_input=args.encoder_input)
    if args.checkpoint:
        state = load_file(f"{args.checkpoint}/trainable.safetensors")
        run_config = json.loads((Path(args.checkpoint).parents[1] / "config.json").read_text())
        scaled = {**SETTINGS_BEFORE_THEY_EXISTED, **run_config["model"]}["scale_speech_embeddings"]  # as the run trained it
        model.config = dataclasses.replace(model.config, scale_speech_embeddings=scaled)
        if run_config["model"].get("stack"):  # the run trained an adaptor of that width
            model.new_adaptor(speech_mlp_scale_factor=run_config["model"]["stack"])
        if run_config["model"].get("voice_rows") is not None:  # the run trained voice rows of that count
            model.set_voice_rows(run_config["model"]["voice_rows"])
        if any("lora_" in key for key in state):  # give the model the run's LoRA modules first
            add_lora(model, LoraSpec(**run_config["lora"]))
        missing = [key for key in state if key not in dict(model.named_parameters())]
        if missing:
            raise SystemExit(f"checkpoint keys not in the model (was MODEL the base this run started from?): {missing[:3]}")
        model.load_state_dict(state, strict=False)
    processor = AudioLLMProcessor.from_pretrained(args.model, model.config)
    examples = [e for e in read_manifest(args.data) if e.task == "asr" and e.language == args.language
                and not e.meta.get("no_speech")][: args.examples]
    audios = [load_audio(e) for e in examples]
    losses: dict[str, list[float]] = {"right": [], "other": [], "silence": []}
    token_gains: list[torch.Tensor] = []  # per answer token: loss with another clip minus with the right one
    with torch.no_grad():
        for index, example in enumerate(examples):
            own = audios[index]
            variants = {"right": own, "other": fit_length(audios[(index + 1) % len(audios)], len(own)),
                        "silence": np.zeros_like(own)}
            token_losses = {}
            for name, audio in variants.items():
                batch = processor([[Turn("user", example.instruction, [audio])]], answers=[example.answer])
                output = model(**batch)
                losses[name].append(output.loss.item())
                token_losses[name] = per_token_loss(output.logits[0], batch["labels"][0])
            token_gains.append(token_losses["other"] - token_losses["right"])
    means = {name: round(statistics.mean(values), 4) for name, values in losses.items()}
    result = {"model": args.model, "checkpoint": args.checkpoint, "examples": len(examples),
              "mean_loss": means, "gain_over_other": round(means["other"] - means["right"], 4),
              "gain_by_position": gain_by_position(token_gains)}
    if args.transcribe:
        copy = None
        if args.reader_copy_bias and model.speech_transcriber is not None:
            copy = ReaderCopy.from_generation_defaults(
                args.reader_copy_bias, read_generation_defaults(args.model),
                load_whisper_tokenizer(model.config.transcript_reader), processor.tokenizer, transcribing=True)
        result["transcripts"] = transcribe(model, processor, examples[: args.transcribe], audios, args.language, copy)
        result["reader_copy_bias"] = args.reader_copy_bias if copy else 0.0
        if args.whisper:
            result["whisper"] = whisper_transcripts(args.whisper, examples[: args.transcribe], audios, args.language,
                                                    cpu_threads(args.threads))
    line = json.dumps(result, ensure_ascii=False)
    print(line)
    if args.out:
        partial = Path(f"{args.out}.partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(line + "\n")
        partial.replace(args.out)


def transcribe(model, processor, examples, audios, language: str, copy: ReaderCopy | None = None) -> dict:
    """Greedy transcripts of the examples (one at a time) and their corpus WER against the references
    (with `copy`, leaning towards the transcript reader's own reading)."""
    predictions = []
    with torch.no_grad():
        for example, audio in zip(examples, audios):
            batch = processor([[Turn("user", example.instruction, [audio])]])
            predictions.append(processor.decode(model.generate(**batch, max_new_tokens=64, do_sample=False,
                                                                   reader_copy=copy)[0]))
    references = [example.answer for example in examples]
    rate = error_rate(references, predictions, language)
    return {"wer": round(100 * rate.rate, 1), "pairs": [[r, p] for r, p in zip(references, predictions)]}


def whisper_transcripts(name: str, examples, audios, language: str, threads: int) -> dict:
    """Whisper's own greedy transcripts of the same clips (the cascade's transcriber) and their WER."""
    from audiollm.cascade import _transcriber

    predictions = _transcriber(name, "auto", "cpu", None, threads).transcribe(audios[: len(examples)])
    rate = error_rate([example.answer for example in examples], predictions, language)
    return {"name": name, "wer": round(100 * rate.rate, 1)}


if __name__ == "__main__":
    main()
