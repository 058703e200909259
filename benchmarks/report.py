"""Render benchmarks/RESULTS.md from the JSON that each benchmark script writes (see common.Results).

The GPU section (benchmarks/gpu_meralion.py, run by hand on a GPU machine) is not produced by
`make bench`; it is kept from the existing RESULTS.md between the GPU markers, or filled from a
gpu_meralion.py --json file passed with --gpu-json.
"""

from __future__ import annotations

import re

GPU_START, GPU_END = "<!-- gpu:start -->", "<!-- gpu:end -->"
GPU_PLACEHOLDER = ("Not measured yet. On a GPU machine: `python benchmarks/gpu_meralion.py --json gpu.json`; then, "
                   "here, `python benchmarks/run_all.py --gpu-json gpu.json --only none` writes this section.")

# Per section: (title, [(column header, value key or callable, format)], explanation).
SECTIONS = {
    "features": ("Log-mel features: audiollm vs transformers' WhisperFeatureExtractor", [
        ("extractor ms", "extractor_ms", "{:.1f}"), ("audiollm ms", "ours_ms", "{:.1f}"),
        ("audiollm ms / 30 s", "ours_ms_per_30s", "{:.1f}"), ("audiollm ms / 10 min", "ours_ms_per_10min", "{:.0f}"),
        ("max abs diff", "max_abs_diff", "{:.1e}"), ("per-window ms", "per_window_ms", "{:.0f}"),
        ("one call ms", "one_call_ms", "{:.0f}"), ("processor ms", "processor_ms", "{:.0f}")],
        "Ratio = extractor time / audiollm time (> 1: audiollm faster). Same audio, same process, alternating."),
    "encoding": ("Speech encoding: 30 s padded windows vs real length (default model, Whisper base)", [
        ("fixed ms", "fixed_ms", "{:.0f}"), ("real ms", "real_ms", "{:.0f}"), ("speech tokens fixed/real",
         lambda v: f"{v['fixed_tokens']}/{v['real_tokens']}" if "fixed_tokens" in v else "", "{}"),
        ("1 thread ms", "one_thread_ms", "{:.0f}"), ("2 threads ms", "two_threads_ms", "{:.0f}")],
        "Ratio = fixed time / real time, encoder + ln_speech + adaptor."),
    "generation": ("Text generation of the default model (Gemma 3 270M decoder)", [
        ("prefill tok/s", "prefill_tok_s", "{:.0f}"), ("decode tok/s", "decode_tok_s", "{:.1f}"),
        ("ms/token", "decode_ms_per_token", "{:.1f}"), ("weights MB/token", "weight_mb_per_token", "{:.0f}"),
        ("bound tok/s", "bound_tok_s", "{:.1f}"), ("copy GB/s", "bandwidth_gbs", "{:.1f}"),
        ("threads", "threads", "{}")],
        "Ratio = decode tokens/s / bandwidth bound (copy bandwidth / weight bytes read per token)."),
    "end_to_end": ("End to end: fused default model vs cascade (faster-whisper + the same LLM)", [
        ("seconds", "seconds", "{:.2f}"), ("audio s", "audio_seconds", "{:.0f}"), ("RTF", "rtf", "{:.3f}")],
        "Fixed answer lengths on both sides (the same work whatever the model says): 32 tokens for "
        "the 5 s question, 75 per 30 s window for fused transcription, 128 for summaries."),
    "quantization": ("What int8 changes (WER / BLEU, int8 vs fp32)", [
        ("WER fp32", "wer_fp32", "{:.3f}"), ("WER int8", "wer_int8", "{:.3f}"),
        ("WER int8 vs fp32", "wer_int8_vs_fp32", "{:.3f}"), ("BLEU vs fp32", "bleu_vs_fp32", "{:.1f}"),
        ("top-1 agreement", "top1_agreement", "{:.3f}"), ("KL(fp32 ‖ variant)", "kl_fp32", "{:.4f}")],
        "WER against espeak-ng clips' true transcripts, and of the int8 output against the fp32 output."),
    "training": ("Training: the default recipe on this CPU", [
        ("samples/s", "samples_per_s", "{:.2f}"), ("tokens/s", "tokens_per_s", "{:.0f}"),
        ("labelled tok/s", "labelled_tokens_per_s", "{:.1f}"), ("s/step", "seconds_per_step", "{:.1f}"),
        ("data", "share_data", "{:.1%}"), ("encoder", "share_encoder", "{:.0%}"),
        ("decoder fwd+bwd", "share_decoder", "{:.0%}"), ("optimiser", "share_optimiser", "{:.0%}"),
        ("first loss", "first_loss", "{:.4f}")],
        "Shares of step time; tokens/s counts every prompt and answer token (speech placeholders included). "
        "Precisions run one after the other on the same data; ratio = samples/s over the fp32 row; first "
        "loss = the warm-up step's loss (same weights, same batch)."),
}


def _cell(values: dict, key, fmt: str) -> str:
    value = key(values) if callable(key) else values.get(key)
    if value is None or value == "":
        return ""
    return _escape(fmt.format(value))


def _escape(text: str) -> str:
    """A table cell: a literal | would end the cell."""
    return str(text).replace("|", "\\|")


