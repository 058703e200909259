"""Training throughput of the default recipe on this machine: configs/default-v7.yaml (the default's first
leg, built from the packages), or --recipe.

    python benchmarks/training.py [--recipe configs/default-v7.yaml] [--steps 2] [--batch-size 16] [--precision fp32,bf16] [--stage1] [--threads N|auto] [--json out.json]

Runs the real training loop (audiollm.train.loop.train with the stage-2 task) for --steps optimiser
steps plus one warm-up step, on a small corpus synthesised here with espeak-ng (3-10 s English clips:
ASR and spoken-QA examples, as the recipe's manifests have), with the recipe's settings: Whisper base
frozen, MERaLiON-v1 adaptor trained, LoRA r=16 on the decoder, real-length encoding, 10% text replay,
its batch size and gradient accumulation. Evaluation and the final export are off and only the last
step is checkpointed (they are not throughput). --batch-size overrides the recipe's global batch.

Reported: samples/s; tokens/s (all prompt + answer tokens the decoder processed, speech placeholders
included) and labelled tokens/s; and each step's time split into data loading (reading audio, features,
batching: the loop's own "data" timer), speech encoder (+ ln_speech + adaptor forward; the encoder is
frozen, so it has no backward), decoder forward + backward (the rest of the loop's forward_backward
timer), optimiser (clip + AdamW step).

--precision lists the recipe precisions to run one after the other on the same data (default: fp32
and bf16 autocast); each later row's ratio is its samples/s over the first row's, and "first loss" (the
warm-up step's loss: same weights, same batch) shows what the precision changes numerically.
--stage1 also times stage 1 (Whisper fine-tuned as Whisper, configs/stage1.yaml) padded to 30 s and
padded only to each batch's longest clip (its default), on the same clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Results, apply_threads, print_table, row  # noqa: E402
from speech import SENTENCES, VOICES, espeak  # noqa: E402


QUESTIONS = ["What is the first item?", "What grew by twelve percent?", "When will the hawker centre close?"]


def make_corpus(folder: Path, count: int) -> Path:
    """`count` examples (2 ASR : 1 spoken QA) with espeak audio; returns the manifest path."""
    import soundfile

    from audiollm.data.manifest import Example, write_manifest

    examples = []
    for index in range(count):
        sentence = " ".join(SENTENCES[(index + k) % len(SENTENCES)] for k in range(1 + index % 2))
        audio = espeak(sentence, VOICES[index % len(VOICES)], speed=150 + 10 * (index % 3))
        name = f"clip{index:03d}.flac"
        soundfile.write(folder / name, audio, 16000)
        duration = len(audio) / 16000
        if index % 3 == 2:
            question = QUESTIONS[index % len(QUESTIONS)]
            examples.append(Example(id=f"sqa{index}", task="sqa", instruction=question, answer=sentence.split(",")[0],
                                    audio=name, duration=duration,
                                    meta={"transcript": sentence, "question": question}))
        else:
            examples.append(Example(id=f"asr{index}", task="asr", instruction="Please transcribe this speech.",
                                    answer=sentence, audio=name, duration=duration))
    manifest = folder / "train.jsonl"
    write_manifest(manifest, examples)
    return manifest


class Instrumented:
    """Wraps the stage-2 task: records when each collate / loss_sum / encode_speech call ran."""

    def __init__(self, task, events: list):
        self.task, self.events = task, events
        self.model = task.model
        encode = task.model.encode_speech

        def timed_encode(*inputs, **options):
            start = time.perf_counter()
            out = encode(*inputs, **options)
            events.append(("encode", start, time.perf_counter(), 0))
            return out

        task.model.encode_speech = timed_encode  # this instance only

    def __getattr__(self, name):
        return getattr(self.task, name)

    def export(self, run_dir: Path) -> dict:
        return {}  # the merged model (1.3 GB written) is not throughput; skip it

    def collate(self, examples):
        start = time.perf_counter()
        batch = self.task.collate(examples)
        self.events.append(("collate", start, time.perf_counter(), int(batch["attention_mask"].sum())))
        return batch


def quick_run_overrides(args, workdir: Path, run_dir: Path) -> list[str]:
    """Recipe overrides for a timed run on the espeak corpus (made once per workdir): warm-up + args.steps
    steps, no evaluation, no checkpoints, this process's threads."""
    manifest = workdir / "train.jsonl"
    if not manifest.is_file():
        make_corpus(workdir, args.examples)
    return [f"data.train=[{manifest}]", "data.eval=[]", f"out={run_dir}", f"steps={args.steps + 1}",
            "eval_every=0", "save_every=0", "device=cpu", f"threads={torch.get_num_threads()}",
            "optim.warmup_steps=1"]


def run(args, workdir: Path, precision: str) -> tuple[list[dict], list, object]:
    """Train for warm-up + args.steps steps at `precision`; returns the loop's log records, the events
    and the config."""
    from audiollm.train.config import load_train_config
    from audiollm.train.loop import train
    from audiollm.train.stage2 import InstructionTuning

    run_dir = workdir / f"run-{precision}"
    overrides = [*quick_run_overrides(args, workdir, run_dir), f"data.text=[{workdir / 'train.jsonl'}]",
                 f"precision={precision}",
                 # The multitask phase (all but the recipe's first align.steps steps): its steps are measured.
                 "align.steps=0", "align.ctc_steps=0"]
    overrides += [f"batch_size={args.batch_size}"] if args.batch_size else []
    config = load_train_config(args.recipe, overrides)
    events: list = []
    train(lambda cfg, device, dist: Instrumented(InstructionTuning(cfg, device, dist), events), config)
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return records, events, config


