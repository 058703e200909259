"""Run one study of docs/experiments.md: train each variant (or take a ready model), evaluate, tabulate.

    python experiments/run.py configs/experiments/adaptors.yaml             # everything (resumes)
    python experiments/run.py configs/experiments/adaptors.yaml --plan      # print the commands only
    python experiments/run.py configs/experiments/adaptors.yaml --only qformer --nproc 2
    python experiments/run.py configs/experiments/adaptors.yaml --seeds 0 --nproc 2   # one seed of each first

A study file names a question, a shared training recipe and step budget, the test data and the
variants (training overrides, or a model to evaluate as it is, plus extra `audiollm eval` arguments;
`stage1:` overrides put a stage-1 Whisper run first, which a `model` names as {stage1}),
and optionally `listening:` arguments of experiments/listening.py, whose gain becomes a column: at this
scale it separates models that the six-task scores on a few examples cannot.
Every step is an `audiollm train` / `audiollm eval` command, printed before it runs, so each number
can be reproduced by hand. Both commands resume, so an interrupted study continues where it stopped.
Runs are keyed by recipe + overrides + seed: studies that share a variant (the v1 baseline) train it
once. The results go to reports/experiments/<study>/ (summary.json, summary.md, scores.png) and
between the study's markers in docs/experiments.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from audiollm.config import AudioLLMConfig
from audiollm.evaluate import tasks as task_metrics
from audiollm.evaluate.plots import plot_duration
from audiollm.train.summary import read_log

ROOT = Path(__file__).resolve().parents[1]
RUNS = Path("runs/experiments")
EVALS = Path("reports/experiments/evals")
DOC = ROOT / "docs" / "experiments.md"


def load_study(path: Path) -> dict:
    study = yaml.safe_load(path.read_text())
    for key in ("study", "question", "variants", "eval"):
        if key not in study:
            raise SystemExit(f"{path}: missing key {key!r}")
    for name, variant in study["variants"].items():
        if ("train" in variant) == ("model" in variant):
            raise SystemExit(f"{path}: variant {name!r} needs exactly one of 'train' (overrides) or 'model'")
        if ("{stage1}" in variant.get("model", "")) != ("model" in variant and "stage1" in variant):
            raise SystemExit(f"{path}: variant {name!r}: a 'model' with 'stage1' names the stage-1 folder as "
                             "{stage1}, and only then")
    return study


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


def _settings(path: Path):
    """A recipe's settings as parsed, so that editing its comments does not make its runs new ones."""
    return yaml.safe_load(path.read_text())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stage1_step(stage1: list[str], seed: int) -> tuple[list[str], Path]:
    """The stage-1 command (Whisper fine-tuned as Whisper) and its folder, keyed by overrides + seed only,
    so that every variant with the same stage 1 shares one run."""
    out = RUNS / f"stage1-{_key(_settings(ROOT / 'configs' / 'stage1.yaml'), stage1, seed)}"
    return ["audiollm", "train", "configs/stage1.yaml", *stage1, f"seed={seed}", f"out={out}"], out


def variant_steps(study: dict, name: str, variant: dict, seed) -> tuple[list[list[str]], str]:
    """The commands that produce a variant's model, and the model to evaluate: a stage-2 run (`train`), a
    ready model (`model`), or a stage-1 run whose folder the `model` names as {stage1} (Whisper as Whisper)."""
    if "train" in variant:
        return train_steps(study, name, variant, seed)
    if "stage1" in variant:
        command, out = stage1_step(variant["stage1"], seed)
        return [command], variant["model"].format(stage1=out.as_posix())
    return [], variant["model"]


def train_steps(study: dict, name: str, variant: dict, seed: int) -> tuple[list[list[str]], str]:
    """The commands that produce a variant's model folder, and that folder."""
    recipe = study["recipe"]
    overrides = [*study.get("recipe_overrides", []), *variant["train"], f"seed={seed}"]
    commands = []
    if "stage1" in variant:  # a stage-1 encoder run first, whose encoder the stage-2 run starts from
        command, stage1_out = stage1_step(variant["stage1"], seed)
        commands.append(command)
        overrides.append(f"model.encoder_weights={stage1_out}")
    # Named by what changes, not by the variant's name, so studies sharing a variant share its run.
    label = _slug(" ".join(variant["train"]))[:40] or "recipe"
    # A run that starts from the shipped default is also keyed by which default shipped: after a new one
    # ships, the same overrides start somewhere else and are another run.
    start = [_shipped_default_digest()] if "model.init=default" in overrides else []
    out = RUNS / f"{label}-s{seed}-{_key(_settings(ROOT / recipe), overrides, *start)}"
    commands.append(["audiollm", "train", recipe, *overrides, f"out={out}"])
    return commands, str(out / "model")


