"""Turn scored records into report.json and report.md, and merge several reports into one table.

report.json holds, per task: `subsets` (metrics per subset row), `by_duration` (headline metric per
duration bin), `confusion` (PARA), `worst` (ASR utterances with most errors) and `provenance` (model
identity, decoding, exact instructions, normaliser version, judge, metric signatures), so any number
can be traced to how it was produced.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from audiollm.errors import ConfigError
from audiollm.evaluate import tasks as task_metrics

TASK_TITLES = {"asr": "ASR", "st": "Speech translation", "sqa": "Spoken question answering",
               "sds": "Spoken dialogue summarisation", "si": "Speech instruction", "para": "Paralinguistics",
               "text": "Text"}
METRIC_TITLES = {"wer": "WER %", "cer": "CER %", "hallucination": "hallucination %", "bleu": "BLEU",
                 "chrf": "chrF", "rouge_l": "ROUGE-L", "token_f1": "token F1", "exact_match": "exact %",
                 "contains_match": "contains %", "accuracy": "accuracy %", "chance": "chance %",
                 "majority": "majority-class %", "judge": "judge (0-100)",
                 "judge_parsed": "judge parsed %"}
WORST_SHOWN = 10


def _provenance(task: str, records: Sequence[dict], run: dict) -> dict:
    """How the scores of one task were produced."""
    instructions = sorted({r["instruction"] for r in records})
    provenance = {"model": run["model"], "decoding": sorted({json.dumps(r["decoding"], sort_keys=True)
                                                             for r in records}),
                  "instructions": instructions[:20], "n_instructions": len(instructions),
                  "prompt_template": run["model"].get("prompt_template")}
    provenance["decoding"] = [json.loads(d) for d in provenance["decoding"]]
    if task == "asr":
        provenance["normaliser"] = run["normaliser"]
    if task == "st":
        provenance["bleu_tokenize"] = run["bleu_tokenize"]
    if any(r.get("judge") for r in records):
        provenance["judge"] = run.get("judge")
    return provenance


def _subset_rows(records: Sequence[dict]) -> dict[str, list[dict]]:
    """Records per subset row. A "set:" row holding exactly the records of another row (one source,
    or a corpus manifest per split) says nothing new and is dropped."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        for subset in record["subsets"]:
            rows[subset].append(record)
    members = {name: frozenset(r["key"] for r in group) for name, group in rows.items()}
    other = {keys for name, keys in members.items() if not name.startswith("set: ")}
    return {name: group for name, group in rows.items()
            if not (name.startswith("set: ") and members[name] in other)}


def _subset_order(name: str) -> tuple:
    """Row order: all, then corpus splits in SPLIT_NAMES order, then languages, then sources."""
    from audiollm.evaluate.data import SPLIT_NAMES

    kind, _, value = name.partition(": ")
    kinds = ["all", "split", "lang", "set"]
    splits = list(SPLIT_NAMES.values())
    rank = splits.index(value) if kind == "split" and value in splits else len(splits)
    return (kinds.index(kind) if kind in kinds else len(kinds), rank, value)


