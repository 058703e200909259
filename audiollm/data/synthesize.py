"""`build_corpus`: plan, render in a process pool (resumable), gather real speech, write manifests + summary.

Output layout (paths in manifests are relative to `out`):

    out/train.jsonl dev.jsonl test_seen.jsonl test_unseen_voice.jsonl test_unseen_template.jsonl test_real.jsonl
    (+ test_open_text.jsonl, and open-text rows in train.jsonl, with --open-text-hours; see open_text.py)
    (+ train_open_passages.jsonl, test_open_passages.jsonl: 2-4 such sentences in one reading, with
     --open-passage-hours)
    (+ train_neural_voice.jsonl: those sentences and passages read by neural voices, with --neural-voice-hours)
    (+ train_long.jsonl, recordings of 35-120 s joined from train clips, with --long-hours; see longform.py)
    (+ train_full_window.jsonl, one voice's ASR clips joined to 20-29.5 s, with --full-window-hours; full_window.py)
    out/audio/<split>/<task>/<id>.flac (+ <id>.json sidecars used for resuming)
    out/summary.json, out/plan.json (the arguments the plan came from), out/_work/babble.npy
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from audiollm.data import render
from audiollm.data.casting import Caster
from audiollm.data.conventions import FULL_WINDOW_DEFAULT_SOURCES, SPLITS, SYNTHETIC_SPLITS
from audiollm.data.full_window import build_full_window_training
from audiollm.data.longform import build_long_training
from audiollm.data.manifest import Example, write_manifest
from audiollm.data.open_text import NEURAL_VOICE_SPLIT, PASSAGE_SPLITS, plan_neural_voice, plan_open_passages, plan_open_text
from audiollm.data.plan import plan_corpus
from audiollm.data.real_speech import plan_real, render_real
from audiollm.data.summary import format_summary, summarize
from audiollm.data.textgen import TextSampler
from audiollm.data.tts import synthesize
from audiollm.data.voices import DEFAULT_NEURAL_SPEAKERS, available_voices
from audiollm.errors import AudioError, ConfigError

BABBLE_SENTENCES = 40


@dataclass
class BuildRequest:
    """What to build: the CLI's arguments."""

    out: Path
    hours: float = 1.0
    seed: int = 0
    workers: int = 2
    tasks: tuple | None = None
    languages: tuple | None = None
    synthetic: bool = True
    real: bool = True
    real_limit: int | None = None
    open_text_hours: float = 0.0
    open_passage_hours: float = 0.0
    neural_voice_hours: float = 0.0
    neural_voices: tuple = DEFAULT_NEURAL_SPEAKERS  # speakers (voices.NEURAL_VOICES) that read them
    long_hours: float = 0.0
    full_window_hours: float = 0.0
    full_window_from: tuple = FULL_WINDOW_DEFAULT_SOURCES  # training splits whose clips are joined
    progress: bool = True


def ensure_babble_bank(out: Path, seed: int) -> None:
    """Write `_work/babble.npy`: ~2-3 minutes of multilingual speech from seen voices, for babble noise."""
    path = out / render.BABBLE_FILE
    if path.exists():
        return
    rng = random.Random(f"{seed}:babble")
    sampler, caster = TextSampler(rng), Caster(rng, seen=True)
    voices = [v for v in available_voices() if v.seen and v.engine in ("espeak", "mbrola")]
    languages = sorted({v.language for v in voices})
    if not languages:
        return
    pieces = []
    for _ in range(BABBLE_SENTENCES):
        language = rng.choice(languages)
        filled = sampler.sentence((language,))
        voice = caster.pick(language, engines=("espeak", "mbrola"))
        audio = synthesize(voice, filled.texts[language], language, rng.uniform(0.85, 1.1), rng.randint(30, 70))
        pieces.append(audio / (np.sqrt(np.mean(audio**2)) + 1e-9) * 0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.concatenate(pieces).astype(np.float32))


def _render_safely(spec: dict) -> tuple[str, dict | None, str | None]:
    """Pool task: render one spec; a TTS failure skips the example instead of stopping the build."""
    try:
        if "real" in spec:
            return spec["id"], render_real(spec, render._STATE["out"]), None
        return spec["id"], render.render_spec(spec), None
    except (AudioError, OSError, ValueError) as error:
        return spec["id"], None, f"{spec['id']}: {error}"


