"""Training checkpoints: written atomically, resumed exactly.

A checkpoint folder `step-000200/` holds the trainable parameters (`trainable.safetensors`), the
optimiser and scheduler state, every RNG state (python, numpy, torch, cuda) and the step number. The
data position is the step itself (see train/data.py). Each is written into a temporary folder that is
renamed into place, so a run killed mid-save leaves the previous checkpoint intact and never a
half-written one.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

_PREFIX = "step-"


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.random.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, optimiser, scheduler, keep: int = 2,
                    pinned: frozenset[int] = frozenset()) -> Path:
    """Write checkpoint `step` under run_dir/checkpoints atomically; keep the newest `keep` and every
    pinned step (milestones such as the evaluation steps, kept to be examined after the run)."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    trainable = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    save_file(trainable, staging / "trainable.safetensors")
    torch.save({"optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(), "rng": _rng_state()},
               staging / "state.pt")
    (staging / "step.json").write_text(json.dumps({"step": step}))
    final = root / f"{_PREFIX}{step:07d}"
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in sorted(root.glob(f"{_PREFIX}*"))[:-keep]:
        if int(old.name[len(_PREFIX):]) not in pinned:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None (partial folders are ignored)."""
    root = Path(run_dir) / "checkpoints"
    complete = [p for p in sorted(root.glob(f"{_PREFIX}*")) if (p / "step.json").is_file()]
    return complete[-1] if complete else None


def load_checkpoint(path: Path, model: torch.nn.Module, optimiser, scheduler) -> int:
    """Restore parameters, optimiser, scheduler and RNG from `path`; returns the step to continue from."""
    tensors = load_file(path / "trainable.safetensors")
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            parameters[name].copy_(value)
    state = torch.load(path / "state.pt", weights_only=False)
    optimiser.load_state_dict(state["optimiser"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return json.loads((path / "step.json").read_text())["step"]
