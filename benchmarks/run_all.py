"""Run the CPU benchmarks and rewrite benchmarks/RESULTS.md (what `make bench` does).

    python benchmarks/run_all.py                  # everything, about 12-15 minutes on a 2-core CPU
    python benchmarks/run_all.py --quick          # smaller runs of every script, a few minutes
    python benchmarks/run_all.py --only features,generation
    python benchmarks/run_all.py --gpu-json gpu.json --only none   # put GPU numbers into RESULTS.md

Each script runs in its own process (so one model's memory and thread settings never leak into the
next), with --json into a temporary folder; its output streams to this terminal. A script that fails
or runs past the time budget is named in RESULTS.md and the rest still run; scripts not run this time
(--only) keep their previous numbers, read back from benchmarks/results.json (written beside RESULTS.md).
Torch threads are "auto" (the cores not already busy, see audiollm.api.cpu_threads), recorded with
every number.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import render

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
NUMBERS = HERE / "results.json"  # the same numbers, machine-readable; partial runs (--only) read it back

# (name, arguments for the full run, arguments for --quick); order = priority under the time budget.
PLAN = [
    ("features", ["--repeats", "2", "--threads", "auto"], ["--repeats", "1", "--threads", "auto"]),
    ("generation", ["--repeats", "2", "--threads", "auto"],
     ["--repeats", "1", "--new-tokens", "9", "--skip-bf16", "--threads", "auto"]),
    ("end_to_end", ["--repeats", "2", "--threads", "auto"], ["--repeats", "1", "--quick", "--threads", "auto"]),
    ("training", ["--steps", "2", "--stage1", "--threads", "auto"], ["--steps", "1", "--batch-size", "2", "--threads", "auto"]),
    ("encoding", ["--repeats", "2", "--threads", "auto"], ["--repeats", "1", "--threads", "auto"]),
    ("quantization", ["--clips", "4", "--threads", "auto"], ["--clips", "2", "--skip-bf16", "--threads", "auto"]),
]


def run_script(name: str, arguments: list[str], json_path: Path, timeout: float) -> str | None:
    """Run one benchmark; returns None on success, else why it did not finish."""
    command = [sys.executable, str(HERE / f"{name}.py"), *arguments, "--json", str(json_path)]
    print(f"\n=== {name}: {' '.join(command[1:])} (time left {timeout / 60:.1f} min)", flush=True)
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, timeout=max(timeout, 1), cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return f"{name} (stopped at the time budget)"
    print(f"=== {name} took {time.perf_counter() - started:.0f} s", flush=True)
    if completed.returncode != 0 or not json_path.is_file():
        return f"{name} (exit code {completed.returncode})"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated script names, or 'none'")
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="stop starting scripts after this")
    parser.add_argument("--gpu-json", default=None, help="a gpu_meralion.py --json file for the GPU section")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    chosen = None if args.only is None else set(filter(None, args.only.split(",")))
    out = Path(args.out)
    numbers = out.with_name(NUMBERS.name) if out != RESULTS else NUMBERS
    existing = out.read_text() if out.is_file() else None
    payloads = {p["script"]: p for p in previous_payloads(numbers)}  # scripts not run now keep their numbers
    deadline = time.perf_counter() + 60 * args.budget_minutes
    failures = []
    with tempfile.TemporaryDirectory(prefix="audiollm-bench-") as scratch:
        for name, full, quick in PLAN:
            if chosen is not None and name not in chosen:
                continue
            arguments = quick if args.quick else full
            left = deadline - time.perf_counter()
            if left < 30:
                failures.append(f"{name} (not started: time budget spent)")
                continue
            json_path = Path(scratch) / f"{name}.json"
            failure = run_script(name, arguments, json_path, left)
            if failure:
                failures.append(failure)
                continue
            payload = json.loads(json_path.read_text())
            payload["run_command"] = " ".join(["python", f"benchmarks/{name}.py", *arguments])
            payloads[name] = payload
    ordered = [payloads[name] for name, _, _ in PLAN if name in payloads]
    gpu = json.loads(Path(args.gpu_json).read_text()) if args.gpu_json else None
    out.write_text(render(ordered, existing, gpu, failures))
    numbers.write_text(json.dumps(ordered, indent=1) + "\n")
    print(f"\nwrote {out}" + (f"; not finished: {', '.join(failures)}" if failures else ""))


def previous_payloads(numbers: Path) -> list[dict]:
    """The results of the last run (results.json), so a partial run (--only) keeps the others."""
    try:
        return json.loads(numbers.read_text())
    except (OSError, ValueError):
        return []


if __name__ == "__main__":
    main()
