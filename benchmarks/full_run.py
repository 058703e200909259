"""How long a recipe's whole run takes on a machine that cannot build the model's base (a GPU machine).

    python benchmarks/full_run.py pack KIT [--recipe configs/default-v7.yaml] [--clips 2000]   # here
    python benchmarks/full_run.py run KIT [--work DIR] [--run NAME] [--limit-s 480] [--json out.json] [key=value ...]

Issue 4 asks that the default recipe's full run fit in 10 minutes on one GPU. The lent GPU machines take
at most 64 MiB of files and reach no package registry, so neither the 1.1 GB base (built here from the
Whisper and Gemma packages) nor the 2.2 GB corpus can go there. This script times the run with the
same arithmetic instead:

`pack` writes a kit of a few MB: the recipe's base folder without its weights (config, feature
extractor, chat template, tokenizer.json xz-compressed) and a random sample of the recipe's training
manifest (texts, tasks and durations; seed 0) plus the first dev examples the recipe evaluates on.

`run` (on the other machine) makes a shape twin of the base: the same architecture with random weights
(seed 0), put where the recipe looks for its assembled base (AUDIOLLM_CACHE under --work); writes a
noise clip of each example's duration; then runs the recipe unchanged, `python -m audiollm train
RECIPE` with only the data paths and `out` overridden (plus any overrides given), on the machine's
default device (cuda when there is one), and prints `audiollm train --summary` with the wall time.

Same shapes, prompts, answer lengths, steps, evaluations, checkpoints and export as the real run: the
time is the real run's. Not the learning: the weights are random and the audio is noise, so the losses
mean nothing, and the evaluations' greedy answers run to their token limit where a trained model stops
earlier, which makes the evaluation time an upper bound. --limit-s stops the run (it resumes like any
run if started again); the summary then covers the steps done.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_BASE_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json", "chat_template.jinja")
SAMPLE_RATE = 16000


def _recipe_config(recipe: Path):
    from audiollm.train.config import load_train_config

    return load_train_config(recipe)


def _manifest_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _sample(rows: list[dict], count: int) -> list[dict]:
    return random.Random(0).sample(rows, min(count, len(rows)))


def _with_noise_audio(row: dict) -> dict:
    """The row with its audio pointing at the noise clip `run` will write (audio/<id>.wav)."""
    return {**row, "audio": f"audio/{row['id']}.wav"} if row.get("audio") else row


def pack(kit: Path, recipe: Path, clips: int, base: Path | None = None) -> dict:
    """Write the kit for `recipe` into `kit`; returns what it holds."""
    from audiollm.paths import cache_dir
    from audiollm.train.stage2 import assembled_base_name

    config = _recipe_config(recipe)
    if base is None:
        if not (config.model.encoder and config.model.decoder):
            raise SystemExit(f"{recipe} does not assemble its base from packages: pass --base FOLDER")
        base = cache_dir("bases") / assembled_base_name(config.model)
    if not (base / "config.json").is_file() or not (base / "tokenizer.json").is_file():
        raise SystemExit(f"no built base at {base}: run `audiollm train {recipe}` once here (it builds the base first)")
    (kit / "base").mkdir(parents=True, exist_ok=True)
    for name in _BASE_FILES:
        if (base / name).is_file():
            shutil.copy2(base / name, kit / "base" / name)
    with lzma.open(kit / "base" / "tokenizer.json.xz", "wb", preset=9) as packed:
        packed.write((base / "tokenizer.json").read_bytes())

    train = [row for path in config.data.train for row in _manifest_rows(Path(path))]
    sample = _sample(train, clips)
    dev = [row for path in config.data.eval for row in _manifest_rows(Path(path))][: 2 * config.eval_examples]
    _write_rows(kit / "train.jsonl", [_with_noise_audio(row) for row in sample])
    _write_rows(kit / "dev.jsonl", [_with_noise_audio(row) for row in dev])
    # Replay data: the default recipe replays its training manifest (the sample serves); others name their own.
    text = None if not config.data.text else "train" if config.data.text == config.data.train else "text"
    if text == "text":
        rows = [row for path in config.data.text for row in _manifest_rows(Path(path))]
        _write_rows(kit / "text.jsonl", [_with_noise_audio(row) for row in _sample(rows, clips)])
    facts = {"recipe": str(recipe), "base": str(base), "train_examples": len(sample), "of": len(train),
             "dev_examples": len(dev), "replay": text,
             "bytes": sum(p.stat().st_size for p in kit.rglob("*") if p.is_file())}
    (kit / "kit.json").write_text(json.dumps(facts, indent=2))
    return facts


def make_twin(kit: Path, folder: Path) -> None:
    """The kit's base with random weights (seed 0), written to `folder` (skipped if already there)."""
    import torch

    from audiollm.config import AudioLLMConfig
    from audiollm.model import AudioLLM

    if (folder / "build_info.json").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name in _BASE_FILES:
        if (kit / "base" / name).is_file():
            shutil.copy2(kit / "base" / name, folder / name)
    with lzma.open(kit / "base" / "tokenizer.json.xz", "rb") as packed:
        (folder / "tokenizer.json").write_bytes(packed.read())
    torch.manual_seed(0)
    AudioLLM.from_config(AudioLLMConfig.from_folder(folder)).save_pretrained(folder)
    (folder / "build_info.json").write_text(json.dumps({"shape_twin_of": "kit base", "random_weights": True}))


