"""The whole evaluation path: data -> answers -> judge -> scores -> report files; and comparisons.

`evaluate()` is what `audiollm eval` calls; `compare()` is `audiollm eval --compare`.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Sequence

from audiollm.errors import ConfigError
from audiollm.evaluate.data import EvalSet, load_eval_set
from audiollm.evaluate.runner import (Decoding, append_jsonl, model_identity, run_inference, run_judge,
                                      write_json, write_text)
from audiollm.inference import Responder

# Files a run writes; removed by overwrite=True.
RUN_FILES = ("run.json", "predictions.jsonl", "judgements.jsonl", "items.jsonl", "report.json", "report.md")


def _versions() -> dict:
    """Versions of the packages that shape scores, for the record."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("audiollm", "torch", "transformers", "jiwer", "sacrebleu", "whisper-normalizer"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _check_resume(out_dir: Path, fingerprint: dict, overwrite: bool) -> None:
    """Refuse to mix answers from different models or settings in one output folder."""
    run_path = out_dir / "run.json"
    if overwrite:
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        return
    if run_path.exists():
        previous = json.loads(run_path.read_text(encoding="utf-8")).get("fingerprint")
        if previous != json.loads(json.dumps(fingerprint, default=str)):
            raise ConfigError(f"{out_dir} holds answers from another model or other decoding settings "
                              f"({previous}); use a new --out folder, or --overwrite to start again")


def _corpus_no_speech_answer() -> str | None:
    """The corpus's fixed answer for silence ("[no speech]"), if this install has the corpus tool."""
    try:
        from audiollm.data.conventions import NO_SPEECH_ANSWER
    except ImportError:
        return None
    return NO_SPEECH_ANSWER


def limit_sets(sets: list[EvalSet], limit: int | None) -> list[EvalSet]:
    """At most `limit` examples per task of each set, taken evenly spread (every k-th), so a small
    sample still covers every task, language and voice of a set that is stored sorted by task."""
    if not limit:
        return sets
    limited = []
    for s in sets:
        by_task: dict[str, list] = {}
        for example in s.examples:
            by_task.setdefault(example.task, []).append(example)
        kept = []
        for examples in by_task.values():
            step = max(1, len(examples) // limit)
            kept += examples[::step][:limit]
        limited.append(EvalSet(s.name, s.path, kept))
    return limited


def evaluate(responder: Responder, data: Sequence[str | Path] | Sequence[EvalSet], out_dir: str | Path, *,
             task: str | None = None, decoding: Decoding | None = None, batch_size: int = 8, judge=None,
             bleu_tokenize: str = "auto", limit: int | None = None, overwrite: bool = False,
             progress: bool = True, plots: bool = True, no_speech_answer: str | None = None) -> dict:
    """Score `responder` on the test sets and write the report folder; return the report dict.

    data: manifest paths, corpus folders, HF dataset folders (see `load_eval_set`) or EvalSets.
    task: the task of HF folders that have no task column. judge: a `JudgeClient` or None.
    no_speech_answer: the answer a model may give on silence without it counting as hallucination
    (defaults to `audiollm.data.NO_SPEECH_ANSWER` when that exists).
    """
    from audiollm.evaluate.normalise import normaliser_info
    from audiollm.evaluate.plots import plot_report
    from audiollm.evaluate.report import build_report, render_markdown
    from audiollm.evaluate.tasks import item_scores

    decoding = decoding or Decoding()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sets = [s for item in data for s in ([item] if isinstance(item, EvalSet) else load_eval_set(item, task))]
    sets = limit_sets(sets, limit)
    if not any(s.examples for s in sets):
        raise ConfigError("the test data holds no examples")
    identity = model_identity(responder)
    fingerprint = {"model": identity, "decoding": decoding.recorded()}
    _check_resume(out_dir, fingerprint, overwrite)
    if no_speech_answer is None:
        no_speech_answer = _corpus_no_speech_answer()
    run = {"fingerprint": fingerprint, "model": identity, "decoding": decoding.recorded(),
           "data": [{"name": s.name, "path": str(s.path), "n": len(s.examples)} for s in sets],
           "normaliser": normaliser_info(), "bleu_tokenize": bleu_tokenize, "batch_size": batch_size,
           "judge": judge.identity() if judge is not None else None, "no_speech_answer": no_speech_answer,
           "versions": _versions()}
    write_json(out_dir / "run.json", run)

    records = run_inference(responder, sets, out_dir, decoding, batch_size, progress)
    if judge is not None:
        run_judge(judge, records, out_dir, progress)
    for record in records:
        record["scores"] = item_scores(record, no_speech_answer)
    items_path = out_dir / "items.jsonl"
    items_path.unlink(missing_ok=True)
    append_jsonl(items_path, [{"key": r["key"], "task": r["task"], "duration": r["duration"],
                               "scores": r["scores"], "judge": r.get("judge")} for r in records])
    report = build_report(records, run)
    write_json(out_dir / "report.json", report)
    written = plot_report(report, out_dir / "plots") if plots else []
    write_text(out_dir / "report.md", render_markdown(report, written))
    return report


def compare(folders: Sequence[str | Path], out_dir: str | Path | None = None,
            labels: Sequence[str] | None = None, plots: bool = True) -> str:
    """Render several eval folders as one Markdown table (and plots when out_dir is given)."""
    from audiollm.evaluate.plots import plot_duration, plot_scores
    from audiollm.evaluate.report import compare_markdown, headline_scores, load_report

    if len(folders) < 1:
        raise ConfigError("--compare needs at least one report folder")
    reports = [load_report(folder) for folder in folders]
    labels = list(labels or [r["model"]["name"] for r in reports])
    # Two runs of the same model name still need distinct columns.
    labels = [label if labels.count(label) == 1 else f"{label} ({Path(f).name})"
              for label, f in zip(labels, folders)]
    markdown = compare_markdown(reports, labels)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        if plots:
            written.append(plot_scores({l: headline_scores(r) for l, r in zip(labels, reports)},
                                       out_dir / "plots" / "scores.png"))
            curves = {l: {t: e["by_duration"] for t, e in r["tasks"].items() if len(e["by_duration"]) > 1}
                      for l, r in zip(labels, reports)}
            if any(curves.values()):
                written.append(plot_duration(curves, out_dir / "plots" / "duration.png"))
        links = "".join(f"\n![{Path(p).stem}]({Path(p).relative_to(out_dir)})" for p in written)
        write_json(out_dir / "compare.json", {"folders": [str(f) for f in folders], "labels": labels,
                                              "headlines": {l: headline_scores(r) for l, r in zip(labels, reports)}})
        write_text(out_dir / "compare.md", markdown + links + "\n")
    return markdown
