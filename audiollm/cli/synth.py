"""`audiollm synth`: build the synthetic six-task corpus and the real-speech test sets.

Argument parsing only; the work is `audiollm.data.synthesize.build_corpus`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiollm.data.conventions import FULL_WINDOW_DEFAULT_SOURCES, FULL_WINDOW_SOURCES
from audiollm.data.voices import DEFAULT_NEURAL_SPEAKERS, NEURAL_INSTALL, NEURAL_SPEAKERS
from audiollm.errors import AudioLLMError

TASK_CHOICES = ("asr", "st", "sqa", "sds", "si", "para")
LANGUAGE_CHOICES = ("en", "zh", "ms", "ta")


def _csv(choices):
    def parse(text: str) -> tuple:
        """'asr,st' -> ('asr', 'st'), rejecting names outside `choices`."""
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        bad = [v for v in values if v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(choices)}, got {text!r}")
        return values
    return parse


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `synth` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "synth", help="build the synthetic training/test corpus and the real-speech test sets",
        description="Build a seeded, resumable Singapore-flavoured corpus for the six tasks (ASR, ST, SQA, SDS, "
                    "SI, PARA) in English, Mandarin, Malay and Tamil, plus real-speech ASR test sets from "
                    "installed packages. Rerunning the same command resumes an interrupted build.")
    parser.add_argument("--out", type=Path, required=True, help="corpus folder (manifests, audio, summary.json)")
    parser.add_argument("--hours", type=float, default=1.0,
                        help="target hours of synthetic audio (default 1; small builds are padded so every "
                             "split has every task)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed and arguments, same corpus")
    parser.add_argument("--workers", type=int, default=2, help="parallel render processes (default 2)")
    parser.add_argument("--tasks", type=_csv(TASK_CHOICES), default=None,
                        help=f"comma-separated subset of {','.join(TASK_CHOICES)} (default: all)")
    parser.add_argument("--languages", type=_csv(LANGUAGE_CHOICES), default=None,
                        help=f"comma-separated subset of {','.join(LANGUAGE_CHOICES)} (default: all)")
    real = parser.add_mutually_exclusive_group()
    real.add_argument("--no-real", action="store_true", help="skip the real-speech test sets")
    real.add_argument("--real-only", action="store_true", help="only (re)build the real-speech test sets")
    parser.add_argument("--real-limit", type=int, default=None, help="at most this many real clips per source")
    parser.add_argument("--open-text-hours", type=float, default=0.0,
                        help="add this many hours of English ASR reading free sentences from Debian's `fortunes` "
                             "package (train, plus a held-out test_open_text split in unseen voices); default 0")
    parser.add_argument("--open-passage-hours", type=float, default=0.0,
                        help="add this many hours of passages, 2-4 of those free sentences read by one voice (10-28 s): "
                             "train_open_passages.jsonl and a held-out test_open_passages.jsonl; default 0")
    parser.add_argument("--neural-voice-hours", type=float, default=0.0,
                        help="add this many hours of the free sentences and passages read by neural voices at "
                             f"many pitch shifts (train_neural_voice.jsonl; needs {NEURAL_INSTALL}); default 0")
    parser.add_argument("--neural-voices", type=_csv(NEURAL_SPEAKERS), default=DEFAULT_NEURAL_SPEAKERS,
                        help=f"comma-separated neural voices that read --neural-voice-hours, drawn alike: any of "
                             f"{','.join(NEURAL_SPEAKERS)} (default: {','.join(DEFAULT_NEURAL_SPEAKERS)})")
    parser.add_argument("--long-hours", type=float, default=0.0,
                        help="add this many hours of 35-120 s training recordings joined from train clips (long "
                             "ASR, and spoken QA with the dialogue hidden among other speech): train_long.jsonl, "
                             "for models that must follow several 30 s windows; default 0")
    parser.add_argument("--full-window-hours", type=float, default=0.0,
                        help="add this many hours of 20-29.5 s ASR recordings, one voice's clips joined: "
                             "train_full_window.jsonl, so that a model learns to copy transcripts as long as a whole "
                             "30 s window; default 0")
    parser.add_argument("--full-window-from", type=_csv(FULL_WINDOW_SOURCES), default=FULL_WINDOW_DEFAULT_SOURCES,
                        help=f"comma-separated training splits whose ASR clips --full-window-hours joins, any of "
                             f"{','.join(FULL_WINDOW_SOURCES)} (default: {','.join(FULL_WINDOW_DEFAULT_SOURCES)})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the build; returns the process exit status (0 ok, 1 user error, 2 some examples failed)."""
    from audiollm.data.synthesize import BuildRequest, build_corpus

    if args.workers < 1:
        print("audiollm synth: --workers must be at least 1", file=sys.stderr)
        return 1
    for flag, hours in (("--open-text-hours", args.open_text_hours), ("--open-passage-hours", args.open_passage_hours),
                        ("--neural-voice-hours", args.neural_voice_hours), ("--long-hours", args.long_hours),
                        ("--full-window-hours", args.full_window_hours)):
        if hours < 0 or (hours > 0 and args.real_only):
            print(f"audiollm synth: {flag} must be >= 0 and needs the synthetic build (not --real-only)",
                  file=sys.stderr)
            return 1
    request = BuildRequest(out=args.out, hours=args.hours, seed=args.seed, workers=args.workers,
                           tasks=args.tasks, languages=args.languages, synthetic=not args.real_only,
                           real=not args.no_real, real_limit=args.real_limit, open_text_hours=args.open_text_hours,
                           open_passage_hours=args.open_passage_hours,
                           neural_voice_hours=args.neural_voice_hours, neural_voices=args.neural_voices,
                           long_hours=args.long_hours, full_window_hours=args.full_window_hours,
                           full_window_from=args.full_window_from,
                           progress=not args.quiet)
    try:
        summary = build_corpus(request)
    except AudioLLMError as error:
        print(f"audiollm synth: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("audiollm synth: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 2 if summary["errors"]["count"] else 0


def main(argv=None) -> int:
    """Stand-alone entry point (`python -m audiollm.cli.synth ...`) until the top-level CLI is wired."""
    parser = argparse.ArgumentParser(prog="audiollm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synth", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
