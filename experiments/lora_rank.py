"""How much of a stacked LoRA would a smaller rank keep? The numbers behind `lora.max_stacked_rank`.

    python experiments/lora_rank.py audiollm/default/trained_parts.safetensors --ranks 16,32,48

For every LoRA matrix in a trained-parts file, the relative error of its best approximation at each rank
(truncated SVD, `truncate_lora`: the Frobenius share of the dropped singular values), then the worst and
the median over the matrices. Prints one JSON object. Reads factors only; no model is built.
"""

from __future__ import annotations

import argparse
import json
import statistics

from audiollm.train.parts import read_parts, stacked_rank, truncate_lora


def rank_errors(parts_file: str, ranks: list[int]) -> dict:
    tensors, scales, _ = read_parts(parts_file)
    errors = {rank: [] for rank in ranks}
    for module, scale in scales.items():
        down, up = tensors[f"{module}.lora_A"], tensors[f"{module}.lora_B"] * scale
        for rank in ranks:
            errors[rank].append(truncate_lora(down, up, rank)[2])
    return {"parts": parts_file, "matrices": len(scales), "stacked_rank": stacked_rank(tensors, scales),
            "relative_error": {str(rank): {"worst": round(max(values), 4), "median": round(statistics.median(values), 4)}
                               for rank, values in errors.items() if values}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", help="a trained_parts.safetensors file")
    parser.add_argument("--ranks", default="16,32,48,64", help="comma-separated ranks to try")
    args = parser.parse_args()
    print(json.dumps(rank_errors(args.parts, [int(rank) for rank in args.ranks.split(",")]), indent=2))


if __name__ == "__main__":
    main()
