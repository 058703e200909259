"""`audiollm eval`: score a model on test sets, or compare finished reports.

    audiollm eval --model default --data corpus/ --out runs/default
    audiollm eval --model cascade:whisper-base+gemma3-270m --data corpus/test_seen.jsonl --out runs/cascade
    audiollm eval --model http://localhost:8000 --data corpus/ --out runs/served --judge-url http://judge:8001
    audiollm eval --compare runs/default runs/cascade --out runs/compare

Argument parsing only: the work is in `audiollm.evaluate.pipeline`.
"""

from __future__ import annotations

import argparse
import os
import sys

from audiollm.cli.core import threads_option
from audiollm.errors import AudioLLMError, ConfigError, ModelNotFoundError

TASK_CHOICES = ("asr", "st", "sqa", "sds", "si", "para")


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `eval` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser("eval", help="score a model on the six tasks (AudioBench-style metrics)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_argument_group("what to evaluate")
    what.add_argument("--model", help="model name or folder, cascade:<whisper>+<llm>, or http://host:port")
    what.add_argument("--data", nargs="+", metavar="PATH",
                      help="manifest .jsonl, corpus folder (its test*.jsonl) or local HF dataset folder")
    what.add_argument("--out", help="output folder (resumable: a rerun skips finished examples)")
    what.add_argument("--task", choices=TASK_CHOICES, help="task of HF dataset folders without a task column")
    what.add_argument("--limit", type=int, help="at most N examples per task of each test set, evenly spread over it "
                                                "(the text-only and long-form sets built from them are not cut)")
    what.add_argument("--tasks", help="comma-separated tasks to score (default: all), e.g. asr or asr,sqa")
    what.add_argument("--compare", nargs="+", metavar="DIR", help="render these report folders as one table")
    what.add_argument("--labels", nargs="+", help="column names for --compare (default: model names)")
    decoding = parser.add_argument_group("inference")
    decoding.add_argument("--batch-size", type=int, default=8)
    decoding.add_argument("--max-new-tokens", type=int, default=256)
    decoding.add_argument("--temperature", type=float, default=0.0)
    decoding.add_argument("--no-repeat-ngram-size", type=int, default=None, metavar="N",
                          help="forbid any N-gram twice in an answer, against repetition loops (0: off; default: "
                               "the model's own, 6 for the embedded default and MERaLiON-2, off for a model "
                               "folder without generation_config.json; a cascade's Whisper keeps its own decoding)")
    decoding.add_argument("--reader-copy-bias", type=float, default=None, metavar="B",
                          help="lean decoding towards the transcript reader's own reading by B on the logits "
                               "(models with transcript rows; 0: off; default: the model's own)")
    decoding.add_argument("--long-audio", choices=("pass", "audiobench"), default="pass",
                          help="pass whole clips (default) or AudioBench's 30 s cutting")
    decoding.add_argument("--windows", metavar="STRATEGY[:OVERLAP]",
                          help="how an audiollm model cuts long audio: fixed, pause, fixed:2, pause:2 "
                               "(overlap in seconds; default: the model's own)")
    decoding.add_argument("--max-windows", type=int, metavar="N",
                          help="the most 30 s windows per audio for an audiollm model (0: no cap; default: the model's)")
    decoding.add_argument("--transcribe-window", type=float, metavar="SECONDS",
                          help="the longest window an audiollm model's transcription is cut into, each "
                               "transcribed on its own (default: the model's own)")
    decoding.add_argument("--threads", type=threads_option, default=None,
                          help="CPU threads (torch, and faster-whisper in a cascade): a number or 'auto'")
    decoding.add_argument("--quantize", choices=["int8"], default=None,
                          help="an audiollm model's decoders with int8 LM heads and fp16 layers on the CPU "
                               "(audiollm.api.quantize_int8; default: fp32)")
    decoding.add_argument("--device", default="cpu")
    decoding.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: the model's)")
    decoding.add_argument("--cascade-asr", choices=("auto", "faster-whisper", "hf"), default="auto",
                          help="Whisper backend of a cascade model")
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument("--judge-url", help="OpenAI-compatible server for the LLM judge (omit: lexical only)")
    scoring.add_argument("--judge-model", help="judge model id (default: the server's first)")
    scoring.add_argument("--judge-api-key", default=os.environ.get("AUDIOLLM_JUDGE_API_KEY"),
                         help="bearer token for the judge (default: $AUDIOLLM_JUDGE_API_KEY)")
    scoring.add_argument("--judge-workers", type=int, default=4)
    scoring.add_argument("--bleu-tokenize", default="auto",
                         choices=("auto", "flores101", "13a", "zh", "char", "intl", "none"),
                         help="sacrebleu tokeniser (auto: flores101 if cached, else 13a / zh / char)")
    what.add_argument("--text-only", action="store_true",
                      help="also score text-only instruction following (a general set and the data's SI/SQA "
                           "as text prompts): the forgetting check")
    what.add_argument("--no-speech-only", action="store_true",
                      help="score only the clips without speech (silence, noise) of the --data sets, all of "
                           "them (--limit ignored): how often the model invents a transcript")
    longform = parser.add_argument_group("long audio")
    longform.add_argument("--longform", action="store_true",
                          help="also build and score a long-form set (20 s to 10 min) from the data")
    longform.add_argument("--longform-durations", default="20,28,35,60,120,300,600",
                          help="comma-separated target durations in seconds")
    longform.add_argument("--longform-per-duration", type=int, default=2)
    longform.add_argument("--longform-only", action="store_true",
                          help="score only the long-form set (the --data sets are its material)")
    output = parser.add_argument_group("output")
    output.add_argument("--overwrite", action="store_true", help="discard earlier answers in --out")
    output.add_argument("--no-plots", action="store_true")
    output.add_argument("--no-progress", action="store_true")
    parser.set_defaults(run=run)
    return parser


def resolve_responder(name: str, device: str = "cpu", dtype: str | None = None, cascade_asr: str = "auto",
                      batch_size: int = 8, windows: str | None = None, max_windows: int | None = None,
                      threads: int | str | None = None, transcribe_window: float | None = None,
                      quantize: str | None = None):
    """A Responder for a --model value: HTTP server, cascade, or `audiollm.api.load`."""
    count = None
    if threads is not None:
        import torch

        from audiollm.api import cpu_threads

        count = cpu_threads(threads)
        torch.set_num_threads(count)
    if (windows or max_windows is not None or transcribe_window is not None or quantize) and name.startswith(
            ("http://", "https://", "cascade:")):
        raise ConfigError(f"--windows, --max-windows, --transcribe-window and --quantize apply to audiollm models, "
                          f"not {name}")
    if name.startswith(("http://", "https://")):
        from audiollm.evaluate.http_client import HttpResponder

        return HttpResponder(name, api_key=os.environ.get("AUDIOLLM_API_KEY"))
    if name.startswith("cascade:"):
        from audiollm.cascade import load_cascade

        return load_cascade(name, device=device, dtype=_torch_dtype(dtype), asr_backend=cascade_asr,
                            batch_size=batch_size, threads=count or 0)
    try:
        from audiollm.api import load
    except ImportError:
        raise ModelNotFoundError("audiollm.api is not available in this install; use a cascade:... "
                                 "or http://... model") from None
    options = {"dtype": dtype} if dtype else {}  # the API has its own default dtype
    return load(name, device=device, batch_size=batch_size, windows=windows, max_windows=max_windows,
                transcribe_window=transcribe_window, quantize=quantize, **options)


def _torch_dtype(name: str | None):
    if name is None:
        return None
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"unknown dtype {name!r}; use float32, bfloat16 or float16")
    return dtype


