"""Corpus manifests: one JSON object per line, one example per object.

The schema is shared by the corpus tool (writes it), training (reads it) and evaluation (reads it):

    id           unique string
    audio        path to the audio file, relative to the manifest's folder (None for text-only examples)
    duration     seconds of audio (0.0 for text-only)
    task         one of TASKS
    language     language spoken in the audio ("en", "zh", "ms", "ta", ...)
    instruction  the text instruction given with the audio
    answer       the reference answer
    split        "train", "dev", or a test part such as "test_unseen_voice"
    speakers     list of {"engine", "voice", "speaker", "gender", ...} dicts, one per voice heard
    meta         free-form dict (target_language for ST, label and choices for PARA, transcript, ...)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from audiollm.errors import ConfigError

TASKS = ("asr", "st", "sqa", "sds", "si", "para", "text")


@dataclass
class Example:
    """One manifest line. `audio_path` resolves `audio` against the manifest folder."""

    id: str
    task: str
    instruction: str
    answer: str
    audio: str | None = None
    duration: float = 0.0
    language: str = "en"
    split: str = "train"
    speakers: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    root: Path | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"example {self.id!r}: unknown task {self.task!r}; expected one of {TASKS}")

    @property
    def audio_path(self) -> Path | None:
        if self.audio is None:
            return None
        path = Path(self.audio)
        return path if path.is_absolute() or self.root is None else self.root / path

    def to_json(self) -> str:
        row = asdict(self)
        row.pop("root")
        return json.dumps(row, ensure_ascii=False)


def is_no_speech(example: Example) -> bool:
    """Silence/noise clips (meta no_speech): their answer says there is no speech."""
    return bool(example.meta.get("no_speech"))


def read_manifest(path: str | Path) -> list[Example]:
    """Read a JSONL manifest; audio paths resolve relative to its folder. Bad lines raise ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"manifest not found: {path}")
    examples = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                examples.append(Example(**row, root=path.parent))
            except (json.JSONDecodeError, TypeError) as error:
                raise ConfigError(f"{path}:{line_number}: not a valid manifest line ({error})") from None
    return examples


def write_manifest(path: str | Path, examples: Iterable[Example]) -> None:
    """Write examples as JSONL atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(example.to_json() + "\n")
    temporary.replace(path)
