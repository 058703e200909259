"""Training recordings that fill one encoder window: one voice's clips joined to 20-29.5 s.

Why: the corpus's ASR clips are short (median 6 s, almost none past 20 s), but real recordings cut into
windows at pauses fill them, 25-30 s each. A model that only ever copied short transcripts drops and
rewrites runs of a long one (docs/training.md, "Where the real-speech gap is"). These recordings give the
decoder whole windows to copy. Unlike train_long (35-120 s, several windows), each stays inside one window.

Each recording joins clips of one language and one voice (real long recordings are one person), drawn
from the given manifests' ASR clips; the reference is their transcripts joined in order. The result is
`out/train_full_window.jsonl` (split "train_full_window", audio under out/audio/train_full_window/); a build
with the same settings is reused, and the manifest is written last, so an interrupted build simply reruns.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from audiollm.data.conventions import FULL_WINDOW_SPLIT as SPLIT
from audiollm.data.longform import SAMPLE_RATE, FillerPool, voices_of, write_audio
from audiollm.data.manifest import Example, is_no_speech, read_manifest, write_manifest
from audiollm.errors import ConfigError

MANIFEST = "train_full_window.jsonl"
SECONDS = (20.0, 29.5)  # a recording's length: most of a window, never past its 30 s edge
MIN_VOICE_CLIPS = 8  # a voice with fewer ASR clips is left out: it could not fill many windows without repeats


def _pools_by_voice(examples: Sequence[Example], rng: random.Random, gap: float) -> dict[tuple[str, str], FillerPool]:
    """One pool per (language, voice) of single-speaker ASR clips with audio and speech."""
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in examples:
        if (example.task == "asr" and example.audio is not None and not is_no_speech(example)
                and len(example.speakers) == 1):
            groups[(example.language, example.speakers[0].get("speaker", ""))].append(example)
    return {key: FillerPool(clips, rng, gap) for key, clips in sorted(groups.items()) if len(clips) >= MIN_VOICE_CLIPS}


def build_full_window_training(sources: Sequence[str | Path], out: str | Path, hours: float, seed: int = 0,
                               gap: float = 0.3, seconds: tuple[float, float] = SECONDS) -> Path:
    """Write `hours` of one-window ASR recordings joined from the ASR clips of the `sources` manifests.

    Voices are drawn in proportion to their number of clips, so languages and sources keep their share.
    """
    out = Path(out)
    low, high = seconds
    if hours <= 0:
        raise ConfigError(f"full-window training audio needs hours > 0, got {hours}")
    if not 0 < low <= high <= 30.0:
        raise ConfigError(f"full-window recordings must fit one 30 s window: got {low}-{high} s")
    settings = {"sources": [str(s) for s in sources], "hours": hours, "seed": seed, "gap": gap, "seconds": [low, high]}
    manifest, settings_path = out / MANIFEST, out / "train_full_window.json"
    if manifest.exists() and settings_path.exists() and json.loads(settings_path.read_text()) == settings:
        return manifest
    rng = random.Random(seed)
    pools = _pools_by_voice([e for source in sources for e in read_manifest(source)], rng, gap)
    if not pools:
        raise ConfigError(f"{', '.join(map(str, sources))}: no voice with {MIN_VOICE_CLIPS}+ ASR clips to join")
    keys = list(pools)
    sizes = [len(pools[key].examples) for key in keys]
    built, total, budget, empty = [], 0.0, hours * 3600, 0
    while total < budget:
        language, _ = key = rng.choices(keys, sizes)[0]
        parts = pools[key].fill_within(rng.uniform(low, high), high)
        if not parts:  # this voice's clips are all longer than `high`: draw another
            empty += 1
            if empty > 1000:
                raise ConfigError(f"no clips short enough to fit {high} s windows in {', '.join(map(str, sources))}")
            continue
        name = f"window-{len(built):05d}-{language}-asr"
        relative = f"audio/{SPLIT}/{name}.flac"
        audio = pools[key].join([pools[key].audio(e) for e in parts])
        write_audio(out / relative, audio)
        built.append(Example(id=name, task="asr", instruction=parts[0].instruction,
                             answer=" ".join(e.answer.strip() for e in parts), audio=relative,
                             duration=len(audio) / SAMPLE_RATE, language=language, split=SPLIT,
                             speakers=voices_of(parts), meta={"full_window": True, "parts": [e.id for e in parts]}))
        total += built[-1].duration
    write_manifest(manifest, built)
    settings_path.write_text(json.dumps(settings))
    return manifest