def section_table(name: str, rows: list[dict]) -> list[str]:
    """A markdown table of one section's rows: case, its columns (only those with values), ratio, command."""
    title, columns, explanation = SECTIONS[name]
    used = [c for c in columns if any(_cell(r["values"], c[1], c[2]) for r in rows)]
    lines = [f"## {title}", "", explanation, "",
             "| case | " + " | ".join(c[0] for c in used) + " | ratio | reproduce |",
             "|---" * (len(used) + 3) + "|"]
    for result in rows:
        ratio = "" if result["ratio"] is None else f"{result['ratio']:.2f}"
        cells = [_cell(result["values"], key, fmt) for _, key, fmt in used]
        lines.append(f"| {_escape(result['case'])} | " + " | ".join(cells) + f" | {ratio} | `{result['command']}` |")
    return lines + [""]


def targets_table(payloads: list[dict]) -> list[str]:
    lines = ["## Targets (issue #7)", "", "| target | measured | met |", "|---|---|---|"]
    for payload in payloads:
        for target in payload.get("targets", []):
            met = {True: "yes", False: "**no**", None: "reported"}[target["met"]]
            lines.append(f"| {_escape(target['target'])} | {_escape(target['measured'])} | {met} |")
    return lines + [""]


def machine_lines(payloads: list[dict]) -> list[str]:
    machine = payloads[0]["machine"] if payloads else {}
    lines = ["## Machine", "",
             f"{machine.get('cpu', '?')} ({machine.get('isa', '?')}), {machine.get('cores', '?')} cores, "
             f"{machine.get('memory_gib', '?')} GiB; "
             f"Python {machine.get('python', '?')}, torch {machine.get('torch', '?')}, transformers "
             f"{machine.get('transformers', '?')}; measured {machine.get('date', '?')}.", "",
             "Shared machine: other jobs ran at the same time, so absolute times vary run to run; each ratio "
             "compares things measured side by side in one process. Load average (1, 5, 15 min) around each script:",
             ""]
    for payload in payloads:
        lines.append(f"- {payload['script']} ({payload['machine'].get('date', '?')}): before {payload['load_before']}, "
                     f"after {payload['load_after']}; torch threads {payload['machine'].get('torch_threads')}")
    return lines + [""]


def gpu_section(existing: str | None, gpu: dict | None) -> list[str]:
    """The GPU section: from a gpu_meralion.py JSON if given, else kept from the existing file."""
    if gpu is None:
        match = re.search(re.escape(GPU_START) + r"\n(.*?)" + re.escape(GPU_END), existing or "", re.S)
        body = match.group(1).rstrip("\n") if match else GPU_PLACEHOLDER
        return ["## GPU: MERaLiON-sized model (item 4)", "", GPU_START, body, GPU_END, ""]
    lines = [f"Device: {gpu['device']}, torch {gpu['torch']}; `python benchmarks/gpu_meralion.py` "
             f"({gpu['seconds']:.0f} s).", "",
             "| batch | encoder windows/s | prefill tok/s | decode tok/s | ms/step | bound tok/s | of bound |",
             "|---|---|---|---|---|---|---|"]
    for result in gpu["inference"]:
        lines.append(f"| {result['batch']} | {result['encoder_windows_per_s']:.1f} | "
                     f"{result['prefill_tokens_per_s']:.0f} | "
                     f"{result['decode_tokens_per_s']:.1f} | {result['decode_ms_per_step']:.1f} | "
                     f"{result['bound_tokens_per_s']:.0f} | {result['share_of_bound']:.0%} |")
    first = gpu["inference"][0]
    lines += ["", f"Bound: batch x {first['bandwidth_gbs']:.0f} GB/s copy bandwidth / {first['weight_gb']:.2f} GB "
              "of decoder weights read per step (bf16, random weights, Whisper-large-v2 + Gemma-2-9B shapes).", ""]
    if gpu.get("training"):
        lines += ["| training (default recipe) | samples/s | tokens/s | s/step | encoder | decoder+rest | optimiser |",
                  "|---|---|---|---|---|---|---|"]
        for result in gpu["training"]:
            lines.append(f"| {result['precision']} ({result.get('lora', '')}) | {result['samples_per_s']:.1f} | "
                         f"{result['tokens_per_s']:.0f} | {result['seconds_per_step']:.3f} | "
                         f"{result['share_encoder']:.0%} | {result['share_decoder_and_rest']:.0%} | "
                         f"{result['share_optimiser']:.0%} |")
    return ["## GPU: MERaLiON-sized model (item 4)", "", GPU_START, *lines, GPU_END, ""]


def render(payloads: list[dict], existing: str | None, gpu: dict | None, failures: list[str]) -> str:
    """The whole RESULTS.md."""
    lines = ["# Benchmark results", "",
             "Written by `make bench` (`python benchmarks/run_all.py`); every ratio compares things measured side by "
             "side in one process (alternating, best of N). Each row's last column reproduces it. What the "
             "numbers mean and what was changed for them: docs/performance.md.", ""]
    lines += targets_table(payloads)
    if failures:
        lines += ["Scripts that did not finish in this run: " + "; ".join(failures), ""]
    lines += machine_lines(payloads)
    by_section: dict[str, list[dict]] = {}
    for payload in payloads:
        for result in payload["rows"]:
            by_section.setdefault(result["section"], []).append(result)
    for name in SECTIONS:
        if name in by_section:
            lines += section_table(name, by_section[name])
    lines += gpu_section(existing, gpu)
    lines += ["## Commands", "", "Each script as run_all.py ran it (`make bench` runs them all):", "",
              *[f"- `{p['run_command']}` ({p['machine'].get('date', '?')})"
                for p in payloads if "run_command" in p], ""]
    return "\n".join(lines)
