"""The training loop, written out: plan -> collate -> forward -> loss -> backward -> clip -> step ->
schedule -> log -> evaluate -> checkpoint. Both stages use it; a stage is a `Task` (see stage1.py and
stage2.py) that owns the model, turns examples into batches, evaluates and exports what it trained.

Loss normalisation: each micro-batch contributes sum(token losses) / (labelled tokens in the whole
global batch), times the world size because DDP averages gradients over processes. So one process
with gradient accumulation and N processes with the same global batch take the same optimiser steps.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from audiollm.config import SETTINGS_BEFORE_THEY_EXISTED
from audiollm.errors import ConfigError
from audiollm.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from audiollm.train.config import TrainConfig, config_to_dict
from audiollm.train.data import BatchPlan, as_asr_example, replay_indices, share_of, weighted_pool
from audiollm.train.distributed import Distributed, setup_distributed


class Task(Protocol):
    """What a training stage provides to the loop."""

    model: torch.nn.Module
    train_examples: list
    text_examples: list

    def collate(self, examples: list) -> dict[str, torch.Tensor]: ...
    def loss_sum(self, model: torch.nn.Module, batch: dict, phase: str = "main") -> torch.Tensor: ...
    def parameter_groups(self) -> list[dict]: ...
    def evaluate(self) -> dict[str, float]: ...
    def export(self, out: Path) -> dict: ...


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def learning_rate_factor(step: int, config: TrainConfig, group: str | None = None) -> float:
    """Linear warm-up, then cosine or linear decay to 10% (or constant).

    A parameter group that waits out the alignment phase (not in align.train) stays at 0 until
    align.steps, then warms up from there and joins the common decay."""
    warmup = config.optim.warmup_steps
    if config.align.steps and group is not None and group not in config.align.train:
        if step < config.align.steps:
            return 0.0
        if step < config.align.steps + warmup:
            return (step - config.align.steps + 1) / warmup * learning_rate_factor(step, config)
    if step < warmup:
        return (step + 1) / warmup
    if config.optim.schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, config.steps - warmup)
    decay = 0.5 * (1 + math.cos(math.pi * progress)) if config.optim.schedule == "cosine" else 1 - progress
    return 0.1 + 0.9 * decay


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run at hardware speed here: a GPU with bf16, or a CPU that oneDNN
    runs bf16 on (AVX-512 and newer). Elsewhere CPU autocast emulates bf16: on a 2-core AVX2 EPYC a
    512x2048 @ 2048x2048 product took 13.6 s in bf16 against 0.05 s in fp32, and a default-recipe step
    8 minutes instead of seconds."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def effective_precision(config: TrainConfig, device: torch.device) -> str:
    """precision=bf16 means bf16 autocast where the hardware has it; elsewhere the run trains in fp32."""
    return "bf16" if config.precision == "bf16" and native_bf16(device) else "fp32"


def _autocast(precision: str, device: torch.device):
    """A context factory: bf16 autocast for precision "bf16", else nothing."""
    if precision != "bf16":
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def phase_at(step: int, config: TrainConfig) -> str:
    """Which loss step `step` (0-based) trains with: "ctc" (align.ctc_steps), "align" (the rest of the
    alignment phase) or "main"."""
    if step < config.align.ctc_steps:
        return "ctc"
    return "align" if step < config.align.steps else "main"


class DataOrder:
    """Which examples each optimiser step uses: the alignment phase's plan (only align.tasks, whole
    batches of them) for the first align.steps steps, then the main plan plus text replay. The CTC
    steps that open the alignment phase spell transcripts, so they draw only its ASR examples (all of
    them when align.tasks is [asr]: then both parts of the phase walk one plan)."""

    def __init__(self, task: Task, config: TrainConfig):
        self.task, self.seed = task, config.seed
        self.align_steps = config.align.steps
        self.replay = round(config.batch_size * config.data.text_replay)  # text-only rows per main batch
        self.pool = weighted_pool(task.train_examples, config.data.weights, config.seed)
        self.plan = BatchPlan([e.duration for e in self.pool], config.batch_size - self.replay,
                              config.bucket_size, config.seed)
        if self.align_steps:
            self.align_pool = [e for e in task.train_examples if e.task in config.align.tasks]
            if config.align.transcribed:  # the other tasks' clips, heard as ASR (their transcripts as answers)
                self.align_pool += [a for e in task.train_examples if e.task != "asr"
                                    for a in [as_asr_example(e)] if a is not None]
            if not self.align_pool:
                raise ConfigError(f"align.tasks {config.align.tasks}: no such training examples")
            self.align_pool = weighted_pool(self.align_pool, config.align.weights, config.seed, "align.weights")
            self.align_plan = BatchPlan([e.duration for e in self.align_pool],
                                        config.batch_size, config.bucket_size, config.seed)
            self.ctc_pool, self.ctc_plan = self.align_pool, self.align_plan
            if config.align.ctc_steps and any(e.task != "asr" for e in self.align_pool):
                self.ctc_pool = [e for e in self.align_pool if e.task == "asr"]
                self.ctc_plan = BatchPlan([e.duration for e in self.ctc_pool],
                                          config.batch_size, config.bucket_size, config.seed)
        self.ctc_steps = config.align.ctc_steps

    def batch(self, step: int) -> list:
        """The global batch of examples for optimiser step `step` (0-based); a pure function of it."""
        if step < self.ctc_steps:
            return [self.ctc_pool[i] for i in self.ctc_plan.batch(step)]
        if step < self.align_steps:
            return [self.align_pool[i] for i in self.align_plan.batch(step)]
        step -= self.align_steps  # the main phase starts its own epochs at its first step
        examples = [self.pool[i] for i in self.plan.batch(step)]
        if self.replay:
            picks = replay_indices(step, self.replay, len(self.task.text_examples), self.seed)
            examples += [self.task.text_examples[i] for i in picks]
        return examples


def _count_labels(batch: dict) -> int:
    """Answer tokens the loss is summed over (next-token positions with a label)."""
    return int((batch["labels"][:, 1:] != -100).sum())


def _one_step(task: Task, model, batches: list[dict], dist: Distributed, autocast, phase: str) -> tuple[float, int]:
    """Forward and backward over this process's micro-batches; returns (global mean loss, global tokens)."""
    local_tokens = sum(_count_labels(batch) for batch in batches)
    global_tokens = int(dist.all_sum(torch.tensor(local_tokens, dtype=torch.float64)).item())
    total = torch.zeros((), dtype=torch.float64)
    for index, batch in enumerate(batches):
        last = index == len(batches) - 1
        sync = nullcontext() if dist.world == 1 or last else model.no_sync()
        with sync, autocast():
            loss_sum = task.loss_sum(model, batch, phase)
        (loss_sum * dist.world / max(global_tokens, 1)).backward()
        total += loss_sum.detach().double().cpu()
    return float(dist.all_sum(total).item()) / max(global_tokens, 1), global_tokens


