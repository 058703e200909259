"""What the reader copy bias costs per decoding step (audiollm/reader_copy.py).

    python benchmarks/reader_copy.py [--rows 8] [--reading 200] [--steps 100]

Random readings of `--reading` LLM tokens, one per row, answers that copy them; times the logits processor
alone over a Gemma-sized vocabulary (262,144), one thread. A decoding step of the 270M decoder on the same
CPU takes tens of milliseconds, so this is the bias's whole cost.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from audiollm.reader_copy import ReaderCopyBias

VOCABULARY = 262_144  # Gemma 3's


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


if __name__ == "__main__":
    main()
