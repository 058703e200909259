"""Shared pieces of the benchmark scripts: side-by-side timing, machine facts, bandwidth, result rows.

Every benchmark here compares things measured in the same process, alternating A, B, A, B, ... and
keeping the best of N: on a shared machine the minimum is what the code can do, the median mostly
measures the neighbours. The machine load (`uptime`) is recorded before and after each script, so a
reader can tell a quiet run from a noisy one. Nothing is asserted; scripts print and record ratios.

Result rows are plain dicts written as JSON (`--json PATH`), which `run_all.py` turns into RESULTS.md:
    {"section": ..., "case": ..., "values": {name: number}, "ratio": number or None,
     "ratio_label": "what the ratio is", "command": "how to reproduce this row", "note": ...}
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (or the platform string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """What the numbers came from: CPU, cores, memory, library versions, torch threads, load."""
    import torch
    import transformers

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": round(memory, 1),
        "isa": torch.backends.cpu.get_cpu_capability() + (" + VNNI" if _has_flag("vnni") else ""),
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(), "load_average": load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def _has_flag(fragment: str) -> bool:
    """True if a CPU flag containing `fragment` is listed in /proc/cpuinfo."""
    try:
        return fragment in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def apply_threads(value: str | None) -> int:
    """Set torch's CPU threads from a --threads flag (a number, "auto", or None for torch's default)
    through audiollm.api.cpu_threads; returns the count in effect."""
    import torch

    from audiollm.api import cpu_threads

    count = cpu_threads(int(value) if value and value.isdigit() else value)
    if count:
        torch.set_num_threads(count)
    return torch.get_num_threads()


def best_of(functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
            sync: Callable[[], None] | None = None) -> tuple[dict[str, float], dict[str, object]]:
    """Best-of-`repeats` seconds of each named function, and each one's last result.

    The functions run in turn (A, B, A, B, ...) after `warmup` calls each, so they share the same
    background load; `sync` (e.g. torch.cuda.synchronize) runs before and after each timed call.
    """
    results = {}
    for name, function in functions.items():
        for _ in range(warmup):
            results[name] = function()
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            if sync:
                sync()
            start = time.perf_counter()
            results[name] = function()
            if sync:
                sync()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def copy_bandwidth_gbs(megabytes: int = 512, repeats: int = 10) -> float:
    """Measured memory bandwidth of a large tensor copy in GB/s, counting bytes read plus bytes written
    (the STREAM "copy" convention). The buffers are far larger than the caches, and the destination
    exists before timing, so page faults are not measured."""
    import torch

    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    target.copy_(source)
    best = min(_timed(lambda: target.copy_(source)) for _ in range(repeats))
    return 2 * source.numel() * 4 / best / 1e9


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def command_line() -> str:
    """This script's command line, relative to the repository root, for the "reproduce" column
    (without --json, which only says where run_all.py collects the numbers)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    arguments, skip = [], False
    for argument in sys.argv[1:]:
        if skip or argument == "--json" or argument.startswith("--json="):
            skip = argument == "--json"
            continue
        arguments.append(argument)
    return " ".join(["python", str(script), *map(shlex.quote, arguments)])


def row(section: str, case: str, values: dict, ratio: float | None = None, ratio_label: str = "",
        command: str | None = None, note: str = "") -> dict:
    """One result row (see the module docstring)."""
    return {"section": section, "case": case, "values": values, "ratio": ratio, "ratio_label": ratio_label,
            "command": command or command_line(), "note": note}


class Results:
    """Rows of one script plus the machine facts around them; written as JSON at the end."""

    def __init__(self, script: str, json_path: str | None):
        self.script = script
        self.json_path = json_path
        self.rows: list[dict] = []
        self.targets: list[dict] = []
        self.load_before = load_average()

    def add(self, result_row: dict) -> dict:
        self.rows.append(result_row)
        return result_row

    def target(self, name: str, measured: str, ratio: float | None, goal: float, met: bool | None) -> None:
        """Record one of the issue's targets: the ratio measured, the goal, and whether it was met."""
        self.targets.append({"target": name, "measured": measured, "ratio": ratio, "goal": goal, "met": met})
        verdict = "met" if met else ("not met" if met is not None else "n/a")
        print(f"TARGET {name}: {measured} -> {verdict}")

    def write(self) -> None:
        """Write the JSON (if asked for) with the machine facts and the load before and after."""
        if not self.json_path:
            return
        payload = {"script": self.script, "machine": machine_info(), "load_before": self.load_before,
                   "load_after": load_average(), "rows": self.rows, "targets": self.targets}
        Path(self.json_path).write_text(json.dumps(payload, indent=2))


def print_table(headers: list[str], lines: list[list], widths: list[int] | None = None) -> None:
    """A fixed-width text table on stdout (numbers are formatted by the caller)."""
    widths = widths or [max(len(str(h)), *(len(str(line[i])) for line in lines)) for i, h in enumerate(headers)]
    print("  ".join(str(h).rjust(w) for h, w in zip(headers, widths)))
    for line in lines:
        print("  ".join(str(cell).rjust(w) for cell, w in zip(line, widths)))
