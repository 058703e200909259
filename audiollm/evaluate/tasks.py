"""Per-task scoring: which metrics each task family gets, per item and per subset.

A *record* is one line of `predictions.jsonl` (see `runner.py`): the example's fields plus the
model's `prediction`, the `subsets` it counts in and, after judging, a `judge` dict.

| task | per item | per subset (0-100 unless said) |
|---|---|---|
| asr | normalised ref/hyp, errors | wer (%, corpus), cer (%, Mandarin), hallucination (% of no-speech clips answered) |
| st | - | bleu, chrf (per language pair; macro mean when a subset mixes targets) |
| sqa | rouge_l, token_f1, exact/contains (short answers), choice | same means, accuracy (closed set), judge |
| sds | rouge_l | rouge_l, judge |
| si | rouge_l, token_f1 | same means, judge |
| para | predicted label | accuracy, chance and majority-class baselines, judge (binary), confusion matrix per attribute |
| text | rouge_l, token_f1, exact/contains (short answers) | same means (text-only tests, see textonly.py) |
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

from audiollm.evaluate import metrics
from audiollm.evaluate.normalise import normalise_answer

# Answers this short (in normalised words) are scored by exact/contains match as well.
SHORT_ANSWER_WORDS = 5
# Which metric stands for a task in plots and comparisons, in order of preference.
HEADLINE = {
    "asr": ("wer", "cer", "hallucination"),
    "st": ("bleu",),
    "sqa": ("judge", "accuracy", "token_f1"),
    "sds": ("judge", "rouge_l"),
    "si": ("judge", "rouge_l"),
    "para": ("accuracy", "judge"),
    "text": ("judge", "token_f1"),
}
LOWER_IS_BETTER = {"wer", "cer", "hallucination"}
# Duration bins (seconds, right-open) for the long-audio curves; 30 s is an edge on purpose.
DURATION_EDGES = (0, 10, 20, 30, 40, 60, 120, 240, 480, 720, math.inf)


def choices_of(record: dict) -> list[str]:
    """The closed answer set of a record (PARA labels, multiple-choice options), or []."""
    choices = record["meta"].get("choices")
    return [str(c) for c in choices] if isinstance(choices, (list, tuple)) else []


def rubric_for(record: dict) -> str | None:
    """The judge rubric of a record: binary for closed sets, 0-5 for open answers, None for ASR/ST."""
    task = record["task"]
    if task in ("asr", "st", "text"):
        return None
    if task == "para" or choices_of(record) or record["meta"].get("choices_text"):
        return "binary"
    return "open"


def judge_question(record: dict) -> str:
    """What the judge is told the question was (SI's question is spoken, so use its transcript)."""
    meta = record["meta"]
    if record["task"] == "si" and meta.get("transcript"):
        return meta["transcript"]
    return meta.get("question") or record["instruction"]


def item_scores(record: dict, no_speech_answer: str | None = None) -> dict:
    """Metrics of one record that do not need the rest of the corpus."""
    task, reference, prediction = record["task"], record["reference"], record["prediction"]
    if task == "asr" and record["meta"].get("no_speech"):
        said = normalise_answer(prediction)
        allowed = {"", normalise_answer(reference), normalise_answer(no_speech_answer or "")}
        return {"hallucinated": said not in allowed}
    if task == "asr":
        return metrics.utterance_errors(reference, prediction, record["language"])
    if task == "st":
        return {}
    scores: dict = {}
    choices = choices_of(record)
    if choices:
        label = record["meta"].get("label", reference)
        picked = metrics.match_choice(prediction, choices)
        scores.update(label=label, predicted=picked, correct=picked is not None and
                      normalise_answer(picked) == normalise_answer(str(label)))
    if task == "para":
        return scores
    scores["rouge_l"] = metrics.rouge_l(reference, prediction)
    if task != "sds":
        scores["token_f1"] = metrics.token_f1(reference, prediction)
    if task in ("sqa", "text") and not choices and len(normalise_answer(reference).split()) <= SHORT_ANSWER_WORDS:
        scores["exact_match"] = metrics.exact_match(reference, prediction)
        scores["contains_match"] = metrics.contains_match(reference, prediction)
    return scores


def _mean_percent(values: Iterable[float]) -> float | None:
    values = [float(v) for v in values]
    return 100.0 * sum(values) / len(values) if values else None


def _asr_metrics(records: Sequence[dict]) -> dict:
    """Corpus WER/CER over speech clips and the hallucination rate over no-speech clips."""
    result: dict = {}
    for unit, name in (("word", "wer"), ("char", "cer")):
        items = [r["scores"] for r in records if r["scores"].get("unit") == unit]
        units = sum(i["ref_units"] for i in items)
        if items:
            result[name] = 100.0 * sum(i["errors"] for i in items) / units if units else 0.0
    silent = [r["scores"]["hallucinated"] for r in records if "hallucinated" in r["scores"]]
    if silent:
        result["hallucination"] = _mean_percent(silent)
        result["n_no_speech"] = len(silent)
    return result


def _st_metrics(records: Sequence[dict], bleu_tokenize: str) -> dict:
    """BLEU/chrF per target language; a subset with several targets reports their mean."""
    by_target: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_target[record["meta"].get("target_language") or record["language"]].append(record)
    pairs = {target: metrics.bleu_chrf([r["reference"] for r in group], [r["prediction"] for r in group],
                                       target, bleu_tokenize)
             for target, group in sorted(by_target.items())}
    result = {"bleu": sum(p["bleu"] for p in pairs.values()) / len(pairs),
              "chrf": sum(p["chrf"] for p in pairs.values()) / len(pairs),
              "bleu_signature": sorted({p["bleu_signature"] for p in pairs.values()}),
              "chrf_signature": sorted({p["chrf_signature"] for p in pairs.values()})}
    if len(pairs) > 1:
        result["averaged_over_targets"] = sorted(pairs)
    return result


def _answer_metrics(records: Sequence[dict]) -> dict:
    """Means of the item metrics of SQA/SDS/SI/PARA records, plus the judge when present."""
    result: dict = {}
    for name in ("rouge_l", "token_f1", "exact_match", "contains_match"):
        value = _mean_percent(r["scores"][name] for r in records if name in r["scores"])
        if value is not None:
            result[name] = value
    correct = [r["scores"]["correct"] for r in records if "correct" in r["scores"]]
    if correct:
        result["accuracy"] = _mean_percent(correct)
        result.update(_closed_set_baselines([r for r in records if "correct" in r["scores"]]))
    judged = [r["judge"] for r in records if r.get("judge")]
    if judged:
        from audiollm.evaluate.judge import RUBRIC_SCALE

        # Scores are already scaled per item (rating x 20 or x 100), so their mean is AudioBench's.
        result["judge"] = sum(j["rating"] * RUBRIC_SCALE[j["rubric"]][1] for j in judged) / len(judged)
        result["judge_parsed"] = _mean_percent(j["method"] != "failed" for j in judged)
        result["judge_rubrics"] = sorted({j["rubric"] for j in judged})
    return result


def _closed_set_baselines(records: Sequence[dict]) -> dict:
    """What accuracy means without listening: `chance`, guessing uniformly among each item's choices,
    and `majority`, always giving the commonest true label of each attribute in these records (a model
    that learned only the label distribution reaches it; unbalanced sets put it well above chance)."""
    labels: dict[str, list[str]] = defaultdict(list)
    for record in records:
        labels[str(record["meta"].get("attribute", "label"))].append(normalise_answer(str(record["scores"]["label"])))
    commonest = sum(max(group.count(label) for label in set(group)) for group in labels.values())
    chance = [1 / len(choices_of(r)) for r in records if choices_of(r)]
    baselines = {"majority": 100.0 * commonest / len(records)}
    if len(chance) == len(records):
        baselines["chance"] = _mean_percent(chance)
    return baselines


def subset_metrics(task: str, records: Sequence[dict], bleu_tokenize: str = "auto") -> dict:
    """All subset-level metrics of one task over `records` (each already has `scores`)."""
    if task == "asr":
        result = _asr_metrics(records)
    elif task == "st":
        result = _st_metrics(records, bleu_tokenize)
    else:
        result = _answer_metrics(records)
    result["n"] = len(records)
    return result


def confusion(records: Sequence[dict]) -> dict:
    """PARA confusion matrices, one per attribute: rows true labels, columns predicted (+ none)."""
    by_attribute: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if "label" in record["scores"]:
            by_attribute[str(record["meta"].get("attribute", "label"))].append(record)
    matrices = {}
    for attribute, group in sorted(by_attribute.items()):
        labels = sorted({str(c) for r in group for c in choices_of(r)} | {str(r["scores"]["label"]) for r in group})
        columns = labels + ["(none)"]
        counts = [[0] * len(columns) for _ in labels]
        for record in group:
            predicted = record["scores"]["predicted"]
            row = labels.index(str(record["scores"]["label"]))
            counts[row][columns.index(str(predicted)) if predicted is not None else -1] += 1
        matrices[attribute] = {"labels": labels, "columns": columns, "matrix": counts}
    return matrices


def headline(task: str, values: dict) -> tuple[str, float] | None:
    """The (metric, value) that stands for a task, see HEADLINE."""
    for name in HEADLINE.get(task, ()):
        if values.get(name) is not None:
            return name, values[name]
    return None


def duration_bin(seconds: float) -> str:
    """Label of the right-open duration bin holding `seconds`, e.g. "30-40 s"."""
    for low, high in zip(DURATION_EDGES, DURATION_EDGES[1:]):
        if low <= seconds < high:
            return f"{low}-{high} s" if high != math.inf else f">={low} s"
    return "unknown"


def duration_curve(task: str, records: Sequence[dict], bleu_tokenize: str = "auto") -> list[dict]:
    """Headline metric per duration bin (bins with data only), ordered by duration."""
    bins: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        index = sum(1 for edge in DURATION_EDGES[1:] if record["duration"] >= edge)
        bins[index].append(record)
    curve = []
    for index in sorted(bins):
        group = bins[index]
        values = subset_metrics(task, group, bleu_tokenize)
        best = headline(task, values)
        if best is not None:
            curve.append({"bin": duration_bin(group[0]["duration"]), "n": len(group), "metric": best[0],
                          "value": best[1], "mean_duration": sum(r["duration"] for r in group) / len(group)})
    return curve
