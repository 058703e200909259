"""Rendering one planned example: speech synthesis, augmentation, a FLAC file and its manifest row.

Each example is written as `<out>/audio/<split>/<task>/<id>.flac` plus a sidecar `<id>.json` holding
the manifest row and the spec hash. Both are written to a temporary name and renamed, the FLAC first,
so a sidecar whose hash matches the plan means the example is complete: an interrupted build resumes
by skipping those (`is_done`). Real-speech items (`spec["real"]`) are rendered by `real_speech.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from audiollm.data.augment import SAMPLE_RATE, apply_augment, no_speech_audio
from audiollm.data.tts import encode_flac, synthesize
from audiollm.data.voices import voice_table

BABBLE_FILE = "_work/babble.npy"
_STATE: dict = {}


def spec_hash(spec: dict) -> str:
    """A short content hash of a spec: a rendered file is reused only if its spec hash matches."""
    blob = json.dumps({k: v for k, v in spec.items() if k != "hash"}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def paths_for(out: Path, spec: dict) -> tuple[Path, Path]:
    """(audio path, sidecar path) of an example."""
    folder = out / "audio" / spec["split"] / spec["task"]
    return folder / f"{spec['id']}.flac", folder / f"{spec['id']}.json"


def is_done(out: Path, spec: dict) -> bool:
    """True when the example's FLAC and a sidecar with the same spec hash exist."""
    audio, sidecar = paths_for(out, spec)
    if not (audio.exists() and sidecar.exists()):
        return False
    try:
        return json.loads(sidecar.read_text(encoding="utf-8")).get("hash") == spec["hash"]
    except (OSError, json.JSONDecodeError):
        return False


def load_row(out: Path, spec: dict) -> dict | None:
    """The manifest row stored in an example's sidecar (None if missing)."""
    sidecar = paths_for(out, spec)[1]
    if not sidecar.exists():
        return None
    return json.loads(sidecar.read_text(encoding="utf-8"))["row"]


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to `path` via a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def init_worker(out: str) -> None:
    """Per-process set-up: the voice table and the babble bank (loaded once, not per example)."""
    _STATE["voices"] = voice_table()
    bank_path = Path(out) / BABBLE_FILE
    _STATE["bank"] = np.load(bank_path) if bank_path.exists() else None
    _STATE["out"] = Path(out)


def speech_audio(spec: dict) -> np.ndarray:
    """Synthesize every segment of a spec and join them with their pauses."""
    voices = _STATE.get("voices") or voice_table()
    pieces = []
    for segment in spec["segments"]:
        voice = voices[segment["voice"]]
        pieces.append(synthesize(voice, segment["text"], segment["language"], segment["speed"], segment["pitch"]))
        pieces.append(np.zeros(int(segment["pause"] * SAMPLE_RATE), dtype=np.float32))
    if spec["segments"]:
        pieces.pop()  # no pause after the last segment: the padding comes from augmentation
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def example_row(spec: dict, duration: float) -> dict:
    """The manifest row (the Example fields) of a rendered example."""
    audio_rel = f"audio/{spec['split']}/{spec['task']}/{spec['id']}.flac"
    meta = dict(spec["meta"])
    if spec.get("augment"):
        meta["augment"] = {k: v for k, v in spec["augment"].items() if k != "seed"}
    return {"id": spec["id"], "task": spec["task"], "instruction": spec["instruction"], "answer": spec["answer"],
            "audio": audio_rel, "duration": duration, "language": spec["language"], "split": spec["split"],
            "speakers": spec["speakers"], "meta": meta}


def render_spec(spec: dict) -> dict:
    """Render one synthetic example to disk; returns its manifest row. Raises AudioError on TTS failure."""
    out = _STATE["out"]
    if spec.get("no_speech"):
        audio = no_speech_audio(spec["no_speech"]["kind"], spec["no_speech"]["seconds"], spec["augment"]["seed"])
    else:
        audio = apply_augment(speech_audio(spec), spec["augment"], _STATE.get("bank"))
    data = encode_flac(audio)
    row = example_row(spec, round(len(audio) / SAMPLE_RATE, 4))
    audio_path, sidecar = paths_for(out, spec)
    write_atomic(audio_path, data)
    write_atomic(sidecar, json.dumps({"hash": spec["hash"], "row": row}, ensure_ascii=False).encode("utf-8"))
    return row
