"""Does the shipped default, rebuilt from the packages, equal the run it was shipped from?

    python experiments/rebuild_check.py runs/soup-v12-v13/model

Builds (or reuses) the default model folder from the installed packages and the committed trained parts,
exactly as `audiollm.load()` does on first use, then compares every weight with the given model folder.
Prints one JSON object: the largest absolute difference and the tensor it is in. Float16 parts differ from
the run's float32 ones by rounding only (a few 1e-4); anything larger means the parts do not rebuild it.
"""

from __future__ import annotations

import argparse
import json

from audiollm.default import default_model_folder
from audiollm.model import AudioLLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model folder the shipped parts came from")
    args = parser.parse_args()
    folder, notice = default_model_folder()
    if notice:
        raise SystemExit(notice)
    rebuilt = AudioLLM.from_pretrained(folder).state_dict()
    run = AudioLLM.from_pretrained(args.model).state_dict()
    if rebuilt.keys() != run.keys():
        raise SystemExit(f"the rebuilt default and {args.model} hold different tensors")
    difference, tensor = max(((rebuilt[key].float() - run[key].float()).abs().max().item(), key) for key in run)
    print(json.dumps({"rebuilt": str(folder), "model": args.model, "largest_difference": difference, "tensor": tensor}))


if __name__ == "__main__":
    main()