def _check_same_model(run_dir: Path, config: TrainConfig) -> None:
    """A run resumes only with the model settings it started with: other weights would be loaded into a
    differently built model and the run would silently become another one."""
    saved_path = run_dir / "config.json"
    if config.stage != 2 or not saved_path.is_file():  # stage 1 trains Whisper alone: no AudioLLM settings
        return
    saved = {**SETTINGS_BEFORE_THEY_EXISTED, **json.loads(saved_path.read_text()).get("model", {})}
    now = config_to_dict(config)["model"]
    changed = {key: (saved[key], now[key]) for key in now if key in saved and saved[key] != now[key]}
    if changed:
        fixes = " ".join(f"model.{key}={str(old).lower() if isinstance(old, bool) else old}"
                         for key, (old, _) in changed.items())
        raise ConfigError(f"{run_dir} was started with other model settings "
                          f"({', '.join(f'{k}: {a} then, {b} now' for k, (a, b) in changed.items())}); "
                          f"resume it with {fixes}, or train into a new out folder")


def train(task_factory, config: TrainConfig) -> Path:
    """Run (or resume) the recipe `config` with the stage built by task_factory(config, device, dist)."""
    device = pick_device(config.device)
    if config.threads:
        # On a small shared CPU, two threads spin-waiting on each other can make element-wise ops 100x
        # slower than one thread (measured here: 19.6 ms vs 0.2 ms for a (8, 57, 640) multiply).
        torch.set_num_threads(config.threads)
    dist = setup_distributed(device)
    run_dir = Path(config.out)
    torch.manual_seed(config.seed)
    task: Task = task_factory(config, device, dist)
    model = task.model
    if dist.world > 1:
        # find_unused_parameters: a text-only (replay) micro-batch never reaches the adaptor.
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if device.type == "cuda" else None, find_unused_parameters=True
        )
    optimiser = torch.optim.AdamW(task.parameter_groups(), betas=tuple(config.optim.betas),
                                  weight_decay=config.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, [
        lambda step, group=group.get("name"): learning_rate_factor(step, config, group) for group in optimiser.param_groups
    ])
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint:
        _check_same_model(run_dir, config)
    start = load_checkpoint(checkpoint, task.model, optimiser, scheduler) if checkpoint else 0
    order = DataOrder(task, config)
    pinned = milestones(config)
    trainable = [p for group in optimiser.param_groups for p in group["params"]]
    precision = effective_precision(config, device)
    autocast = _autocast(precision, device)
    if dist.is_main:
        if precision != config.precision:
            print(f"precision={config.precision}: this {device.type} has no fast bfloat16, so the run trains in "
                  f"{precision} (the summary records it)", file=sys.stderr)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config_to_dict(config), indent=2))
    log = (run_dir / "log.jsonl").open("a") if dist.is_main else None
    progress = tqdm(total=config.steps, initial=start, desc="training", disable=not dist.is_main)
    model.train()
    for step in range(start, config.steps):
        began = time.perf_counter()
        micro = share_of(order.batch(step), dist.rank, dist.world, config.grad_accum)
        batches = [{k: v.to(device) for k, v in task.collate(m).items()} for m in micro]
        loaded = time.perf_counter()
        phase = phase_at(step, config)
        loss, tokens = _one_step(task, model, batches, dist, autocast, phase)
        computed = time.perf_counter()
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.optim.clip)
        optimiser.step()
        scheduler.step()
        optimiser.zero_grad(set_to_none=True)
        finished = time.perf_counter()
        progress.update()
        progress.set_postfix(loss=f"{loss:.3f}")
        record = {"step": step + 1, "phase": phase, "loss": loss, "tokens": tokens, "lr": scheduler.get_last_lr()[0],
                  "grad_norm": float(grad_norm), "examples": config.batch_size, "time": time.time(),
                  "seconds": {"data": loaded - began, "forward_backward": computed - loaded, "optimiser": finished - computed}}
        _after_step(task, config, dist, run_dir, step + 1, record, log, optimiser, scheduler, pinned)
    progress.close()
    # A finished run called again (a study rerun) keeps its export: safetensors writes metadata keys in
    # a random order, so the same parts written again are other bytes, and evaluations that key a model by
    # its parts' digest would take it for another model. summary.json is written last: it marks a whole export.
    exported = start >= config.steps and (run_dir / "summary.json").is_file()
    if dist.is_main and not exported:
        model.eval()
        summary = {**task.export(run_dir), "precision": precision}
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        from audiollm.train.plots import plot_run

        plot_run(run_dir)
    if log:
        log.close()
    dist.barrier()
    dist.close()
    return run_dir


def milestones(config: TrainConfig) -> frozenset[int]:
    """Steps whose checkpoints outlive the rolling `keep`: every evaluation and the ends of the CTC and
    alignment phases, so a run's listening can be measured along the way (experiments/listening.py --checkpoint)."""
    evaluations = range(config.eval_every, config.steps + 1, config.eval_every) if config.eval_every else ()
    return frozenset([*evaluations, *(step for step in (config.align.ctc_steps, config.align.steps) if step)])


def _after_step(task, config, dist, run_dir, step, record, log, optimiser, scheduler,
                pinned: frozenset[int]) -> None:
    """Log every step (the curve is the record), evaluate and checkpoint on schedule (main process);
    `pinned` are the milestone steps (see `milestones`), always saved and never rotated out."""
    if dist.is_main and config.eval_every and step % config.eval_every == 0:
        task.model.eval()
        record["eval"] = task.evaluate()
        task.model.train()
    if log is not None:
        log.write(json.dumps(record) + "\n")
        log.flush()
    if config.save_every and step % config.save_every == 0 or step == config.steps or step in pinned:
        if dist.is_main:
            save_checkpoint(run_dir, step, task.model, optimiser, scheduler, pinned=pinned)
    dist.barrier()
