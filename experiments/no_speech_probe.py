"""How well does Whisper's own no-speech probability tell speech from silence and noise?

    python experiments/no_speech_probe.py runs/default-v16/model --per-set 20

For a model with transcript rows (its reader is Whisper's decoder), this reads, for clips of the corpus,
p(<|nocaptions|>) where Whisper's decoder reads <|startoftranscript|> on the clip's first window (30 s
padded, as the reader hears it): the number the no-speech row carries (config.transcript_no_speech_row).
Three groups: the clips marked no_speech (silence, noise, hum) of the test splits, real human speech
(test_real) and unseen synthetic voices (test_unseen_voice). Prints one JSON line: each group's count,
minimum, median and maximum, and how many of its clips are above 0.5.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from audiollm.data.manifest import read_manifest
from audiollm.default import resolve_model_folder
from audiollm.errors import ConfigError
from audiollm.evaluate.data import load_audio
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor

GROUPS = {  # group -> (manifests, which clips)
    "no speech": (("test_seen", "test_unseen_voice", "test_unseen_template"), lambda e: e.meta.get("no_speech")),
    "real speech": (("test_real",), lambda e: e.task == "asr"),
    "unseen synthetic voices": (("test_unseen_voice",), lambda e: e.task == "asr" and not e.meta.get("no_speech")),
}


@torch.no_grad()
def no_speech_probability(model: AudioLLM, processor: AudioLLMProcessor, audio) -> float:
    """The reader's no-speech probability for the first window of `audio`."""
    start, end = processor.window_bounds(audio)[0]
    features = processor.features([audio[start:end]])["transcript_features"]
    states = model.speech_encoder(features.to(model.dtype)).last_hidden_state
    return float(model.speech_transcriber.read(states, steps=1).no_speech[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model folder with transcript rows")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--per-set", type=int, default=20, help="clips per group (spread over its manifests)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = resolve_model_folder(args.model)
    model = AudioLLM.from_pretrained(folder).eval()
    if model.speech_transcriber is None:
        raise ConfigError(f"{folder} has no transcript rows: nothing reads Whisper's no-speech probability")
    processor = AudioLLMProcessor.from_pretrained(folder)
    found = {}
    for group, (splits, wanted) in GROUPS.items():
        share = -(-args.per_set // len(splits))
        clips = [e for split in splits
                 for e in [e for e in read_manifest(f"{args.corpus}/{split}.jsonl") if wanted(e)][:share]]
        values = [no_speech_probability(model, processor, load_audio(e)) for e in clips[: args.per_set]]
        found[group] = {"clips": len(values), "min": round(min(values), 3), "median": round(statistics.median(values), 3),
                        "max": round(max(values), 3), "above 0.5": sum(v > 0.5 for v in values)}
    print(json.dumps({"model": folder, **found}))


if __name__ == "__main__":
    main()
