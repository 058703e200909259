"""Test sets for evaluation: where examples come from, their audio, and the subsets they report in.

`load_eval_set(path)` accepts
- a JSONL manifest in the corpus schema (`audiollm.data.manifest`);
- a corpus folder: every `test*.jsonl` manifest inside it;
- a local Hugging Face dataset folder in AudioBench's column layout (`context` audio, `instruction`,
  `answer`, optional `choices`), saved with `save_to_disk` or as parquet/arrow files. Its task comes
  from a `task` column or the `task` argument.

Audio is read only when a batch needs it (`load_audio`), as 16 kHz mono float32.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiollm.data.manifest import TASKS, Example, read_manifest
from audiollm.errors import AudioError, ConfigError

SAMPLE_RATE = 16000
# Instructions used when an AudioBench-layout row has none (its ASR sets pick a generic line).
DEFAULT_INSTRUCTIONS = {
    "asr": "Please transcribe this speech.",
    "si": "Please follow the instruction in the speech.",
    "sds": "Please summarize this spoken dialogue.",
}
# Readable names of the corpus test splits, used as subset rows in reports.
SPLIT_NAMES = {
    "test_seen": "seen voices",
    "test_unseen_voice": "unseen voices",
    "test_unseen_template": "unseen templates",
    "test_real": "real speech",
    "test_open_text": "open text",
    "test_open_passages": "open passages",
    "test_longform": "long-form",
    "test_text": "general text",
}


@dataclass
class EvalSet:
    """Examples from one source; `name` prefixes example keys so two sources may reuse ids."""

    name: str
    path: Path
    examples: list[Example]


def load_eval_set(path: str | Path, task: str | None = None) -> list[EvalSet]:
    """Read one `--data` argument into one or more EvalSets (a corpus folder gives several)."""
    path = Path(path)
    if path.is_file():
        return [EvalSet(path.stem, path, read_manifest(path))]
    if not path.is_dir():
        raise ConfigError(f"test data not found: {path}; pass a manifest .jsonl, a corpus folder or "
                          "a Hugging Face dataset folder")
    manifests = sorted(path.glob("test*.jsonl"))
    if manifests:
        return [EvalSet(m.stem, m, read_manifest(m)) for m in manifests]
    if any((path / name).exists() for name in ("state.json", "dataset_dict.json")) or \
            any(path.rglob("*.parquet")) or any(path.rglob("*.arrow")):
        return [EvalSet(path.name, path, _read_hf_folder(path, task))]
    raise ConfigError(f"{path} holds no test*.jsonl manifest and no Hugging Face dataset files")


def _open_hf_folder(path: Path):
    """A `datasets.Dataset` from a save_to_disk folder or from parquet/arrow files."""
    import datasets

    if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
        loaded = datasets.load_from_disk(str(path))
    else:
        kind = "parquet" if any(path.rglob("*.parquet")) else "arrow"
        files = sorted(str(p) for p in path.rglob(f"*.{kind}"))
        loaded = datasets.load_dataset(kind, data_files=files, split="train")
    if isinstance(loaded, datasets.DatasetDict):
        split = "test" if "test" in loaded else next(iter(loaded))
        loaded = loaded[split]
    if "context" not in loaded.column_names or "answer" not in loaded.column_names:
        raise ConfigError(f"{path}: expected AudioBench columns 'context' and 'answer', "
                          f"found {loaded.column_names}")
    # Keep encoded bytes: decoding through datasets needs torchcodec; soundfile reads them below.
    if isinstance(loaded.features["context"], datasets.Audio):
        loaded = loaded.cast_column("context", datasets.Audio(decode=False))
    return loaded


def _text(value) -> str:
    """AudioBench columns are plain strings, or {"text": ...} dicts in older uploads."""
    if isinstance(value, dict):
        value = value.get("text")
    return "" if value is None else str(value)


def _read_hf_folder(path: Path, task: str | None) -> list[Example]:
    """Examples from an AudioBench-layout dataset; audio stays in the dataset until needed."""
    dataset = _open_hf_folder(path)
    examples = []
    for index, row in enumerate(dataset):
        row_task = (row.get("task") or task or "").lower()
        if row_task not in TASKS:
            raise ConfigError(f"{path}: task unknown for row {index}; pass --task with one of "
                              f"{[t for t in TASKS if t != 'text']}")
        instruction = _text(row.get("instruction")) or DEFAULT_INSTRUCTIONS.get(row_task, "")
        meta: dict = {"hf_row": index}
        if row.get("choices"):
            # AudioBench's multiple-choice prompt layout, spaces included.
            instruction = f"Question:\n{instruction}\n Choices:\n{_text(row['choices'])}"
            meta["choices_text"] = _text(row["choices"])
        if isinstance(row.get("other_attributes"), dict):
            meta["other_attributes"] = row["other_attributes"]
        example = Example(id=f"{index:06d}", task=row_task, instruction=instruction,
                          answer=_text(row["answer"]), audio=None, split="test",
                          language=str(row.get("language") or "en"), meta=meta, root=path)
        examples.append(example)
    return examples


def _decode(data: bytes | str | Path) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
        samples, rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(f"cannot read audio {data if not isinstance(data, bytes) else '<bytes>'}: "
                         f"{error}; use WAV/FLAC/OGG files") from None
    return samples, rate


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Downmix (frames, channels) to mono and resample to 16 kHz (soxr, high quality)."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


# Opened HF folders: a cache filled on first use, never at import.
_HF_CACHE: dict[Path, object] = {}


def _hf_cache(path: Path):
    """Open each HF folder once per process; rows are then read lazily by index."""
    if path not in _HF_CACHE:
        _HF_CACHE[path] = _open_hf_folder(path)
    return _HF_CACHE[path]


def _hf_audio(example: Example) -> np.ndarray:
    """Audio of an AudioBench-layout row: encoded bytes, a path, or an already decoded array."""
    dataset = _hf_cache(example.root)
    value = dataset[example.meta["hf_row"]]["context"]
    if isinstance(value, dict) and "audio" in value and "bytes" not in value:
        value = value["audio"]  # older nested layout {"text": ..., "audio": {...}}
    if isinstance(value, dict) and value.get("array") is not None:
        return to_mono_16k(np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"]))
    if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
        return to_mono_16k(*_decode(value.get("bytes") or value["path"]))
    raise AudioError(f"{example.root}: row {example.meta['hf_row']} has no readable 'context' audio")


def load_audio(example: Example) -> np.ndarray | None:
    """16 kHz mono float32 samples of an example (None for text-only examples)."""
    if "hf_row" in example.meta:
        return _hf_audio(example)
    if example.audio_path is None:
        return None
    if not example.audio_path.is_file():
        raise AudioError(f"example {example.id!r}: audio file not found: {example.audio_path}")
    return to_mono_16k(*_decode(example.audio_path))


def target_language(example: Example) -> str | None:
    """The language an answer is written in: ST's target, else the spoken language."""
    return example.meta.get("target_language") or example.language


def subsets_of(example: Example, source: str) -> list[str]:
    """Report rows this example counts in: all, its split, its language (pair for ST), the attribute a
    PARA question asks about, its source."""
    rows = ["all", f"split: {SPLIT_NAMES.get(example.split, example.split)}"]
    if example.task == "para" and example.meta.get("attribute"):
        rows.append(f"attribute: {example.meta['attribute']}")
    if example.task == "st":
        source_language = example.meta.get("source_language") or example.language
        rows.append(f"lang: {source_language}→{target_language(example)}")
    else:
        rows.append(f"lang: {example.language}")
    rows.append(f"set: {source}")
    return rows