def write_noise_clips(kit: Path, data: Path) -> tuple[int, float]:
    """Copy the kit's manifests into `data` and write each example's noise clip; returns (clips, seconds)."""
    import numpy as np
    import soundfile

    (data / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    count, seconds = 0, 0.0
    for name in ("train.jsonl", "dev.jsonl", "text.jsonl"):
        if not (kit / name).is_file():
            continue
        rows = _manifest_rows(kit / name)
        for row in rows:
            path = data / row["audio"] if row.get("audio") else None
            if path is None or path.is_file():
                continue
            samples = max(1, round(float(row["duration"]) * SAMPLE_RATE))
            soundfile.write(path, (0.05 * rng.standard_normal(samples)).astype("float32"), SAMPLE_RATE,
                            subtype="PCM_16")
            count, seconds = count + 1, seconds + samples / SAMPLE_RATE
        _write_rows(data / name, rows)
    return count, seconds


def run(kit: Path, work: Path, recipe: Path, limit_s: float, overrides: list[str], name: str = "run") -> dict:
    """Twin, clips, then the recipe's run with a wall-clock limit; returns the summary and timings."""
    import torch

    from audiollm.train.stage2 import assembled_base_name
    from audiollm.train.summary import format_summary, summarise_run

    data, run_dir = work / "data", work / name  # runs in one --work share the twin and the clips
    started = time.perf_counter()
    make_twin(kit, work / "cache" / "bases" / assembled_base_name(_recipe_config(recipe).model))
    clips, seconds = write_noise_clips(kit, data)
    prepared = time.perf_counter() - started
    print(f"twin base and {clips} noise clips ({seconds / 3600:.2f} h) ready in {prepared:.0f} s", flush=True)

    replay = json.loads((kit / "kit.json").read_text())["replay"]
    command = [sys.executable, "-m", "audiollm", "train", str(recipe), f"data.train=[{data / 'train.jsonl'}]",
               f"data.eval=[{data / 'dev.jsonl'}]", *([f"data.text=[{data / f'{replay}.jsonl'}]"] if replay else []),
               f"out={run_dir}", *overrides]
    print("$", " ".join(command), flush=True)
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "AUDIOLLM_CACHE": str(work / "cache"), "PYTHONPATH": python_path}
    started = time.perf_counter()
    try:
        returncode = subprocess.run(command, env=env, timeout=limit_s).returncode
    except subprocess.TimeoutExpired:
        returncode = None
    wall = time.perf_counter() - started
    summary = summarise_run(run_dir) if (run_dir / "log.jsonl").is_file() else {}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(format_summary(summary) if summary else "no steps logged")
    status = "finished" if returncode == 0 else ("stopped at the limit" if returncode is None else f"failed ({returncode})")
    print(f"{device}: run {status} after {wall / 60:.1f} min wall (preparation {prepared:.0f} s not included)")
    return {"device": device, "status": status, "wall_s": wall, "prepare_s": prepared, "summary": summary,
            "recipe": str(recipe), "overrides": overrides, "torch": torch.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    packing = sub.add_parser("pack", help="write the kit here")
    packing.add_argument("kit", type=Path)
    packing.add_argument("--recipe", type=Path, default=ROOT / "configs" / "default-v7.yaml")
    packing.add_argument("--clips", type=int, default=2000, help="training examples sampled (default 2000)")
    packing.add_argument("--base", type=Path, help="base folder (default: the recipe's assembled base)")
    running = sub.add_parser("run", help="time the recipe on this machine from a kit")
    running.add_argument("kit", type=Path)
    running.add_argument("--recipe", type=Path, default=ROOT / "configs" / "default-v7.yaml")
    running.add_argument("--work", type=Path, default=Path("/tmp/audiollm-full-run"))
    running.add_argument("--run", default="run", help="run folder name under --work (default run)")
    running.add_argument("--limit-s", type=float, default=480.0, help="stop the run after this many seconds")
    running.add_argument("--json", type=Path, help="also write the result as JSON")
    args, overrides = parser.parse_known_args()  # what is left are the recipe's key=value overrides
    if args.command == "pack" and overrides or any("=" not in item for item in overrides):
        parser.error(f"not an option or a key=value recipe override: {' '.join(overrides)}")
    if args.command == "pack":
        print(json.dumps(pack(args.kit, args.recipe, args.clips, args.base), indent=2))
        return 0
    result = run(args.kit, args.work, args.recipe, args.limit_s, overrides, args.run)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["status"] == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
