"""What a run measured, from its log.jsonl and config.json: `audiollm train --summary RUN`.

Step time is the sum of each step's logged data, forward/backward and optimiser seconds, so it does not
count evaluation, checkpoint writing or the time a killed run lost; wall time (from the records' `time`,
logged since 2026-11-27) does. Throughput is global: examples and answer tokens of the whole batch over
all processes. A resumed run logs the steps it repeats twice; the last record of a step is the one kept.
"""

from __future__ import annotations

import json
from pathlib import Path

from audiollm.errors import AudioLLMError

LOSS_WINDOW = 20  # training loss is reported as the mean of this many steps ending at a step


def read_log(run_dir: str | Path) -> tuple[dict[int, dict], int]:
    """{step: last record of that step}, and how many legs (first run + resumes) wrote the log."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        raise AudioLLMError(f"{run_dir} has no log.jsonl: not a training run folder (or it has not logged a step yet)")
    records: dict[int, dict] = {}
    legs, previous = 0, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            step = int(row["step"])
        except (ValueError, KeyError, TypeError) as error:
            raise AudioLLMError(f"{path}, line {number}: not a training record ({error})") from None
        if previous is None or step <= previous:
            legs += 1
        records[step], previous = row, step
    if not records:
        raise AudioLLMError(f"{path} is empty: the run has not logged a step yet")
    return records, legs


def summarise_run(run_dir: str | Path) -> dict:
    """Step time, throughput per phase (ctc / alignment / multitask), loss milestones and evaluations."""
    records, legs = read_log(run_dir)
    config_path = Path(run_dir) / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    align_steps = int(config.get("align", {}).get("steps", 0) or 0)
    steps = sorted(records)
    phases = {"all": steps}
    ctc_steps = int(config.get("align", {}).get("ctc_steps", 0) or 0)
    if ctc_steps and steps[0] <= ctc_steps:  # no decoder pass: far cheaper steps than the rest
        phases["ctc"] = [s for s in steps if s <= ctc_steps]
    if align_steps and steps[0] <= align_steps:
        phases["alignment"] = [s for s in steps if ctc_steps < s <= align_steps]
        phases["multitask"] = [s for s in steps if s > align_steps]
    summary = {
        "run": str(run_dir), "steps_logged": len(steps), "last_step": steps[-1],
        "planned_steps": config.get("steps"), "legs": legs,
        "phases": {name: _throughput(records, chosen) for name, chosen in phases.items() if chosen},
        "loss": {step: _mean_loss(records, step) for step in _loss_milestones(steps, align_steps)},
        "evaluations": {step: records[step]["eval"] for step in steps if "eval" in records[step]},
    }
    times = [records[s]["time"] for s in steps if "time" in records[s]]
    if len(times) == len(steps) and legs == 1:
        summary["wall_minutes"] = (times[-1] - times[0]) / 60
    return summary


def _throughput(records: dict[int, dict], steps: list[int]) -> dict:
    seconds = sum(sum(records[s]["seconds"].values()) for s in steps)
    examples = sum(records[s]["examples"] for s in steps)
    tokens = sum(records[s]["tokens"] for s in steps)
    return {"steps": len(steps), "step_minutes": seconds / 60, "seconds_per_step": seconds / len(steps),
            "examples_per_second": examples / seconds, "answer_tokens_per_second": tokens / seconds}


def _loss_milestones(steps: list[int], align_steps: int) -> list[int]:
    """First step, end of alignment, the step the task mix has arrived, and the last step."""
    wanted = [steps[0], align_steps, align_steps + LOSS_WINDOW, steps[-1]] if align_steps else [steps[0], steps[-1]]
    return sorted({s for s in wanted if s in steps})


def _mean_loss(records: dict[int, dict], step: int) -> float:
    window = [records[s]["loss"] for s in range(step - LOSS_WINDOW + 1, step + 1) if s in records]
    return sum(window) / len(window)


def format_summary(summary: dict) -> str:
    """The summary as the few lines a run record quotes."""
    planned = summary["planned_steps"]
    lines = [f"{summary['run']}: {summary['steps_logged']} steps logged (last {summary['last_step']}"
             f"{f' of {planned}' if planned else ''}), {summary['legs']} leg(s)"]
    if "wall_minutes" in summary:
        lines.append(f"  wall time {summary['wall_minutes']:.1f} min (evaluations and checkpoints included)")
    for name, phase in summary["phases"].items():
        lines.append(f"  {name:<9}  {phase['steps']:>5} steps  {phase['step_minutes']:7.1f} min of step time  "
                     f"{phase['seconds_per_step']:.2f} s/step  {phase['examples_per_second']:.2f} examples/s  "
                     f"{phase['answer_tokens_per_second']:.1f} answer tokens/s")
    losses = ", ".join(f"{loss:.2f} ({step})" for step, loss in summary["loss"].items())
    lines.append(f"  training loss, mean of {LOSS_WINDOW} steps ending at (step): {losses}")
    for step, scores in summary["evaluations"].items():
        shown = ", ".join(f"{key} {value:.3f}" for key, value in scores.items() if isinstance(value, (int, float)))
        lines.append(f"  eval at {step}: {shown}")
    return "\n".join(lines)
