"""Loss and evaluation curves of a run, from its log.jsonl, as one PNG."""

from __future__ import annotations

from pathlib import Path

from audiollm.train.summary import read_log


def plot_run(run_dir: Path) -> Path | None:
    """Write run_dir/curves.png (training loss per step; each eval metric at its steps). Returns the path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here
    import matplotlib.pyplot as plt

    if not (Path(run_dir) / "log.jsonl").is_file():
        return None
    records, _ = read_log(run_dir)  # a resumed run repeats steps: the last record of each is kept
    steps = sorted(records)
    evals = sorted({key for row in records.values() for key in row.get("eval", {})})
    figure, axes = plt.subplots(1, 1 + len(evals), figsize=(5 * (1 + len(evals)), 3.5), squeeze=False)
    axes[0][0].plot(steps, [records[s]["loss"] for s in steps])
    axes[0][0].set(title="training loss", xlabel="step", ylabel="loss per answer token")
    for axis, key in zip(axes[0][1:], evals):
        points = [(s, records[s]["eval"][key]) for s in steps if key in records[s].get("eval", {})]
        axis.plot(*zip(*points), marker="o")
        axis.set(title=key, xlabel="step")
    figure.tight_layout()
    path = Path(run_dir) / "curves.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