def _label_and_weights(model: str) -> tuple[str, str]:
    """A readable name for a model's outputs, and what else keys them: a retrained default, or one that
    ships other generation defaults, is another model, so the default's answers are keyed by the digest
    of every shipped file (trained parts and generation_config.json)."""
    label = Path(model).parent.name if Path(model).name == "model" else _slug(model)
    return label, _shipped_default_digest() if model == "default" else ""


def _shipped_default_digest() -> str:
    """sha256 of every file the default ships, or "untrained" when no trained parts are shipped."""
    if not (ROOT / "audiollm" / "default" / "trained_parts.safetensors").is_file():
        return "untrained"
    digest = hashlib.sha256()
    for shipped in sorted((ROOT / "audiollm" / "default").glob("*")):
        if shipped.is_file():
            digest.update(shipped.name.encode() + b"\0" + shipped.read_bytes())
    return digest.hexdigest()


def eval_step(study: dict, model: str, variant: dict) -> tuple[list[str], Path]:
    arguments = [*study["eval"], *variant.get("eval", [])]
    label, weights = _label_and_weights(model)
    out = EVALS / f"{label}-{_key(model, weights, arguments)}"
    return ["audiollm", "eval", "--model", model, "--out", str(out), "--no-progress", *arguments], out


def listening_step(study: dict, model: str) -> tuple[list[str], Path] | None:
    """The experiments/listening.py command for a study with a `listening:` key (audiollm models only:
    a cascade has no speech tokens to take away), and the JSON file it writes."""
    if "listening" not in study or model.startswith(("cascade:", "http://", "https://")):
        return None
    label, weights = _label_and_weights(model)
    out = EVALS / f"{label}-listening-{_key(model, weights, study['listening'])}.json"
    return ["python", "experiments/listening.py", model, *study["listening"], "--out", str(out)], out


def run(command: list[str], nproc: int, plan: bool, eval_threads: str | None = None) -> None:
    """Run one step. Process and thread counts change speed, not results, so they stay out of the keys."""
    if command[1] == "train" and nproc > 1:
        command = [*command, "--nproc", str(nproc)]
    if command[1] in ("eval", "experiments/listening.py") and eval_threads:
        command = [*command, "--threads", eval_threads]
    print("$", shlex.join(command), flush=True)
    if not plan and subprocess.call(command, cwd=ROOT) != 0:
        raise SystemExit(f"failed: {shlex.join(command)}")


def training_facts(model_folder: str) -> dict:
    """Trainable parameters, speech tokens per 30 s, median seconds per step and last dev loss of a run (if
    trained here); a resumed run's repeated steps count once (read_log keeps each step's last record)."""
    run_dir = ROOT / Path(model_folder).parent
    facts: dict = {}
    summary = run_dir / "summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text())
        facts["trainable_M"] = sum(data["trained_parameters"].values()) / 1e6
        facts["tokens_per_30s"] = AudioLLMConfig.from_dict({"model_type": "audiollm", **data["config"]}).tokens_per_window
    if (run_dir / "log.jsonl").is_file():
        records, _ = read_log(run_dir)
        steps = [records[step] for step in sorted(records)]
        seconds = [sum(s["seconds"].values()) for s in steps if "seconds" in s]
        if seconds:
            facts["s_per_step"] = statistics.median(seconds)
        evals = [s["eval"]["dev_loss"] for s in steps if "eval" in s and "dev_loss" in s["eval"]]
        if evals:
            facts["dev_loss"] = evals[-1]
    return facts


def recorded_facts(out: Path) -> dict:
    """{(model, report): facts} of the study's last summary. Training facts are read from run folders and the
    RTF from predictions.jsonl, neither of which is committed: on a machine without them, what was measured
    where they were is kept rather than dropped from the table."""
    path = ROOT / out / "summary.json"
    if not path.is_file():
        return {}
    return {(r["model"], r["report"]): r.get("facts", {}) for r in json.loads(path.read_text())["results"]}


