"""PNG plots of evaluation reports: scores per task side by side, metrics against duration, and
confusion matrices for paralinguistic labels.

Figures are built with `matplotlib.figure.Figure` directly (the Agg canvas), never through pyplot,
so plotting needs no display and leaves no global state behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from audiollm.evaluate.report import METRIC_TITLES, TASK_TITLES
from audiollm.evaluate.tasks import LOWER_IS_BETTER

WINDOW_SECONDS = 30


def _save(figure, path: Path) -> str:
    """Save atomically (temporary file, then rename) and return the path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + ".tmp.png")
    figure.savefig(temporary, dpi=110, bbox_inches="tight")
    temporary.replace(path)
    return str(path)


def plot_scores(headlines: Mapping[str, Mapping[str, tuple[str, float]]], path: Path) -> str:
    """Grouped bars: one group per task, one bar per model, labelled with the task's metric."""
    from matplotlib.figure import Figure

    models = list(headlines)
    tasks = [t for t in TASK_TITLES if any(t in h for h in headlines.values())]
    figure = Figure(figsize=(max(6.0, 1.6 * len(tasks) * max(1, len(models)) ** 0.5), 4.2))
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(models))
    for index, model in enumerate(models):
        xs = [t + (index - (len(models) - 1) / 2) * width for t in range(len(tasks))]
        values = [headlines[model].get(task, (None, 0.0))[1] for task in tasks]
        bars = axes.bar(xs, values, width=width, label=model)
        axes.bar_label(bars, fmt="%.1f", fontsize=7)
    labels = []
    for task in tasks:
        metrics = sorted({h[task][0] for h in headlines.values() if task in h})
        direction = " ↓" if any(m in LOWER_IS_BETTER for m in metrics) else ""
        labels.append(f"{task.upper()}\n{'/'.join(METRIC_TITLES.get(m, m) for m in metrics)}{direction}")
    axes.set_xticks(range(len(tasks)), labels, fontsize=8)
    axes.set_ylabel("score (0-100)")
    axes.set_title("Score per task (↓: lower is better)")
    axes.legend(fontsize=8)
    return _save(figure, path)


def plot_duration(curves: Mapping[str, Mapping[str, Sequence[dict]]], path: Path) -> str:
    """WER (left) and answer quality (right) against clip duration, with the 30 s window marked."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    wer_axes, quality_axes = figure.subplots(1, 2)
    for model, by_task in curves.items():
        for task, curve in by_task.items():
            if not curve:
                continue
            axes = wer_axes if task == "asr" else quality_axes
            xs = [point["mean_duration"] for point in curve]
            ys = [point["value"] for point in curve]
            metric = METRIC_TITLES.get(curve[0]["metric"], curve[0]["metric"])
            label = f"{model} · {metric}" if task == "asr" else f"{model} · {task.upper()} {metric}"
            axes.plot(xs, ys, marker="o", label=label)
    for axes, title in ((wer_axes, "ASR error rate (lower is better)"),
                        (quality_axes, "Answer quality (higher is better)")):
        axes.axvline(WINDOW_SECONDS, color="grey", linestyle="--", linewidth=1)
        axes.text(WINDOW_SECONDS, 0.02, " 30 s window", transform=axes.get_xaxis_transform(),
                  fontsize=8, color="grey", va="bottom")
        axes.set_xscale("log")
        axes.set_ylim(bottom=0)  # a zero baseline keeps small differences from looking large
        axes.set_xlabel("clip duration (s, log scale)")
        axes.set_title(title, fontsize=10)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7)
    return _save(figure, path)


def plot_confusion(matrix: dict, attribute: str, path: Path) -> str:
    """Heat map of one PARA attribute's confusion matrix with counts in the cells."""
    from matplotlib.figure import Figure

    labels, columns, counts = matrix["labels"], matrix["columns"], matrix["matrix"]
    figure = Figure(figsize=(1.2 + 0.7 * len(columns), 1.0 + 0.6 * len(labels)))
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"PARA: {attribute}", fontsize=10)
    peak = max((max(row) for row in counts), default=0)
    for row, values in enumerate(counts):
        for column, value in enumerate(values):
            axes.text(column, row, str(value), ha="center", va="center", fontsize=8,
                      color="white" if peak and value > peak / 2 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046)
    return _save(figure, path)


def plot_report(report: dict, folder: Path, label: str | None = None) -> list[str]:
    """All plots of one report into `folder`; returns their paths relative to folder's parent."""
    from audiollm.evaluate.report import headline_scores

    label = label or report["model"]["name"]
    written = [plot_scores({label: headline_scores(report)}, folder / "scores.png")]
    curves = {task: entry["by_duration"] for task, entry in report["tasks"].items() if len(entry["by_duration"]) > 1}
    if curves:
        written.append(plot_duration({label: curves}, folder / "duration.png"))
    for attribute, matrix in report["tasks"].get("para", {}).get("confusion", {}).items():
        safe = "".join(c if c.isalnum() else "_" for c in attribute)
        written.append(plot_confusion(matrix, attribute, folder / f"confusion_{safe}.png"))
    return [str(Path(p).relative_to(folder.parent)) for p in written]
