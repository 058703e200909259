"""The `audiollm` command: argument parsing only; every subcommand calls library functions.

Each module in this package adds its subcommands with `register(subparsers)` and sets `run`, a
function of the parsed arguments returning the exit status. User errors (AudioLLMError) become one
line on stderr and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from audiollm.errors import AudioLLMError

# Subcommand modules, in the order `audiollm --help` lists them.
_COMMAND_MODULES = ["core", "synth", "evaluate", "train", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiollm", description="Speech-text LLMs: ask questions about audio, build, train, evaluate, serve."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"audiollm.cli.{name}").register(subparsers)
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line. `audiollm train` also takes key=value overrides after its options
    (`--nproc 2 steps=50`): argparse alone stops collecting a positional list at the first option."""
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    try:
        return int(args.run(args) or 0)
    except AudioLLMError as error:
        print(f"audiollm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("audiollm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
