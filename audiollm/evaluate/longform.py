"""A long-audio test set built from a corpus, to show what happens past Whisper's 30 s window.

For each target duration (default 20 s to 10 min, with 28 and 35 s on either side of 30 s), one or
more long ASR and SQA recordings of the test splits' most common language (how they are made:
`audiollm.data.longform`).

The result is an ordinary manifest (`test_longform.jsonl`, split "test_longform") plus its WAV files,
so any model is scored on it the usual way and reports plot WER and answer quality against duration.
Building is deterministic for a given seed; an existing set built with the same settings is reused,
which keeps resumed evaluations consistent.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Sequence

from audiollm.data.longform import FillerPool, long_asr_item, long_sqa_item
from audiollm.data.manifest import is_no_speech, write_manifest
from audiollm.errors import ConfigError
from audiollm.evaluate.data import EvalSet, load_audio

DEFAULT_DURATIONS = (20.0, 28.0, 35.0, 60.0, 120.0, 300.0, 600.0)
MANIFEST_NAME = "test_longform.jsonl"
SPLIT = "test_longform"


def build_longform(sets: Sequence[EvalSet], folder: str | Path, durations: Sequence[float] = DEFAULT_DURATIONS,
                   per_duration: int = 2, seed: int = 0, gap: float = 0.3) -> Path:
    """Write the long-form manifest and audio under `folder`; return the manifest path."""
    folder = Path(folder)
    settings = {"sources": sorted(str(s.path) for s in sets), "durations": list(durations),
                "per_duration": per_duration, "seed": seed, "gap": gap}
    manifest, settings_path = folder / MANIFEST_NAME, folder / "longform.json"
    if manifest.exists() and settings_path.exists() and json.loads(settings_path.read_text()) == settings:
        return manifest
    examples = [e for s in sets for e in s.examples]
    speech = [e for e in examples if e.task == "asr" and not is_no_speech(e) and e.audio_path is not None]
    if not speech:
        raise ConfigError("long-form test needs ASR utterances with audio in the test data")
    language = Counter(e.language for e in speech).most_common(1)[0][0]
    rng = random.Random(seed)
    pool = FillerPool([e for e in speech if e.language == language], rng, gap, reader=load_audio)
    questions = [e for e in examples if e.task == "sqa" and e.audio_path is not None and e.language == language]
    built = []
    for target in durations:
        for index in range(per_duration):
            name = f"longform-asr-{int(target)}s-{index}"
            built.append(long_asr_item(pool, target, name, folder, f"audio/{name}.wav", language, SPLIT))
            if questions:
                name = f"longform-sqa-{int(target)}s-{index}"
                item = long_sqa_item(pool, rng.choice(questions), target, name, folder, f"audio/{name}.wav", SPLIT)
                if item is not None:
                    built.append(item)
    write_manifest(manifest, built)
    settings_path.write_text(json.dumps(settings))
    return manifest