def run_stage1(args, workdir: Path, encoder_input: str) -> dict:
    """Stage 1 (Whisper fine-tuned as Whisper, configs/stage1.yaml) for warm-up + args.steps steps with
    `encoder_input` fixed (30 s padding) or real (padding to the batch's longest clip): samples/s."""
    from audiollm.train.config import load_train_config
    from audiollm.train.loop import train
    from audiollm.train.stage1 import WhisperFineTuning

    run_dir = workdir / f"stage1-{encoder_input}"
    overrides = [*quick_run_overrides(args, workdir, run_dir), f"model.encoder_input={encoder_input}"]
    config = load_train_config(ROOT / "configs" / "stage1.yaml", overrides)

    class NoExport(WhisperFineTuning):
        def export(self, run_dir: Path) -> dict:
            return {}  # writing the fine-tuned Whisper is not throughput

    train(NoExport, config)
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    timed = records[1:]  # the first step warms up
    seconds = sum(sum(r["seconds"].values()) for r in timed)
    return {"samples_per_s": sum(r["examples"] for r in timed) / seconds, "seconds_per_step": seconds / len(timed),
            "first_loss": records[0]["loss"],
            "batch_size": config.batch_size, "threads": torch.get_num_threads()}


def shares(records: list[dict], events: list, grad_accum: int) -> dict:
    """Totals over the timed steps (the first, warm-up step is left out)."""
    collates = [e for e in events if e[0] == "collate"]
    first_timed = collates[grad_accum][1]  # the warm-up step made grad_accum collate calls
    encoder = sum(e[2] - e[1] for e in events if e[0] == "encode" and e[1] >= first_timed)
    tokens = sum(e[3] for e in collates[grad_accum:])
    timed = records[1:]
    data = sum(r["seconds"]["data"] for r in timed)
    forward_backward = sum(r["seconds"]["forward_backward"] for r in timed)
    optimiser = sum(r["seconds"]["optimiser"] for r in timed)
    total = data + forward_backward + optimiser
    return {"steps": len(timed), "samples_per_s": sum(r["examples"] for r in timed) / total,
            "tokens_per_s": tokens / total, "labelled_tokens_per_s": sum(r["tokens"] for r in timed) / total,
            "seconds_per_step": total / len(timed), "share_data": data / total, "share_encoder": encoder / total,
            "share_decoder": (forward_backward - encoder) / total, "share_optimiser": optimiser / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "configs" / "default-v7.yaml", help="stage-2 recipe to time")
    parser.add_argument("--steps", type=int, default=2, help="timed steps (after one warm-up step)")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default: the recipe's)")
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--precision", default="fp32,bf16", help="comma-separated recipe precisions to compare")
    parser.add_argument("--stage1", action="store_true",
                        help="also time stage 1 (configs/stage1.yaml) with 30 s padding and with trimmed padding")
    parser.add_argument("--threads", default=None, help="torch threads: a number, 'auto', or torch's default")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    apply_threads(args.threads)
    results = Results("training", args.json)
    headers = ["precision", "samples/s", "tokens/s", "labelled tok/s", "s/step", "data", "encoder",
               "decoder fwd+bwd", "optimiser", "first loss"]
    table, baseline = [], None
    with tempfile.TemporaryDirectory(prefix="audiollm-train-bench-") as scratch:
        for precision in args.precision.split(","):
            records, events, config = run(args, Path(scratch), precision)
            values = shares(records, events, grad_accum=config.grad_accum)
            values.update(batch_size=config.batch_size, grad_accum=config.grad_accum, threads=torch.get_num_threads(),
                          first_loss=records[0]["loss"])
            baseline = baseline or values
            label = "bf16 autocast" if precision == "bf16" else precision
            results.add(row("training", f"default recipe (batch {config.batch_size}, grad_accum "
                            f"{config.grad_accum}), CPU, {label}", values,
                            ratio=None if values is baseline else values["samples_per_s"] / baseline["samples_per_s"],
                            ratio_label=f"samples/s over {args.precision.split(',')[0]}"))
            table.append([label, f"{values['samples_per_s']:.2f}", f"{values['tokens_per_s']:.0f}",
                          f"{values['labelled_tokens_per_s']:.1f}", f"{values['seconds_per_step']:.1f}",
                          *(f"{100 * values[k]:.0f}%" for k in ("share_data", "share_encoder", "share_decoder",
                                                                 "share_optimiser")), f"{values['first_loss']:.4f}"])
        if args.stage1:
            fixed = run_stage1(args, Path(scratch), "fixed")
            trimmed = run_stage1(args, Path(scratch), "real")
            for label, values, ratio in (("30 s padding", fixed, None),
                                         ("padding to the longest clip", trimmed,
                                          trimmed["samples_per_s"] / fixed["samples_per_s"])):
                results.add(row("training", f"stage 1 (Whisper base as Whisper, batch {values['batch_size']}), "
                                f"CPU, {label}", values, ratio=ratio, ratio_label="samples/s over 30 s padding"))
                table.append([f"stage 1, {label}", f"{values['samples_per_s']:.2f}", "", "",
                              f"{values['seconds_per_step']:.1f}", "", "", "", "", f"{values['first_loss']:.4f}"])
    print_table(headers, table)
    results.write()


if __name__ == "__main__":
    main()