def scores_of(report_dir: Path, rows: list[str]) -> dict:
    """{column: value} for the study's rows: "task" or "task/subset" with the task's headline metric, or
    with "@metric" the one named (e.g. "text/split: general text@contains_match")."""
    report = json.loads((ROOT / report_dir / "report.json").read_text())
    values = {}
    for row in rows:
        where, _, metric = row.partition("@")
        task, _, subset = where.partition("/")
        entry = report["tasks"].get(task, {}).get("subsets", {}).get(subset or "all")
        if entry and metric:
            picked = (metric, entry[metric]) if entry.get(metric) is not None else None
        else:
            picked = task_metrics.headline(task, entry) if entry else None
        if picked:
            values[row] = {"metric": picked[0], "value": picked[1], "n": entry.get("n")}
    return values


def inference_rtf(report_dir: Path) -> float | None:
    """Seconds of inference per second of audio over the evaluated clips (from predictions.jsonl)."""
    path = ROOT / report_dir / "predictions.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    audio = sum(r["duration"] for r in rows if r.get("duration"))
    return sum(r.get("seconds", 0.0) for r in rows if r.get("duration")) / audio if audio else None


def planned_seeds(study: dict, variant: dict) -> list:
    """The seeds a variant is trained with; [None] for a variant that names a ready model."""
    trained = "train" in variant or "stage1" in variant
    return variant.get("seeds", study.get("seeds", [0])) if trained else [None]


def selected(name: str, seed, only: list[str] | None, seeds: list[int] | None) -> bool:
    """Whether `--only` and `--seeds` ask for this run; a ready model (seed None) has no seed to filter."""
    return (only is None or name in only) and (seeds is None or seed is None or seed in seeds)


def summarise(study: dict, results: list[dict]) -> str:
    """The Markdown table: one row per variant (mean over seeds; ± half the range when 2+ seeds)."""
    columns = study["columns"]
    header = ["variant", "seeds", *columns, *(["listening gain"] if "listening" in study else []),
              "trainable M", "tokens / 30 s", "train s/step", "inference RTF"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in study["variants"]:
        group = [r for r in results if r["variant"] == name]
        if not group:
            continue
        cells = [name, ",".join(str(r["seed"]) for r in group if r["seed"] is not None) or "-"]
        for column in columns:
            values = [r["scores"][column]["value"] for r in group if column in r["scores"]]
            if not values:
                cells.append("")
                continue
            metric = next(r["scores"][column]["metric"] for r in group if column in r["scores"])
            spread = f" ± {(max(values) - min(values)) / 2:.1f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.1f}{spread} ({metric})")
        if "listening" in study:  # nats/token: transcript loss with another clip minus with the right one
            gains = [r["listening"]["gain_over_other"] for r in group if r.get("listening")]
            spread = f" ± {(max(gains) - min(gains)) / 2:.3f}" if len(gains) > 1 else ""
            cells.append(f"{statistics.mean(gains):.3f}{spread}" if gains else "")
        for fact, form in (("trainable_M", "{:.2f}"), ("tokens_per_30s", "{}"), ("s_per_step", "{:.1f}"),
                           ("inference_rtf", "{:.3f}")):
            # Sizes are the same for every seed; speeds are each run's own timing, so their mean.
            values = [r["facts"][fact] for r in group if r["facts"].get(fact) is not None]
            cells.append(form.format(statistics.mean(values)) if values else "")
        lines.append("| " + " | ".join(cells) + " |")
    pending = []  # a partial table says what it lacks (runs resume; `--only` runs some variants first)
    for name, variant in study["variants"].items():
        missing = [seed for seed in planned_seeds(study, variant) if seed not in {r["seed"] for r in results if r["variant"] == name}]
        if missing:
            pending.append(name if missing == [None] else f"{name} (seed {', '.join(map(str, missing))})")
    if pending:
        lines += ["", f"Not finished yet: {'; '.join(pending)}."]
    return "\n".join(lines)