def _run_pool(specs: list[dict], request: BuildRequest) -> list[str]:
    """Render every spec not yet done; returns error messages for the ones that failed."""
    pending = [s for s in specs if not render.is_done(request.out, s)]
    errors: list[str] = []
    if not pending:
        return errors
    bar = tqdm(total=len(pending), desc="synth", unit="ex", disable=not request.progress, file=sys.stderr)
    if request.workers <= 1:
        render.init_worker(str(request.out))
        results = map(_render_safely, pending)
        pool = None
    else:
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        pool = context.Pool(request.workers, initializer=render.init_worker, initargs=(str(request.out),))
        results = pool.imap_unordered(_render_safely, pending, chunksize=4)
    try:
        for _, _, error in results:
            if error:
                errors.append(error)
            bar.update(1)
    except BaseException:
        if pool is not None:  # Ctrl-C or a crash: stop the workers; finished files stay valid
            pool.terminate()
            pool.join()
        raise
    finally:
        bar.close()
    if pool is not None:
        pool.close()
        pool.join()
    return errors


def _write_manifests(out: Path, specs: list[dict], splits) -> None:
    """Collect rows from the sidecars in plan order and write one JSONL manifest per split in `splits`."""
    rows_by_split: dict[str, list[dict]] = {split: [] for split in splits}
    for spec in specs:
        row = render.load_row(out, spec) if render.is_done(out, spec) else None
        if row is not None:
            rows_by_split[spec["split"]].append(row)
    for split, rows in rows_by_split.items():
        write_manifest(out / f"{split}.jsonl", [Example(**row) for row in rows])


def _all_rows(out: Path) -> list[dict]:
    """Every row of every manifest in `out` (for the summary, whichever parts this run rebuilt)."""
    rows = []
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        if path.exists():
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def build_corpus(request: BuildRequest) -> dict:
    """Build (or finish building) the corpus described by `request`; returns the summary dict."""
    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    specs: list[dict] = []
    if request.synthetic:
        if not available_voices():
            raise ConfigError("no TTS engine found: install espeak-ng (see docs/corpus.md for the full set-up)")
        specs = plan_corpus(request.seed, request.hours, request.tasks, request.languages)
        specs += plan_open_text(request.seed, request.open_text_hours)
        specs += plan_open_passages(request.seed, request.open_passage_hours)
        specs += plan_neural_voice(request.seed, request.neural_voice_hours, speakers=tuple(request.neural_voices))
        ensure_babble_bank(out, request.seed)
    if request.real:
        specs += plan_real(request.real_limit)
    args = {"hours": request.hours, "seed": request.seed, "tasks": request.tasks, "languages": request.languages,
            "synthetic": request.synthetic, "real": request.real, "real_limit": request.real_limit,
            "open_text_hours": request.open_text_hours, "long_hours": request.long_hours}
    if request.full_window_hours:
        args["full_window_from"] = list(request.full_window_from)
    for option in ("open_passage_hours", "neural_voice_hours", "full_window_hours"):  # only when asked: earlier plan.json files keep their bytes
        if getattr(request, option):
            args[option] = getattr(request, option)
    if request.neural_voice_hours and tuple(request.neural_voices) != DEFAULT_NEURAL_SPEAKERS:
        args["neural_voices"] = list(request.neural_voices)
    (out / "plan.json").write_text(json.dumps({"args": args, "examples": len(specs)}, indent=2))
    for stray in (out / "audio").rglob(".*.tmp") if (out / "audio").exists() else ():
        stray.unlink()  # half-written files of an interrupted run; their examples are re-rendered
    errors = _run_pool(specs, BuildRequest(**{**request.__dict__, "out": out}))
    splits = (SYNTHETIC_SPLITS if request.synthetic else ()) + (("test_real",) if request.real else ()) \
        + (("test_open_text",) if request.synthetic and request.open_text_hours > 0 else ()) \
        + (tuple(PASSAGE_SPLITS.values()) if request.synthetic and request.open_passage_hours > 0 else ()) \
        + ((NEURAL_VOICE_SPLIT,) if request.synthetic and request.neural_voice_hours > 0 else ())
    _write_manifests(out, specs, splits)
    if request.synthetic and request.long_hours > 0:
        build_long_training(out / "train.jsonl", out, request.long_hours, request.seed)
    if request.synthetic and request.full_window_hours > 0:
        sources = [out / f"{split}.jsonl" for split in request.full_window_from]
        missing = [str(path) for path in sources if not path.exists()]
        if missing:
            raise ConfigError(f"--full-window-hours joins clips of {', '.join(missing)}, which this corpus lacks "
                              "(build it first, e.g. with --neural-voice-hours)")
        build_full_window_training(sources, out, request.full_window_hours, request.seed)
    summary = summarize(_all_rows(out), wall_seconds=time.time() - started, args=args, errors=errors)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    if request.progress:
        print(format_summary(summary))
    return summary
