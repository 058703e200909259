"""Conversion check: our converted Whisper (transformers `generate`) vs faster-whisper on the original.

For each model and each real speech clip of pocketsphinx-testdata (5 LibriVox + 5 "cards" clips,
16 kHz, with transcripts) this runs, side by side in one process:

- fw:       faster-whisper on the original CTranslate2 folder (float32, beam_size=1, temperature 0,
            without_timestamps, condition_on_previous_text=False, language "en");
- hf/fw:    the converted model's greedy `generate` on exactly the features faster-whisper computes
            (its log-mel, zero-padded to 3000 frames): isolates the weight conversion;
- hf/hf:    the same model on transformers' `WhisperFeatureExtractor` features (audio padded with
            silence to 30 s before the log-mel), the feature path the rest of audiollm uses;
- enc diff: max |HF encoder - ctranslate2 `Whisper.encode`| on the same features.

Texts are compared after normalisation (lowercase, punctuation stripped). Prints one table per model
and a summary line; nothing is asserted (tests/test_convert.py asserts on tiny.en).

    python benchmarks/check_conversion.py [--models whisper-tiny.en whisper-base] [--threads 2]
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

CLIP_ROOT = Path("/usr/share/pocketsphinx/test/data")
_LINE = re.compile(r"<s>(.*)</s>\s*\((.+)\)")


@dataclass
class Clip:
    name: str
    audio: np.ndarray  # float32 mono, 16 kHz
    reference: str


def speech_clips(root: Path = CLIP_ROOT) -> list[Clip]:
    """The transcribed real-speech clips of pocketsphinx-testdata (empty list if not installed)."""
    clips = []
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        path = root / folder / listing
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            if m := _LINE.search(line):
                audio, rate = sf.read(root / folder / f"{m.group(2).strip()}.wav", dtype="float32")
                assert rate == 16000, f"{folder}/{m.group(2)} is {rate} Hz"
                clips.append(Clip(f"{folder}/{m.group(2).strip()}", audio, " ".join(m.group(1).split())))
    return clips


def normalise(text: str) -> str:
    """Lowercase, punctuation (hyphens included) to spaces, single spaces."""
    return " ".join(re.sub(r"[^\w\s']|_", " ", text.lower()).split())


def faster_whisper_features(audio: np.ndarray, n_mels: int) -> np.ndarray:
    """Log-mel exactly as faster-whisper computes one <=30 s window: (n_mels, 3000), zero-padded."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    features = FeatureExtractor(feature_size=n_mels)(audio)[:, :-1]  # it drops the last frame too
    return pad_or_trim(features).astype(np.float32)


def hf_greedy(bundle, features: np.ndarray) -> list[str]:
    """Greedy transcripts of a (B, n_mels, 3000) batch with the converted model."""
    kwargs = {"language": "en", "task": "transcribe"} if bundle.multilingual else {}
    with torch.no_grad():
        ids = bundle.model.generate(torch.from_numpy(features), **kwargs)
    return [t.strip() for t in bundle.tokenizer.batch_decode(ids, skip_special_tokens=True)]


def faster_whisper_texts(folder: Path, clips: list[Clip], threads: int) -> list[str]:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type="float32", cpu_threads=threads, local_files_only=True)
    texts = []
    for clip in clips:
        segments, _ = model.transcribe(clip.audio, language="en", beam_size=1, temperature=0.0,
                                       without_timestamps=True, condition_on_previous_text=False)
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def encoder_max_diff(folder: Path, bundle, features: np.ndarray, threads: int) -> float:
    """max |HF encoder output - ctranslate2 encoder output| over a batch of features."""
    import ctranslate2

    ct2 = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32", intra_threads=threads)
    theirs = np.array(ct2.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features)), to_cpu=True))
    with torch.no_grad():
        ours = bundle.model.model.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
    return float(np.abs(ours - theirs).max())


def check_model(source: str, clips: list[Clip], threads: int = 2) -> dict:
    """Run the comparison for one model alias; returns rows and timings (seconds)."""
    from audiollm.convert.sources import load_whisper, whisper_ct2_folder

    torch.set_num_threads(threads)
    start = time.perf_counter()
    bundle = load_whisper(source)
    load_s = time.perf_counter() - start
    folder = whisper_ct2_folder(source)
    fw_feats = np.stack([faster_whisper_features(c.audio, bundle.n_mels) for c in clips])
    audio = [c.audio for c in clips]
    hf_feats = bundle.feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features
    start = time.perf_counter()
    hf_fw = hf_greedy(bundle, fw_feats)
    hf_s = time.perf_counter() - start
    hf_hf = hf_greedy(bundle, hf_feats.astype(np.float32))
    start = time.perf_counter()
    fw = faster_whisper_texts(folder, clips, threads)
    fw_s = time.perf_counter() - start
    rows = [dict(clip=c.name, reference=c.reference, fw=a, hf_fw=b, hf_hf=h)
            for c, a, b, h in zip(clips, fw, hf_fw, hf_hf)]
    return dict(source=source, rows=rows, load_s=load_s, hf_s=hf_s, fw_s=fw_s,
                enc_diff=encoder_max_diff(folder, bundle, fw_feats, threads))


def print_report(result: dict) -> None:
    rows = result["rows"]
    same = lambda a, b: normalise(a) == normalise(b)  # noqa: E731
    print(f"\n## {result['source']}\n")
    print("| clip | faster-whisper | hf/fw feats | = | hf/hf feats | = |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['fw']} | {r['hf_fw']} | {'y' if same(r['fw'], r['hf_fw']) else 'N'} "
              f"| {r['hf_hf']} | {'y' if same(r['fw'], r['hf_hf']) else 'N'} |")
    n_fw = sum(same(r["fw"], r["hf_fw"]) for r in rows)
    n_hf = sum(same(r["fw"], r["hf_hf"]) for r in rows)
    print(f"\n{result['source']}: exact match (normalised) hf/fw {n_fw}/{len(rows)}, hf/hf {n_hf}/{len(rows)}; "
          f"encoder max abs diff {result['enc_diff']:.2e}; load {result['load_s']:.1f} s, "
          f"HF generate {result['hf_s']:.1f} s, faster-whisper {result['fw_s']:.1f} s for {len(rows)} clips")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["whisper-tiny.en", "whisper-base"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    clips = speech_clips()
    if not clips:
        raise SystemExit(f"no clips under {CLIP_ROOT}: apt-get install pocketsphinx-testdata")
    for source in args.models:
        print_report(check_model(source, clips, args.threads))


if __name__ == "__main__":
    main()