def build_report(records: Sequence[dict], run: dict) -> dict:
    """The report dict from records that carry `scores` (and `judge` where judged)."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_task[record["task"]].append(record)
    report = {"model": run["model"], "run": run, "created": datetime.now(timezone.utc).isoformat(),
              "errors": sum(1 for r in records if r.get("error")), "tasks": {}}
    for task in sorted(by_task, key=lambda t: list(TASK_TITLES).index(t) if t in TASK_TITLES else 99):
        group = by_task[task]
        subsets = {name: task_metrics.subset_metrics(task, rows, run["bleu_tokenize"])
                   for name, rows in sorted(_subset_rows(group).items(), key=lambda item: _subset_order(item[0]))}
        entry = {"subsets": subsets, "provenance": _provenance(task, group, run),
                 "by_duration": task_metrics.duration_curve(task, group, run["bleu_tokenize"])}
        if task == "para":
            entry["confusion"] = task_metrics.confusion(group)
        if task == "asr":
            speech = [r for r in group if "errors" in r["scores"]]
            # By rate first: long-form clips would otherwise fill the list on error counts alone.
            worst = sorted(speech, key=lambda r: (-r["scores"]["rate"], -r["scores"]["errors"], r["key"]))
            worst = worst[:WORST_SHOWN]
            entry["worst"] = [{"key": r["key"], "rate": r["scores"]["rate"], "errors": r["scores"]["errors"],
                               "reference": r["scores"]["reference"], "prediction": r["scores"]["prediction"]}
                              for r in worst]
        report["tasks"][task] = entry
    return report


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _metric_columns(subsets: dict) -> list[str]:
    """Numeric metric names present in any subset, in METRIC_TITLES order."""
    present = {name for values in subsets.values() for name, v in values.items() if isinstance(v, (int, float))}
    return [name for name in METRIC_TITLES if name in present]


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _task_markdown(task: str, entry: dict) -> list[str]:
    """One task's section: the subset table, then duration, confusion and worst-utterance tables."""
    lines = [f"## {TASK_TITLES.get(task, task)}", ""]
    columns = _metric_columns(entry["subsets"])
    lines += _table(["subset", "n"] + [METRIC_TITLES[c] for c in columns],
                    [[name, values["n"]] + [values.get(c) for c in columns] for name, values in entry["subsets"].items()])
    if len(entry["by_duration"]) > 1:
        lines += ["By duration:", ""]
        lines += _table(["duration", "n", "metric", "value"],
                        [[p["bin"], p["n"], METRIC_TITLES.get(p["metric"], p["metric"]), p["value"]]
                         for p in entry["by_duration"]])
    for attribute, matrix in entry.get("confusion", {}).items():
        lines += [f"Confusion ({attribute}; rows true, columns predicted):", ""]
        lines += _table([attribute] + matrix["columns"],
                        [[label] + counts for label, counts in zip(matrix["labels"], matrix["matrix"])])
    if entry.get("worst"):
        lines += ["Utterances with the most errors (normalised):", ""]
        lines += _table(["key", "errors", "reference", "prediction"],
                        [[w["key"], w["errors"], w["reference"][:80], w["prediction"][:80]] for w in entry["worst"]])
    provenance = entry["provenance"]
    budgets = sorted({d["max_new_tokens"] for d in provenance["decoding"]})
    budget = f"{budgets[0]}" if len(budgets) == 1 else f"{budgets[0]}–{budgets[-1]} (ASR grows with duration)"
    lines += [f"Distinct instructions: {provenance['n_instructions']}; max_new_tokens: {budget}; "
              f"temperature: {provenance['decoding'][0]['temperature']}.", ""]
    return lines


def render_markdown(report: dict, plots: Sequence[str] = ()) -> str:
    """report.md: a header with model and provenance, then one section per task."""
    run = report["run"]
    data = ", ".join("{} ({})".format(d["name"], d["n"]) for d in run["data"])
    judge = run.get("judge")
    judge_text = f"{judge['model']} at {judge['url']}" if judge else "none (lexical metrics only)"
    normaliser = run["normaliser"]
    lines = [f"# Evaluation: {report['model']['name']}", "",
             f"- model: `{json.dumps(report['model'], default=str)}`",
             f"- data: {data}",
             f"- normaliser: {normaliser['version']} (spelling mapping {normaliser['spelling_mapping']})",
             f"- judge: {judge_text}",
             f"- examples with errors: {report['errors']}", f"- created: {report['created']}", ""]
    for task, entry in report["tasks"].items():
        lines += _task_markdown(task, entry)
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def load_report(folder: str | Path) -> dict:
    """report.json of an eval output folder, with a clear error when it is missing."""
    path = Path(folder) / "report.json"
    if not path.is_file():
        raise ConfigError(f"no report.json in {folder}; run `audiollm eval --model ... --out {folder}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def compare_markdown(reports: Sequence[dict], labels: Sequence[str]) -> str:
    """One table over several reports: a row per (task, subset, metric), a column per model."""
    lines = ["# Comparison", "", "Lower is better for WER, CER and hallucination; higher for the rest.", ""]
    header = ["task", "subset", "metric"] + list(labels)
    rows = []
    tasks = [t for t in TASK_TITLES if any(t in r["tasks"] for r in reports)]
    for task in tasks:
        subsets = list(dict.fromkeys(s for r in reports for s in r["tasks"].get(task, {}).get("subsets", {})))
        for subset in subsets:
            values = [r["tasks"].get(task, {}).get("subsets", {}).get(subset, {}) for r in reports]
            merged = {k: v for d in values for k, v in d.items()}
            for metric in _metric_columns({"x": merged}):
                rows.append([task, subset, METRIC_TITLES[metric]] + [v.get(metric) for v in values])
    return "\n".join(lines + _table(header, rows))


def headline_scores(report: dict) -> dict[str, tuple[str, float]]:
    """{task: (metric, value)} of the "all" row, for side-by-side plots."""
    result = {}
    for task, entry in report["tasks"].items():
        best = task_metrics.headline(task, entry["subsets"].get("all", {}))
        if best is not None:
            result[task] = best
    return result
