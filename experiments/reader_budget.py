"""Does bounding each window's transcript by what Whisper's reader read stop the run-ons?

    python experiments/reader_budget.py runs/default-v21/model --items reports/real-30/default-v21/items.jsonl \
        --manifest corpus/test_real.jsonl --out reports/reader-budget/real-30-v21.json

A model with transcript rows sometimes copies a window's reading to its end and then reads a stretch of it
again (docs/runs/default-v20/). This transcribes the clips of an earlier evaluation (its items.jsonl: same
clips, same references) window by window as `transcribe` does, but gives each window an answer budget of
`--factor` x the LLM tokens of the reader's own greedy reading + `--slack`, instead of the evaluation's
5 tokens per second. Prints and writes the WER beside the earlier evaluation's, with both error counts.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from audiollm.api import GenerationSettings, cpu_threads, load
from audiollm.cli.core import threads_option
from audiollm.convert.whisper_sources import load_whisper_tokenizer
from audiollm.data.manifest import read_manifest
from audiollm.evaluate.data import load_audio
from audiollm.evaluate.metrics import error_rate
from audiollm.processor import Turn


def reader_text(assistant, whisper_tokenizer, window) -> str:
    """What the model's transcript reader reads greedily in one window (its 30 s padded features)."""
    model = assistant.model
    features = assistant.processor.features([window])
    with torch.no_grad():
        states = model.speech_encoder(features["transcript_features"].to(model.dtype)).last_hidden_state
        rows = model.config.transcript_rows_for(int(features["feature_attention_mask"].sum()))
        reading = model.speech_transcriber.read(states, rows)
    tokens = reading.top_tokens[0, :, 0][reading.alive[0]].tolist()
    return whisper_tokenizer.decode(tokens, skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--items", required=True, help="an evaluation's items.jsonl: which clips, and its scores")
    parser.add_argument("--manifest", required=True, help="the manifest those clips come from")
    parser.add_argument("--factor", type=float, default=1.25)
    parser.add_argument("--slack", type=int, default=8)
    parser.add_argument("--threads", type=threads_option, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads(args.threads))
    assistant = load(args.model)
    if assistant.model.speech_transcriber is None:
        parser.error(f"{args.model} has no transcript rows: there is no reader to take a budget from")
    whisper_tokenizer = load_whisper_tokenizer(assistant.model.config.transcript_reader)
    items = [json.loads(line) for line in Path(args.items).read_text().splitlines()]
    examples = {example.id: example for example in read_manifest(args.manifest)}
    references, predictions, before = [], [], []
    for item in items:
        example = examples[item["key"].split("/", 1)[1]]
        waveform = load_audio(example)
        texts = []
        for start, end in assistant.processor.window_bounds(waveform):
            read = reader_text(assistant, whisper_tokenizer, waveform[start:end])
            budget = math.ceil(args.factor * len(assistant.processor.tokenizer(read).input_ids)) + args.slack
            conversation = [Turn("user", example.instruction, [waveform[start:end]])]
            texts.append(assistant.chat([conversation], GenerationSettings(max_new_tokens=budget))[0])
        references.append(item["scores"]["reference"])
        predictions.append(assistant.processor.join_transcripts(texts))
        before.append(item["scores"]["prediction"])
    bounded, earlier = error_rate(references, predictions), error_rate(references, before)
    result = {"model": args.model, "items": str(args.items), "factor": args.factor, "slack": args.slack,
              "clips": len(items), "wer_bounded": round(100 * bounded.rate, 2), "wer_evaluation": round(100 * earlier.rate, 2),
              "bounded_s_d_i": [bounded.substitutions, bounded.deletions, bounded.insertions],
              "evaluation_s_d_i": [earlier.substitutions, earlier.deletions, earlier.insertions]}
    print(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**result, "predictions": predictions}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
