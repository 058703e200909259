"""Average trained models ("model soup") and build the averaged model's folder, ready to evaluate and ship.

    python experiments/soup.py runs/default-v12/model:0.5 runs/default/model:0.5 --max-rank 64 --out runs/soup

Every source is a model folder trained here (its trained_parts.safetensors counts it from the
package-built base) with a weight; the weights sum to 1. Writes OUT/trained_parts.safetensors (the
averaged parts: full tensors averaged, LoRA deltas averaged and cut back to --max-rank) and OUT/model,
the first source's model with its own deltas taken out and the averaged parts merged in
(`model_from_parts`, as a training run builds its model folder), so what is evaluated is what `python -m audiollm.default
OUT/trained_parts.safetensors` ships. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from audiollm.errors import ConfigError
from audiollm.train.parts import MODEL_PARTS_FILE, average_trained_parts, model_from_parts


def parse_source(text: str) -> tuple[Path, float]:
    folder, _, weight = text.rpartition(":")
    try:
        value = float(weight)
    except ValueError:
        value = None
    if not folder or value is None or not (Path(folder) / MODEL_PARTS_FILE).is_file():
        raise ConfigError(f"{text}: give MODEL_FOLDER:WEIGHT, a folder holding {MODEL_PARTS_FILE} and a number")
    return Path(folder), value


def soup(sources: list[tuple[Path, float]], out: Path, max_rank: int | None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    parts = out / MODEL_PARTS_FILE
    stacked = average_trained_parts([(folder / MODEL_PARTS_FILE, weight) for folder, weight in sources], parts, max_rank)
    first = sources[0][0]
    staging = out / "model.partial"  # renamed at the end: a half-built folder is never taken as done
    shutil.rmtree(staging, ignore_errors=True)
    # The first source's tokenizer, processor and generation files; its weights are written anew below.
    shutil.copytree(first, staging, ignore=shutil.ignore_patterns("*.safetensors", "*.safetensors.index.json"))
    model_from_parts(first, parts).save_pretrained(staging)
    shutil.copyfile(parts, staging / MODEL_PARTS_FILE)
    shutil.rmtree(out / "model", ignore_errors=True)
    staging.rename(out / "model")
    return {"sources": {str(folder): weight for folder, weight in sources}, "parts": str(parts),
            "model": str(out / "model"), "stacked_lora": stacked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="MODEL_FOLDER:WEIGHT, weights summing to 1")
    parser.add_argument("--max-rank", type=int, default=None, help="cut the averaged LoRA back to this rank")
    parser.add_argument("--out", required=True, help="folder for trained_parts.safetensors and model/")
    args = parser.parse_args()
    try:
        result = soup([parse_source(source) for source in args.sources], Path(args.out), args.max_rank)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    (Path(args.out) / "soup.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