def plot(study: dict, results: list[dict], path: Path) -> None:
    """Grouped bars of each column per variant (first seed's run per variant averaged over seeds)."""
    from matplotlib.figure import Figure

    columns, variants = study["columns"], [v for v in study["variants"] if any(r["variant"] == v for r in results)]
    figure = Figure(figsize=(max(6.0, 1.3 * len(columns) * len(variants) ** 0.5), 4.2))
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(variants))
    for index, variant in enumerate(variants):
        group = [r for r in results if r["variant"] == variant]
        values = [statistics.mean([r["scores"][c]["value"] for r in group if c in r["scores"]] or [0.0])
                  for c in columns]
        xs = [c + (index - (len(variants) - 1) / 2) * width for c in range(len(columns))]
        axes.bar_label(axes.bar(xs, values, width=width, label=variant), fmt="%.1f", fontsize=7)
    metrics = [next((r["scores"][c]["metric"] for r in results if c in r["scores"]), "") for c in columns]
    axes.set_xticks(range(len(columns)), [f"{c}\n{m}" for c, m in zip(columns, metrics)], fontsize=8)
    axes.set_title(f"{study['study']}: {study['question']}", fontsize=9)
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def plot_durations(results: list[dict], path: Path) -> None:
    """WER and answer quality against clip duration, one line per variant (first seed)."""
    curves = {}
    for result in results:
        report = json.loads((ROOT / result["report"] / "report.json").read_text())
        curves.setdefault(result["variant"], {t: e.get("by_duration", []) for t, e in report["tasks"].items()})
    plot_duration(curves, path)


def update_doc(study: dict, table: str, commands: list[str], plots: list[Path]) -> None:
    """Replace the text between <!-- results:STUDY --> and <!-- /results:STUDY --> in docs/experiments.md."""
    start, end = f"<!-- results:{study['study']} -->", f"<!-- /results:{study['study']} -->"
    text = DOC.read_text()
    if start not in text or end not in text:
        print(f"note: {DOC} has no {start} block; results are in reports/experiments/{study['study']}/")
        return
    images = [f"![{study['study']}: {path.stem}](../{path.as_posix()})" for path in plots]
    body = "\n".join([start, "", table, "", *images, "",
                      "<details><summary>Commands</summary>", "", "```bash",
                      *commands, "```", "", "</details>", "", end])
    before, rest = text.split(start, 1)
    DOC.write_text(before + body + rest.split(end, 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path)
    parser.add_argument("--plan", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--only", nargs="+", help="variants to run (the summary still covers all finished ones)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds to run (default: the study's; the summary "
                        "still covers all finished ones), e.g. --seeds 0 for one seed of every variant first")
    parser.add_argument("--nproc", type=int, default=1, help="training processes (DDP on CPU: 2 on 2 cores)")
    parser.add_argument("--eval-threads", help="CPU threads of each evaluation (a number or 'auto')")
    args = parser.parse_args()
    study = load_study(args.study)
    out = Path("reports/experiments") / study["study"]
    earlier = recorded_facts(out)
    results, commands = [], []
    for name, variant in study["variants"].items():
        for seed in planned_seeds(study, variant):
            steps, model = variant_steps(study, name, variant, seed)
            evaluate, report_dir = eval_step(study, model, variant)
            listen, listening_file = listening_step(study, model) or (None, None)
            commands += [shlex.join(step) for step in [*steps, evaluate, *([listen] if listen else [])]]
            if selected(name, seed, args.only, args.seeds):
                for step in steps:
                    run(step, args.nproc, args.plan)
                run(evaluate, args.nproc, args.plan, args.eval_threads)
                if listen and not (ROOT / listening_file).is_file():
                    run(listen, args.nproc, args.plan, args.eval_threads)
            if not args.plan and (ROOT / report_dir / "report.json").is_file():
                listened = ROOT / listening_file if listen else None
                measured = {**training_facts(model), "inference_rtf": inference_rtf(report_dir)}
                facts = {**earlier.get((model, str(report_dir)), {}),
                         **{key: value for key, value in measured.items() if value is not None}}
                results.append({"variant": name, "seed": seed, "model": model, "report": str(report_dir),
                                "scores": scores_of(report_dir, study["columns"]),
                                "listening": json.loads(listened.read_text()) if listened and listened.is_file() else None,
                                "facts": facts})
    if args.plan:
        return 0
    (ROOT / out).mkdir(parents=True, exist_ok=True)
    table = summarise(study, results)
    (ROOT / out / "summary.json").write_text(json.dumps({"study": study, "results": results}, indent=2))
    (ROOT / out / "summary.md").write_text(f"# {study['study']}\n\n{study['question']}\n\n{table}\n")
    plots = [out / "scores.png"]
    plot(study, results, ROOT / plots[0])
    if study.get("duration_plot") and results:
        plots.append(out / "duration.png")
        plot_durations(results, ROOT / plots[1])
    update_doc(study, table, commands, plots)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
