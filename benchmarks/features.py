"""Log-mel features: transformers' WhisperFeatureExtractor vs our torch `log_mel_spectrogram`, side by side.

Both run in one process on the same inputs and device with the MERaLiON settings (do_normalize=True,
padding="max_length", attention mask), alternating, best of --repeats; "max |diff|" checks the outputs
agree (the target is 1e-4). Ratios are extractor time / our time (> 1: ours is faster).

    python benchmarks/features.py [--n-mels 80] [--repeats 5] [--device cpu|cuda] [--threads N|auto] [--json out.json]

Cases, per 30 s and per 10 minutes of audio:
  30 s, single                  one clip, one call
  16 x 30 s, batched            one call with 16 clips            (reported per 30 s)
  16 x 30 s, one by one         16 calls of one clip              (reported per 30 s)
  10 min, batched               20 windows of 30 s in one call    (split_into_windows first)
  10 min, one by one            20 calls of one window
And the processor on a 10-minute recording, real-length and fixed mode: one log-mel call per window,
one call for all windows (of equal length), and the processor's chunks of 4 (tests check all are equal).

An older run on one NVIDIA H100 (CUDA features) gave 3.1x (1 clip), 10.2x (16 clips) and 11.7x (10 min);
CPU numbers are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results, apply_threads, best_of, print_table, row  # noqa: E402

from audiollm.audio import SAMPLING_RATE, log_mel_spectrogram, split_into_windows  # noqa: E402

WINDOW = 30 * SAMPLING_RATE


def synthetic_audio(seconds: float, seed: int) -> np.ndarray:
    """Deterministic speech-like audio: a harmonic voice with a syllable envelope plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.7 * t)) / SAMPLING_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    return (0.2 * voice + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def compare(name: str, clips: list[np.ndarray], one_by_one: bool, args, results: Results) -> dict:
    """Time both implementations on `clips` (one call, or one call per clip) and record a row."""
    extractor = WhisperFeatureExtractor(feature_size=args.n_mels)

    def reference(batch):
        out = extractor(batch, sampling_rate=SAMPLING_RATE, padding="max_length", return_attention_mask=True,
                        do_normalize=True, return_tensors="pt", device=args.device)
        return out["input_features"], out["attention_mask"]

    def ours(batch):
        return log_mel_spectrogram(batch, n_mels=args.n_mels, do_normalize=True, device=args.device)

    def run(function):
        if not one_by_one:
            return function(clips)
        parts = [function([clip]) for clip in clips]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    times, outputs = best_of({"extractor": lambda: run(reference), "ours": lambda: run(ours)}, args.repeats, sync=sync)
    (ref_features, ref_mask), (features, mask) = outputs["extractor"], outputs["ours"]
    diff = (features.cpu() - ref_features.cpu()).abs().max().item()
    same_mask = torch.equal(mask.cpu(), ref_mask.cpu().to(torch.int64))
    seconds = sum(len(c) for c in clips) / SAMPLING_RATE
    values = {"extractor_ms": 1000 * times["extractor"], "ours_ms": 1000 * times["ours"],
              "ours_ms_per_30s": 1000 * times["ours"] * 30 / seconds,
              "ours_ms_per_10min": 1000 * times["ours"] * 600 / seconds,
              "max_abs_diff": diff, "mask_equal": same_mask}
    return results.add(row("features", name, values, ratio=times["extractor"] / times["ours"],
                           ratio_label="extractor time / ours"))


def processor_features(args, results: Results) -> list[dict]:
    """The processor's features of a 10-minute recording (20 full windows + a 5 s remainder), against the
    ways it could call log_mel_spectrogram: one call per window, or one call for everything (per group of
    equal frame counts in real mode). All give identical features; the processor uses chunks of 4."""
    import dataclasses

    from audiollm.config import AudioLLMConfig
    from audiollm.processor import FEATURE_CHUNK, AudioLLMProcessor

    windows = split_into_windows(synthetic_audio(605.0, seed=7), max_windows=None)
    rows = []
    for mode, padding in (("real", "longest"), ("fixed", "max_length")):
        config = AudioLLMConfig(speech_config={"num_mel_bins": args.n_mels, "max_source_positions": 1500},
                                text_config={"model_type": "llama", "hidden_size": 8}, encoder_input=mode)
        processor = AudioLLMProcessor.__new__(AudioLLMProcessor)  # features() needs only the config
        processor.config = dataclasses.replace(config)
        same = {"full": windows[:-1], "rest": windows[-1:]} if mode == "real" else {"all": windows}

        def call(batch):
            return log_mel_spectrogram(batch, n_mels=args.n_mels, do_normalize=True, padding=padding)[0]

        functions = {"per_window": lambda: [call([w]) for w in windows],
                     "one_call": lambda: [call(group) for group in same.values()],
                     "processor": lambda: processor.features(windows)}
        times, _ = best_of(functions, args.repeats)
        values = {f"{name}_ms": 1000 * seconds for name, seconds in times.items()}
        values.update(windows=len(windows), chunk=FEATURE_CHUNK)
        rows.append(results.add(row("features", f"processor {mode} mode, 10 min ({len(windows)} windows)", values,
                                    ratio=times["one_call"] / times["processor"],
                                    ratio_label="one call per group / processor (chunks)")))
        print(f"processor, {mode}: per window {values['per_window_ms']:.0f} ms, one call {values['one_call_ms']:.0f} "
              f"ms, processor (chunks of {FEATURE_CHUNK}) {values['processor_ms']:.0f} ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-mels", type=int, default=80, help="80: Whisper base / MERaLiON v1; 128: MERaLiON-2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", default=None, help="torch threads: a number, 'auto', or torch's default")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    apply_threads(args.threads)
    results = Results("features", args.json)

    clip = synthetic_audio(30.0, seed=0)
    batch = [synthetic_audio(30.0, seed=seed) for seed in range(16)]
    windows = split_into_windows(synthetic_audio(600.0, seed=99), max_windows=20)
    print(f"device={args.device} n_mels={args.n_mels} torch threads={torch.get_num_threads()} repeats={args.repeats}")
    rows = [compare("30 s, single", [clip], False, args, results),
            compare("16 x 30 s, batched", batch, False, args, results),
            compare("16 x 30 s, one by one", batch, True, args, results),
            compare("10 min, batched (20 windows)", windows, False, args, results),
            compare("10 min, one by one (20 windows)", windows, True, args, results)]
    print_table(["case", "extractor ms", "ours ms", "ours ms/30 s", "ours ms/10 min", "ratio", "max |diff|", "mask="],
                [[r["case"], f"{r['values']['extractor_ms']:.1f}", f"{r['values']['ours_ms']:.1f}",
                  f"{r['values']['ours_ms_per_30s']:.1f}", f"{r['values']['ours_ms_per_10min']:.0f}",
                  f"{r['ratio']:.2f}x", f"{r['values']['max_abs_diff']:.1e}", r["values"]["mask_equal"]] for r in rows])
    processor_features(args, results)
    headline, single = rows[3], rows[4]
    # Each tool at its faster way of doing 10 minutes (batched or one by one), as a user would run it.
    best = (min(headline["values"]["extractor_ms"], single["values"]["extractor_ms"])
            / min(headline["values"]["ours_ms"], single["values"]["ours_ms"]))
    worst_diff = max(r["values"]["max_abs_diff"] for r in rows)
    results.target("features >= 10x faster than WhisperFeatureExtractor (10 min of audio)",
                   f"{headline['ratio']:.2f}x batched, {single['ratio']:.2f}x one by one, {best:.2f}x best vs best "
                   f"(max |diff| {worst_diff:.1e})", headline["ratio"], 10.0,
                   min(headline["ratio"], best) >= 10 and worst_diff <= 1e-4)
    results.write()


if __name__ == "__main__":
    main()
