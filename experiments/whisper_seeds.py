"""How far does Whisper base's reference WER move with the seed of its fallback sampler?

    python experiments/whisper_seeds.py corpus/test_unseen_voice.jsonl --examples 24 --seeds 0 1 2 3 4
    python experiments/whisper_seeds.py corpus/test_open_text.jsonl --examples 107 --seeds 0 1 2 3 4

The cascade's Whisper (faster-whisper, int8, greedy) decodes again by sampling at higher temperatures where
a greedy reading looks failed. Its sampler is seeded (audiollm/cascade.py, `sampling_seed`), so one seed
always gives the same transcripts; this reads the same clips once per seed, to show how much of a gap
between a model and Whisper base is inside that spread. The clips are those `experiments/listening.py`
takes: the first N English ASR clips with speech. Prints one JSON line: WER % per seed.
"""

from __future__ import annotations

import argparse
import json

from audiollm.cascade import FasterWhisperTranscriber
from audiollm.convert.sources import whisper_ct2_folder
from audiollm.data.manifest import read_manifest
from audiollm.evaluate.data import load_audio
from audiollm.evaluate.metrics import error_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="a manifest")
    parser.add_argument("--examples", type=int, default=24)
    parser.add_argument("--language", default="en")
    parser.add_argument("--whisper", default="whisper-base")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1, help="CTranslate2 CPU threads (its output varies with them)")
    args = parser.parse_args()
    examples = [e for e in read_manifest(args.data) if e.task == "asr" and e.language == args.language
                and not e.meta.get("no_speech")][: args.examples]
    audios = [load_audio(example) for example in examples]
    references = [example.answer for example in examples]
    rates = {}
    for seed in args.seeds:
        transcriber = FasterWhisperTranscriber(whisper_ct2_folder(args.whisper), args.whisper,
                                               cpu_threads=args.threads, seed=seed)
        rates[seed] = round(100 * error_rate(references, transcriber.transcribe(audios), args.language).rate, 2)
    print(json.dumps({"data": args.data, "examples": len(examples), "whisper": args.whisper, "wer_by_seed": rates}))


if __name__ == "__main__":
    main()
