"""Subcommands that use a model directly: transcribe, ask, translate, summarize, describe, chat, build, info."""

from __future__ import annotations

import argparse
import json
import sys

from audiollm.errors import AudioLLMError, ConfigError


def threads_option(value: str) -> int | str:
    """--threads: a positive number of torch CPU threads, or "auto" (the cores idle right now)."""
    if value == "auto":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', got {value!r}")


def add_cpu_options(parser) -> None:
    """--quantize and --threads, shared by the one-shot commands and `audiollm serve`."""
    parser.add_argument("--quantize", choices=["int8"], default=None,
                        help="int8: int8 LM head and fp16 decoder layers for CPU inference (docs/performance.md)")
    parser.add_argument("--threads", type=threads_option, default=None,
                        help="torch CPU threads: a number, or 'auto' (the cores idle now); default: torch's own")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="default", help="model folder, or 'default' (the embedded model)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    add_cpu_options(parser)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--no-repeat-ngram-size", type=int, default=None, metavar="N",
                        help="forbid any N-gram twice in an answer (0: off); default: the model's own "
                             "(6 for the embedded default, see `audiollm info`)")
    parser.add_argument("--reader-copy-bias", type=float, default=None, metavar="B",
                        help="lean decoding towards Whisper's own reading by B on the logits (models with "
                             "transcript rows; 0: off); default: the model's own (see `audiollm info`)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input file, with a `text` field")


def register(subparsers) -> None:
    for name, help_text in [
        ("transcribe", "verbatim transcript of each file"),
        ("summarize", "summary of each recording"),
        ("describe", "speaker and paralinguistic description of each file"),
    ]:
        parser = subparsers.add_parser(name, help=help_text)
        parser.add_argument("files", nargs="+", metavar="FILE")
        _model_options(parser)
        parser.set_defaults(run=_run_task, task=name)

    ask = subparsers.add_parser("ask", help="ask a question about audio")
    ask.add_argument("files", nargs="+", metavar="FILE")
    ask.add_argument("instruction", help="the question or instruction (last argument)")
    _model_options(ask)
    ask.set_defaults(run=_run_task, task="ask")

    translate = subparsers.add_parser("translate", help="translate speech into another language")
    translate.add_argument("files", nargs="+", metavar="FILE")
    translate.add_argument("--to", default="Chinese", help="target language, e.g. Chinese, Malay, Tamil, English")
    _model_options(translate)
    translate.set_defaults(run=_run_task, task="translate")

    chat = subparsers.add_parser("chat", help="interactive multi-turn chat; '/audio FILE' attaches audio")
    _model_options(chat)
    chat.set_defaults(run=_run_chat)

    build = subparsers.add_parser("build", help="assemble a new AudioLLM folder from a Whisper and a causal LM")
    build.add_argument("--encoder", required=True, help="whisper-base, whisper-tiny.en, a CT2/HF Whisper folder, or a hub id")
    build.add_argument("--decoder", required=True, help="gemma3-270m, smollm2-135m, a .gguf file, an HF folder, or a hub id")
    build.add_argument("--adaptor", default="meralion-v1",
                       help="meralion-v1 (MLP, the default), meralion-v2 (gated MLP), qformer or conv-mlp")
    build.add_argument("--out", required=True, help="output model folder")
    build.add_argument("--seed", type=int, default=0, help="seed of the (untrained) adaptor's initialisation")
    build.set_defaults(run=_run_build)

    info = subparsers.add_parser("info", help="describe a model folder (or 'default')")
    info.add_argument("model", nargs="?", default="default")
    info.set_defaults(run=_run_info)


def _load(args):
    from audiollm.api import load

    assistant = load(args.model, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                     quantize=args.quantize, threads=args.threads)
    if assistant.notice:
        print(f"audiollm: note: {assistant.notice}", file=sys.stderr)
    return assistant


def _settings(args):
    from audiollm.api import GenerationSettings

    if args.no_repeat_ngram_size is not None and args.no_repeat_ngram_size < 0:
        raise ConfigError(f"--no-repeat-ngram-size must be 0 (off) or more, not {args.no_repeat_ngram_size}")
    if args.reader_copy_bias is not None and args.reader_copy_bias < 0:
        raise ConfigError(f"--reader-copy-bias must be 0 (off) or more, not {args.reader_copy_bias}")
    return GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                              no_repeat_ngram_size=args.no_repeat_ngram_size, reader_copy_bias=args.reader_copy_bias)


def _run_task(args) -> int:
    from audiollm.api import as_waveform

    # Decode every file and check the settings first: a mistake fails the command before the model loads.
    audios = [as_waveform(path) for path in args.files]
    settings = _settings(args)
    assistant = _load(args)
    if args.task == "transcribe":
        texts = assistant.transcribe(audios, settings)
    elif args.task == "ask":
        texts = assistant.ask(audios, args.instruction, settings)
    elif args.task == "translate":
        texts = assistant.translate(audios, to=args.to, settings=settings)
    elif args.task == "summarize":
        texts = assistant.summarize(audios, settings)
    else:
        texts = assistant.describe(audios, settings)
    for path, text in zip(args.files, texts):
        if args.json:
            print(json.dumps({"file": path, "task": args.task, "model": assistant.name, "text": text}, ensure_ascii=False))
        elif len(args.files) > 1:
            print(f"{path}: {text}")
        else:
            print(text)
    return 0


def _run_chat(args) -> int:
    from audiollm.api import as_waveform
    from audiollm.processor import Turn

    assistant = _load(args)
    settings = _settings(args)
    history, pending_audio = [], []
    print("audiollm chat: type a message; '/audio FILE' attaches audio to your next message, '/reset', '/quit'.")
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return 0
        if line in ("/quit", "/exit"):
            return 0
        if line == "/reset":
            history, pending_audio = [], []
            continue
        if line.startswith("/audio "):
            try:
                pending_audio.append(as_waveform(line[len("/audio "):].strip()))
                print(f"(audio attached: {len(pending_audio)} pending)")
            except AudioLLMError as error:
                print(f"audiollm: error: {error}")
            continue
        if not line and not pending_audio:
            continue
        turn = Turn("user", line or "Please respond to this audio.", pending_audio)
        try:
            pieces = []
            print("model> ", end="", flush=True)
            for piece in assistant.stream(history + [turn], settings):
                pieces.append(piece)
                print(piece, end="", flush=True)
            print()
        except AudioLLMError as error:
            print(f"\naudiollm: error: {error}")
            continue
        history += [turn, Turn("assistant", "".join(pieces).strip())]
        pending_audio = []


def _run_build(args) -> int:
    from audiollm.convert.build import build_audiollm

    folder = build_audiollm(args.encoder, args.decoder, args.out, adaptor=args.adaptor, seed=args.seed)
    print(f"built {folder} (its adaptor is untrained: train it with `audiollm train`)")
    return 0


def _run_info(args) -> int:
    from audiollm.convert.build import describe_model

    print(json.dumps(describe_model(args.model), indent=2, ensure_ascii=False))
    return 0
