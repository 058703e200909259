"""Do a model's voice rows tell clips apart? Cosine between the first voice row of PARA test clips, and
the rows' lengths beside the speech rows' (docs/training.md, "Voice rows").

    python experiments/voice_rows_check.py default --fresh 2     # 2 fresh rows, calibrated on 64 train clips
    python experiments/voice_rows_check.py default --fresh 2 --uncalibrated   # raw pooled states
    python experiments/voice_rows_check.py runs/experiments/NAME/model

Pooled encoder states that are not standardised give nearly the same row for every clip (cosine 1.00):
the decoder then has nothing to read.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from audiollm.audio import load_audio
from audiollm.data.manifest import read_manifest
from audiollm.default import resolve_model_folder
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn


def _batch(processor, examples):
    return processor([[Turn("user", "x", [load_audio(e.audio_path)])] for e in examples])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model folder or 'default'")
    parser.add_argument("--fresh", type=int, help="give the model this many fresh voice rows, calibrated on train clips")
    parser.add_argument("--uncalibrated", action="store_true", help="with --fresh: leave the pools unstandardised")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--clips", type=int, default=6, help="gender clips of test_seen to compare")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = resolve_model_folder(args.model)
    model = AudioLLM.from_pretrained(folder).eval()
    if args.fresh:
        model.set_voice_rows(args.fresh)
        model.eval()
    if not model.config.voice_rows:
        raise SystemExit(f"{args.model} has no voice rows (give --fresh N)")
    processor = AudioLLMProcessor.from_pretrained(folder, model.config)
    read = lambda split: read_manifest(f"{args.corpus}/{split}.jsonl")  # noqa: E731
    if args.fresh and not args.uncalibrated:
        train = read("train")[:64]
        batches = [_batch(processor, train[i : i + 8]) for i in range(0, len(train), 8)]
        model.calibrate_voice_rows([(b["input_features"], b["feature_attention_mask"]) for b in batches])
    clips = [e for e in read("test_seen") if e.task == "para" and e.meta.get("attribute") == "gender"]
    first_rows = []
    with torch.no_grad():
        for example in clips[: args.clips]:
            batch = _batch(processor, [example])
            rows = model.speech_rows(batch["input_features"], batch["feature_attention_mask"])
            voice, speech = rows[: model.config.voice_rows], rows[model.config.voice_rows :]
            first_rows.append(voice[0])
            print(f"{example.meta['label']:7s} voice row length {float(voice.norm(dim=-1).mean()):6.1f}   "
                  f"speech rows (median) {float(speech.norm(dim=-1).median()):6.1f}")
    unit = torch.nn.functional.normalize(torch.stack(first_rows), dim=-1)
    print("cosine between clips (first voice row):")
    print(np.round((unit @ unit.T).numpy(), 2))


if __name__ == "__main__":
    main()