def _tasks(text: str) -> set[str]:
    wanted = {t.strip() for t in text.split(",") if t.strip()}
    unknown = wanted - set(TASK_CHOICES) - {"text"}
    if unknown or not wanted:
        raise ConfigError(f"--tasks takes a comma-separated list of {', '.join(TASK_CHOICES)}, text; "
                          f"not {text!r}")
    return wanted


def _durations(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--longform-durations must be comma-separated seconds, not {text!r}") from None
    if not values or min(values) <= 0:
        raise ConfigError("--longform-durations needs positive seconds")
    return values


def _evaluate(args) -> int:
    """The scoring run behind `audiollm eval --model ...`."""
    from pathlib import Path

    from audiollm.data.manifest import is_no_speech
    from audiollm.evaluate.data import EvalSet, load_eval_set
    from audiollm.evaluate.pipeline import evaluate, limit_sets
    from audiollm.evaluate.runner import Decoding

    if not (args.model and args.data and args.out):
        raise ConfigError("eval needs --model, --data and --out (or --compare DIR...)")
    decoding = Decoding(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                        long_audio=args.long_audio, no_repeat_ngram_size=args.no_repeat_ngram_size,
                        reader_copy_bias=args.reader_copy_bias)
    material = [s for path in args.data for s in load_eval_set(path, args.task)]
    if args.no_speech_only:
        if args.longform_only or args.text_only:
            raise ConfigError("--no-speech-only scores the silent clips alone: drop --longform-only / --text-only")
        sets = [EvalSet(s.name, s.path, [e for e in s.examples if is_no_speech(e)]) for s in material]
        if not any(s.examples for s in sets):
            raise ConfigError(f"--no-speech-only: {' '.join(args.data)} hold no clip marked no_speech")
    else:
        sets = [] if args.longform_only else limit_sets(material, args.limit)
    if args.text_only:
        from audiollm.evaluate.textonly import text_only_sets

        sets += text_only_sets(sets)
    if args.longform or args.longform_only:
        from audiollm.evaluate.longform import build_longform

        manifest = build_longform(material, Path(args.out) / "longform", _durations(args.longform_durations),
                                  args.longform_per_duration)
        sets += load_eval_set(manifest)
    if args.tasks:
        wanted = _tasks(args.tasks)
        sets = [EvalSet(s.name, s.path, [e for e in s.examples if e.task in wanted]) for s in sets]
    judge = None
    if args.judge_url:
        from audiollm.evaluate.judge import JudgeClient

        judge = JudgeClient(args.judge_url, args.judge_model, args.judge_api_key, workers=args.judge_workers)
    responder = resolve_responder(args.model, device=args.device, dtype=args.dtype, cascade_asr=args.cascade_asr,
                                  batch_size=args.batch_size, windows=args.windows, max_windows=args.max_windows,
                                  threads=args.threads, transcribe_window=args.transcribe_window,
                                  quantize=args.quantize)
    report = evaluate(responder, sets, args.out, decoding=decoding, batch_size=args.batch_size, judge=judge,
                      bleu_tokenize=args.bleu_tokenize, overwrite=args.overwrite,
                      progress=not args.no_progress, plots=not args.no_plots)
    from audiollm.evaluate.report import headline_scores

    for task, (metric, value) in headline_scores(report).items():
        print(f"{task:5s} {metric:15s} {value:7.2f}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def run(args) -> int:
    """Entry point of the subcommand; user errors become one line on stderr and exit code 2."""
    try:
        if args.compare:
            from audiollm.evaluate.pipeline import compare

            print(compare(args.compare, args.out, args.labels, plots=not args.no_plots))
            return 0
        return _evaluate(args)
    except AudioLLMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
