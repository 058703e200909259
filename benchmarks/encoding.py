"""Speech encoding of the default model: 30 s padded windows ("fixed") vs only the real length ("real").

Same model, same audio, same process, alternating, best of --repeats. "fixed" is how Whisper and the
released MERaLiON models were trained (every window padded to 30 s = 1500 encoder frames); "real" encodes
only the frames the audio has, for models trained that way (configs/default.yaml trains with it).
The timed span is encode_speech: encoder + ln_speech + adaptor, from log-mel features to speech tokens.

    python benchmarks/encoding.py [--repeats 3] [--threads N|auto] [--long] [--json out.json]

Also: the same 30 s window with 1 and with 2 torch threads, alternating in one process, because on a
shared small machine the better thread count depends on how busy the other cores are.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results, apply_threads, best_of, print_table, row  # noqa: E402
from features import synthetic_audio  # noqa: E402

from audiollm.audio import split_into_windows  # noqa: E402
from audiollm.model import AudioLLM  # noqa: E402
from audiollm.processor import AudioLLMProcessor  # noqa: E402


def load_both(folder: Path) -> tuple[AudioLLM, AudioLLM, AudioLLMProcessor, AudioLLMProcessor]:
    """The default model twice over the same weights: one encoding fixed windows, one real lengths."""
    fixed = AudioLLM.from_pretrained(folder)
    fixed.config = dataclasses.replace(fixed.config, encoder_input="fixed", max_windows=None)
    real = copy.copy(fixed)  # shares every module; only its own config differs
    real.config = dataclasses.replace(fixed.config, encoder_input="real")
    return (fixed, real, AudioLLMProcessor.from_pretrained(folder, fixed.config),
            AudioLLMProcessor.from_pretrained(folder, real.config))


def measure(name: str, seconds: float, models, processors, repeats: int, results: Results) -> dict:
    """encode_speech on `seconds` of audio (cut into 30 s windows), fixed vs real."""
    windows = split_into_windows(synthetic_audio(seconds, seed=3), max_windows=None)
    inputs = [processor.features(windows) for processor in processors]
    functions = {mode: (lambda m=model, i=batch: m.encode_speech(i["input_features"], i.get("feature_attention_mask")))
                 for mode, model, batch in zip(("fixed", "real"), models, inputs)}
    with torch.inference_mode():
        times, outputs = best_of(functions, repeats)
    values = {"fixed_ms": 1000 * times["fixed"], "real_ms": 1000 * times["real"], "windows": len(windows),
              "fixed_tokens": outputs["fixed"].shape[0], "real_tokens": outputs["real"].shape[0]}
    return results.add(row("encoding", name, values, ratio=times["fixed"] / times["real"],
                           ratio_label="fixed (30 s padded) time / real-length time"))


def thread_comparison(model: AudioLLM, processor: AudioLLMProcessor, repeats: int, results: Results) -> dict:
    """One 30 s window with 1 thread vs 2 threads, alternating."""
    batch = processor.features([synthetic_audio(30.0, seed=4)])
    original = torch.get_num_threads()

    def with_threads(count: int):
        torch.set_num_threads(count)
        return model.encode_speech(batch["input_features"])

    with torch.inference_mode():
        times, _ = best_of({"1": lambda: with_threads(1), "2": lambda: with_threads(2)}, repeats)
    torch.set_num_threads(original)
    values = {"one_thread_ms": 1000 * times["1"], "two_threads_ms": 1000 * times["2"]}
    return results.add(row("encoding", "30 s window: 1 vs 2 torch threads", values, ratio=times["2"] / times["1"],
                           ratio_label="2-thread time / 1-thread time (> 1: one thread is faster here)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default=None, help="torch threads: a number, 'auto', or torch's default")
    parser.add_argument("--long", action="store_true", help="add a 10-minute case (minutes; it shows fixed = real)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    apply_threads(args.threads)
    from audiollm.default import default_model_folder

    results = Results("encoding", args.json)
    fixed, real, fixed_processor, real_processor = load_both(default_model_folder()[0])
    print(f"torch threads={torch.get_num_threads()} repeats={args.repeats}")
    cases = [("5 s clip", 5.0), ("10 s clip", 10.0), ("30 s clip", 30.0)]
    cases += [("10 min (20 windows)", 600.0)] if args.long else []  # all full windows: fixed = real
    rows = [measure(name, seconds, (fixed, real), (fixed_processor, real_processor), args.repeats, results)
            for name, seconds in cases]
    print_table(["case", "fixed ms", "real ms", "fixed/real", "tokens fixed", "tokens real"],
                [[r["case"], f"{r['values']['fixed_ms']:.0f}", f"{r['values']['real_ms']:.0f}", f"{r['ratio']:.2f}x",
                  r["values"]["fixed_tokens"], r["values"]["real_tokens"]] for r in rows])
    threads_row = thread_comparison(fixed, fixed_processor, args.repeats, results)
    print(f"30 s window: 1 thread {threads_row['values']['one_thread_ms']:.0f} ms, 2 threads "
          f"{threads_row['values']['two_threads_ms']:.0f} ms (2/1 = {threads_row['ratio']:.2f})")
    results.write()


if __name__ == "__main__":
    main()
