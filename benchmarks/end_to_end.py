"""End to end: the fused default model vs the cascade (faster-whisper on the same Whisper, then the same LLM).

    python benchmarks/end_to_end.py [--threads N|auto] [--repeats 2] [--quick] [--json out.json]

Measured in one process, alternating, best of --repeats (the 10-minute cases run once each):
- latency of a 5 s spoken question (audio array in, answer text out; 32 answer tokens);
- real-time factor (seconds of compute / seconds of audio) of a 10-minute recording for
  transcription (fused: one 30 s window per request, exactly --tokens-per-window tokens each, batched
  --batch-size windows at a time; cascade: faster-whisper's own long-form decoding, whatever tokens the
  speech needs) and for a summary (128 tokens; the fused model hears all 20 windows in one prompt).
Pipelines:
  fused, as shipped      load("default") as its config says (the trained default encodes real lengths), fp32
  fused, tuned           real-length encoding (as configs/default.yaml trains), quantize="int8"
  cascade, as shipped    faster-whisper whisper-base (CTranslate2 int8) + Gemma 3 270M fp32
  cascade, tuned         the same with the int8 Gemma (the fused model's own quantised decoder)
Answer lengths are fixed (min_new_tokens = max_new_tokens, on both sides), so both generate the same
number of tokens whatever the model says, and only time is compared. faster-whisper runs with as
many CPU threads as torch, so both sides get the same cores.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results, apply_threads, best_of, print_table, row  # noqa: E402
from speech import question_clip, ten_minute_recording  # noqa: E402

from audiollm.api import AudioAssistant, GenerationSettings, load, quantize_int8  # noqa: E402
from audiollm.cascade import CascadeResponder, FasterWhisperTranscriber, TextLLM  # noqa: E402
from audiollm.inference import SpeechRequest  # noqa: E402

QUESTION = "Answer the question in the audio."
ANSWER_TOKENS = 32
SUMMARY_TOKENS = 128


@contextmanager
def fixed_tokens(decoders, count: int):
    """Within: every generate call of these decoders makes exactly `count` new tokens (no early stop)."""
    for decoder in decoders:
        decoder.generation_config.min_new_tokens = count
    try:
        yield
    finally:
        for decoder in decoders:
            decoder.generation_config.min_new_tokens = None


def build(args) -> tuple[dict, dict]:
    """The four pipelines (see the module docstring) and the decoders behind them."""
    from transformers import AutoTokenizer

    from audiollm.convert.sources import whisper_ct2_folder
    from audiollm.convert.decoder_sources import _resolve

    shipped = load("default", batch_size=args.batch_size)
    tuned = load("default", batch_size=args.batch_size)
    quantize_int8(tuned.model)
    tuned.model.config = dataclasses.replace(tuned.model.config, encoder_input="real")
    for assistant in (shipped, tuned):  # a 10-minute summary needs 20 windows in one prompt
        assistant.model.config = dataclasses.replace(assistant.model.config, max_windows=None)
        assistant.processor.config = assistant.model.config
    transcriber = FasterWhisperTranscriber(whisper_ct2_folder("whisper-base"), "whisper-base",
                                           cpu_threads=torch.get_num_threads())
    tokenizer = AutoTokenizer.from_pretrained(_resolve("gemma3-270m"))
    cascades = {}
    for name, assistant in (("cascade, as shipped", shipped), ("cascade, tuned", tuned)):
        llm = TextLLM(assistant.model.text_decoder, copy.deepcopy(tokenizer), name="gemma3-270m")
        cascades[name] = CascadeResponder(transcriber, llm, batch_size=args.batch_size)
    pipelines = {"fused, as shipped": shipped, "fused, tuned": tuned, **cascades}
    decoders = [shipped.model.text_decoder, tuned.model.text_decoder]
    return pipelines, decoders


def answer(pipeline, audio, instruction: str, tokens: int) -> str:
    """One answer about one audio from either kind of pipeline."""
    if isinstance(pipeline, AudioAssistant):
        return pipeline.ask(audio, instruction, GenerationSettings(max_new_tokens=tokens))
    return pipeline.respond([SpeechRequest(instruction, audio, max_new_tokens=tokens)])[0]


def transcribe(pipeline, audio, tokens_per_window: int) -> str:
    if isinstance(pipeline, AudioAssistant):
        segments = pipeline.transcribe_segments(audio, GenerationSettings(max_new_tokens=tokens_per_window))
        return " ".join(segment.text for segment in segments)
    return pipeline.transcriber.transcribe([audio])[0]


def question_latency(pipelines: dict, decoders, args, results: Results) -> dict:
    clip = question_clip()
    functions = {name: (lambda p=p: answer(p, clip, QUESTION, ANSWER_TOKENS)) for name, p in pipelines.items()}
    with fixed_tokens(decoders, ANSWER_TOKENS):
        times, _ = best_of(functions, args.repeats)
    for name, seconds in times.items():
        results.add(row("end_to_end", f"5 s question, {name}", {"seconds": seconds, "audio_seconds": len(clip) / 16000,
                                                                  "answer_tokens": ANSWER_TOKENS}))
    return times


def long_recording(pipelines: dict, decoders, args, results: Results) -> dict:
    """RTF of transcription and summary of the 10-minute recording, each pipeline once (they alternate)."""
    audio = ten_minute_recording(args.long_seconds)
    seconds = len(audio) / 16000
    names = [n for n in pipelines if "tuned" in n or args.shipped_long]
    measured = {}
    for task in ("transcription", "summary"):
        for name in names:
            count = args.tokens_per_window if task == "transcription" else SUMMARY_TOKENS
            with fixed_tokens(decoders, count):
                start = time.perf_counter()
                text = (transcribe(pipelines[name], audio, count) if task == "transcription"
                        else answer(pipelines[name], audio, "Please summarize this spoken dialogue.", count))
                elapsed = time.perf_counter() - start
            measured[(task, name)] = elapsed / seconds
            print(f"10 min {task}, {name}: {elapsed:.1f} s, RTF {elapsed / seconds:.3f} ({len(text.split())} words)")
            results.add(row("end_to_end", f"10 min {task}, {name}", {"seconds": elapsed, "audio_seconds": seconds,
                                                                      "rtf": elapsed / seconds}))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default=None, help="torch/CTranslate2 threads: a number, 'auto', or default")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="windows per batch (AudioAssistant's default: 8)")
    parser.add_argument("--tokens-per-window", type=int, default=75)
    parser.add_argument("--long-seconds", type=float, default=600.0)
    parser.add_argument("--shipped-long", action="store_true", help="also run the as-shipped pipelines on 10 min")
    parser.add_argument("--quick", action="store_true", help="only the 5 s question")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    apply_threads(args.threads)
    results = Results("end_to_end", args.json)
    pipelines, decoders = build(args)
    print(f"torch threads={torch.get_num_threads()} batch size={args.batch_size} repeats={args.repeats}")
    latency = question_latency(pipelines, decoders, args, results)
    print_table(["pipeline", "5 s question: seconds"], [[name, f"{seconds:.2f}"] for name, seconds in latency.items()])
    for kind in ("as shipped", "tuned"):
        ratio = latency[f"cascade, {kind}"] / latency[f"fused, {kind}"]
        results.add(row("end_to_end", f"5 s question, cascade / fused ({kind})", {}, ratio=ratio,
                        ratio_label="cascade time / fused time (> 1: fused is faster)"))
    tuned_ratio = latency["cascade, tuned"] / latency["fused, tuned"]
    shipped_ratio = latency["cascade, as shipped"] / latency["fused, as shipped"]
    results.target("fused answers a 5 s clip faster than the cascade (tuned vs tuned)",
                   f"cascade/fused = {tuned_ratio:.2f}x (as shipped: {shipped_ratio:.2f}x)",
                   tuned_ratio, 1.0, tuned_ratio > 1)
    if not args.quick:
        rtf = long_recording(pipelines, decoders, args, results)
        fused = rtf[("transcription", "fused, tuned")]
        results.target("10-minute recording transcribed at RTF < 0.2 (fused, tuned)",
                       f"RTF {fused:.3f} ({args.tokens_per_window} tokens per 30 s window); cascade "
                       f"{rtf[('transcription', 'cascade, tuned')]:.3f}", fused, 0.2, fused < 0.2)
    results.write()


if __name__ == "__main__":
    main()
