"""Split the corpus's real human speech into a research training set and held-out voices (issue #4's diagnosis).

Does the default fail on real speech because it never heard any? Only the UQM voice lines (about 2.2 h) are
real speech that could train, and they are CC BY-NC-SA 2.5: research runs may use them, the default may
not. Every row keeps `meta.non_commercial`, so a run needs `data.allow_non_commercial=true` and its trained
parts carry the mark that makes `python -m audiollm.default` refuse them.

    python experiments/real_speech_split.py corpus

writes, beside the corpus's manifests (names that `--data corpus` does not read as test sets):
  corpus/train_real_nc.jsonl         UQM lines of TRAIN_VOICES up to 30 s (split train_real_nc)
  corpus/heldout_real_voices.jsonl   every clip of the other voices: UQM's syreen and commander, and the
                                     pocketsphinx, pyannote and moonshine recordings
  corpus/heldout_real_20_60s.jsonl   those of 20-60 s (28 clips, 14.4 min): where a long-audio setting is
                                     chosen (e.g. `audiollm eval --transcribe-window`), away from the measure
Neither holds any of the 30 clips that `audiollm eval --data corpus/test_real.jsonl --limit 30` scores
(issue #4's real-speech measure), so that measure stays a test: on its 22 clips by the training voices it
asks for lines never heard, on the other 8 for voices never heard.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from audiollm.data.manifest import read_manifest, write_manifest
from audiollm.evaluate.data import EvalSet
from audiollm.evaluate.pipeline import limit_sets

TRAIN_VOICES = ("melnorme", "starbase")  # 307 lines up to 30 s, 0.74 h; the other two UQM voices stay unheard
TRAIN_SPLIT = "train_real_nc"
MEASURED_LIMIT = 30  # the --limit of the real-speech measure whose clips stay out of both files


def uqm_voice(example) -> str | None:
    """The UQM character who speaks a line (its folder in the voice pack), None for other sources."""
    if example.meta.get("source") != "uqm":
        return None
    return example.meta["original"]["member"].split("/")[-2]


def split(corpus: Path) -> dict[str, int]:
    real = read_manifest(corpus / "test_real.jsonl")
    measured = {e.id for e in limit_sets([EvalSet("test_real", corpus / "test_real.jsonl", real)], MEASURED_LIMIT)[0].examples}
    rest = [e for e in real if e.id not in measured]
    train = [dataclasses.replace(e, split=TRAIN_SPLIT, id=e.id.replace("test_real", TRAIN_SPLIT, 1))
             for e in rest if uqm_voice(e) in TRAIN_VOICES and e.duration <= 30.0]
    heldout = [e for e in rest if uqm_voice(e) not in TRAIN_VOICES]
    write_manifest(corpus / f"{TRAIN_SPLIT}.jsonl", train)
    write_manifest(corpus / "heldout_real_voices.jsonl", heldout)
    write_manifest(corpus / "heldout_real_20_60s.jsonl", [e for e in heldout if 20.0 < e.duration <= 60.0])
    return {"measured": len(measured), "train": len(train), "train_hours": sum(e.duration for e in train) / 3600,
            "heldout": len(heldout), "heldout_minutes": sum(e.duration for e in heldout) / 60}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a corpus folder with test_real.jsonl (audiollm synth)")
    counts = split(parser.parse_args().corpus)
    print(f"{counts['train']} training lines ({counts['train_hours']:.2f} h), {counts['heldout']} held-out clips "
          f"({counts['heldout_minutes']:.1f} min); the {counts['measured']} measured clips are in neither")
    return 0


if __name__ == "__main__":
    sys.exit(main())
