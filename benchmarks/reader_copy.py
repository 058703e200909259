"""What the reader copy bias costs per decoding step (audiollm/reader_copy.py).

    python benchmarks/reader_copy.py [--rows 8] [--reading 200] [--steps 100]

Per decoding step: random readings of `--reading` LLM tokens, one per row, answers that copy them; times the
logits processor alone over a Gemma-sized vocabulary (262,144), one thread. A decoding step of the 270M
decoder on the same CPU takes tens of milliseconds.
Once per batch: spelling one 30 s window's reading (a 75-word paragraph in Whisper base's tokens) in the
default's LLM tokens, flat and with confidence weights (which decode every prefix of the reading to map
Whisper's probabilities onto characters). Needs the installed Whisper base and the default model.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from audiollm.reader_copy import ReaderCopy, ReaderCopyBias
from audiollm.transcript_rows import WindowReading

VOCABULARY = 262_144  # Gemma 3's
PARAGRAPH = ("The next train to Tampines will arrive in three minutes. Please stand behind the yellow line and "
             "let passengers alight first. For your safety, do not lean on the doors, and hold the handrails when "
             "the train is moving. If you see any unattended bags or suspicious behaviour, please inform our staff "
             "or call the emergency number displayed in every carriage. Thank you for travelling with us today.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--reading", type=int, default=200, help="LLM tokens per row's reading")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    random.seed(0)
    sources = [[random.randrange(2_000) for _ in range(args.reading)] for _ in range(args.rows)]
    bias = ReaderCopyBias(8.0, sources, end_ids=[1, 106])
    scores = torch.zeros(args.rows, VOCABULARY)
    start = time.perf_counter()
    for step in range(args.steps):
        written = torch.tensor([source[:step] for source in sources], dtype=torch.long).reshape(args.rows, step)
        bias(written, scores)
    per_step = (time.perf_counter() - start) / args.steps
    print(f"{per_step * 1000:.2f} ms per decoding step: {args.rows} rows, {args.reading}-token readings, "
          f"{args.steps} steps of copying")
    spelling()


def spelling(repeats: int = 20) -> None:
    """Time ReaderCopy.spell on one window's reading, flat and confidence-weighted."""
    from transformers import AutoTokenizer, PretrainedConfig

    from audiollm.convert.whisper_sources import load_whisper_tokenizer
    from audiollm.default import resolve_model_folder

    whisper_tokenizer = load_whisper_tokenizer("whisper-base")
    llm_tokenizer = AutoTokenizer.from_pretrained(resolve_model_folder("default"), config=PretrainedConfig())
    tokens = whisper_tokenizer(" " + PARAGRAPH, add_special_tokens=False).input_ids
    reading = WindowReading(tokens, [random.uniform(0.3, 1.0) for _ in tokens])
    for confidence in (0.0, 1.0):
        copy = ReaderCopy(8.0, whisper_tokenizer, llm_tokenizer, confidence=confidence)
        copy.spell([reading])  # warm up
        start = time.perf_counter()
        for _ in range(repeats):
            copy.spell([reading])
        per_window = (time.perf_counter() - start) / repeats
        print(f"{per_window * 1000:.1f} ms to spell a {len(tokens)}-token window's reading, confidence {confidence:g}")


if __name__ == "__main__":
    main()
