"""What a corpus contains: hours per split, task, language, engine and voice, as a dict and as a table."""

from __future__ import annotations

from collections import defaultdict

from audiollm.data.conventions import SPLITS

TASK_ORDER = ("asr", "st", "sqa", "sds", "si", "para")


def _add(table: dict, key, seconds: float) -> None:
    entry = table.setdefault(key, {"examples": 0, "hours": 0.0})
    entry["examples"] += 1
    entry["hours"] += seconds / 3600


def _round(table: dict) -> dict:
    return {k: {"examples": v["examples"], "hours": round(v["hours"], 4)} for k, v in sorted(table.items())}


def summarize(rows: list[dict], wall_seconds: float = 0.0, args: dict | None = None,
              errors: list[str] | None = None) -> dict:
    """Counts and hours of manifest rows grouped every way the issue asks for."""
    groups: dict[str, dict] = defaultdict(dict)
    split_task: dict = defaultdict(lambda: defaultdict(float))
    durations = []
    no_speech = 0
    for row in rows:
        seconds = float(row["duration"])
        durations.append(seconds)
        no_speech += bool(row.get("meta", {}).get("no_speech"))
        _add(groups["split"], row["split"], seconds)
        _add(groups["task"], row["task"], seconds)
        _add(groups["language"], row["language"], seconds)
        split_task[row["split"]][row["task"]] += seconds / 3600
        speakers = row.get("speakers") or [{"engine": "none", "voice": "none"}]
        for speaker in speakers:
            # A dialogue's duration is shared between its voices.
            share = seconds / len(speakers)
            _add(groups["engine"], speaker.get("engine"), share)
            _add(groups["voice"], f"{speaker.get('engine')}:{speaker.get('voice')}", share)
    durations.sort()
    total_hours = sum(durations) / 3600
    return {
        "total": {"examples": len(rows), "hours": round(total_hours, 4)},
        **{f"by_{name}": _round(table) for name, table in groups.items()},
        "by_split_task": {s: {t: round(h, 4) for t, h in sorted(v.items())} for s, v in split_task.items()},
        "no_speech_examples": no_speech,
        "durations": {"max": round(durations[-1], 2) if durations else 0.0,
                      "median": round(durations[len(durations) // 2], 2) if durations else 0.0,
                      "share_at_most_15s": round(sum(d <= 15 for d in durations) / max(len(durations), 1), 3)},
        "wall_seconds": round(wall_seconds, 1),
        "args": args or {},
        "errors": {"count": len(errors or []), "first": (errors or [])[:20]},
    }


def format_summary(summary: dict) -> str:
    """A plain-text table: hours per split x task, then per language and per engine."""
    header = f"{'split':<22}" + "".join(f"{t:>8}" for t in TASK_ORDER) + f"{'total':>9}{'n':>8}"
    lines = [header, "-" * len(header)]
    for split in SPLITS:
        if split not in summary.get("by_split", {}):
            continue
        cells = summary["by_split_task"].get(split, {})
        lines.append(f"{split:<22}" + "".join(f"{cells.get(t, 0.0):>8.2f}" for t in TASK_ORDER)
                     + f"{summary['by_split'][split]['hours']:>9.2f}{summary['by_split'][split]['examples']:>8}")
    total = summary["total"]
    lines.append(f"{'total hours':<22}" + "".join(f"{summary['by_task'].get(t, {}).get('hours', 0.0):>8.2f}"
                                                   for t in TASK_ORDER) + f"{total['hours']:>9.2f}{total['examples']:>8}")
    lines.append("languages: " + ", ".join(f"{k} {v['hours']:.2f} h" for k, v in summary.get("by_language", {}).items()))
    lines.append("engines:   " + ", ".join(f"{k} {v['hours']:.2f} h" for k, v in summary.get("by_engine", {}).items()))
    lines.append(f"voices: {len(summary.get('by_voice', {}))}, no-speech examples: {summary['no_speech_examples']}, "
                 f"median clip {summary['durations']['median']} s, max {summary['durations']['max']} s, "
                 f"<=15 s: {summary['durations']['share_at_most_15s']:.0%}")
    wall = summary.get("wall_seconds", 0.0)
    if wall:
        lines.append(f"wall time {wall / 60:.1f} min ({total['hours'] * 3600 / wall:.0f}x real time)")
    if summary["errors"]["count"]:
        lines.append(f"{summary['errors']['count']} examples failed and were skipped; first: "
                     f"{summary['errors']['first'][0]}")
    return "\n".join(lines)
