"""Does the shipped default, rebuilt from the packages, equal the run it was shipped from?

    python experiments/rebuild_check.py runs/soup-v12-v13/model
    python experiments/rebuild_check.py runs/default-v18/model --ignore speech_transcriber.correction.0

Builds (or reuses) the default model folder from the installed packages and the committed trained parts,
exactly as `audiollm.load()` does on first use, then compares every weight with the given model folder.
Prints one JSON object: the largest absolute difference and the tensor it is in. Float16 parts differ from
the run's float32 ones by rounding only (a few 1e-4); anything larger means the parts do not rebuild it.
--ignore skips tensors by name prefix, for weights no output depends on: an untrained transcript-row
correction's first layer is drawn at random on every build, and its zero last layer (checked here) keeps it out
of every row.
"""

from __future__ import annotations

import argparse
import json

from audiollm.default import default_model_folder
from audiollm.model import AudioLLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model folder the shipped parts came from")
    parser.add_argument("--ignore", action="append", default=[], metavar="PREFIX",
                        help="skip tensors whose name starts with PREFIX (weights no output depends on)")
    args = parser.parse_args()
    folder, notice = default_model_folder()
    if notice:
        raise SystemExit(notice)
    rebuilt = AudioLLM.from_pretrained(folder).state_dict()
    run = AudioLLM.from_pretrained(args.model).state_dict()
    if rebuilt.keys() != run.keys():
        raise SystemExit(f"the rebuilt default and {args.model} hold different tensors")
    if any(prefix.startswith("speech_transcriber.correction.") for prefix in args.ignore):
        last = "speech_transcriber.correction.3.weight"
        if rebuilt[last].count_nonzero() or run[last].count_nonzero():
            raise SystemExit("the transcript-row correction is trained here: its first layer matters, do not ignore it")
    compared = [key for key in run if not any(key.startswith(prefix) for prefix in args.ignore)]
    difference, tensor = max(((rebuilt[key].float() - run[key].float()).abs().max().item(), key) for key in compared)
    print(json.dumps({"rebuilt": str(folder), "model": args.model, "largest_difference": difference, "tensor": tensor,
                      "ignored": len(run) - len(compared)}))


if __name__ == "__main__":
    main()
