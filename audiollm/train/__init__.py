"""Training: the two-stage recipe (stage 1: Whisper ASR fine-tuning; stage 2: instruction tuning)."""

from __future__ import annotations

from pathlib import Path


def run_training(config_path: str | None, overrides: list[str] = ()) -> Path:
    """Load a recipe, pick its stage, run (or resume) it; returns the run folder."""
    from audiollm.train.config import load_train_config
    from audiollm.train.loop import train

    config = load_train_config(config_path, overrides)
    if config.stage == 1:
        from audiollm.train.stage1 import WhisperFineTuning as task_factory
    else:
        from audiollm.train.stage2 import InstructionTuning as task_factory
    return train(task_factory, config)
