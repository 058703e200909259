"""`audiollm serve`: an OpenAI-compatible HTTP server for a model.

    audiollm serve --model default --host 127.0.0.1 --port 8000
    AUDIOLLM_API_KEY=secret audiollm serve --model runs/my-model --host 0.0.0.0 --max-batch-size 16

Argument parsing only: the server is `audiollm.serve.create_app`. See docs/serving.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from audiollm.cli.core import add_cpu_options
from audiollm.errors import AudioLLMError


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `serve` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser("serve", help="run an OpenAI-compatible HTTP server (chat, transcription)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="default", help="model name or folder (default: the embedded model)")
    model.add_argument("--served-model-name", help="the id clients use (default: the --model value)")
    model.add_argument("--device", default="cpu")
    model.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    add_cpu_options(model)
    network = parser.add_argument_group("network")
    network.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all interfaces)")
    network.add_argument("--port", type=int, default=8000)
    network.add_argument("--api-key", default=os.environ.get("AUDIOLLM_API_KEY"),
                         help="require `Authorization: Bearer KEY` (default: $AUDIOLLM_API_KEY; unset: no key)")
    network.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    batching = parser.add_argument_group("batching")
    batching.add_argument("--max-batch-size", type=int, default=8, help="conversations per model call (1: off)")
    batching.add_argument("--max-wait-ms", type=float, default=10.0,
                          help="how long a request may wait for others to fill its batch")
    limits = parser.add_argument_group("limits (beyond them a 4xx JSON error)")
    limits.add_argument("--max-upload-mb", type=float, default=25.0, help="request body size")
    limits.add_argument("--max-audio-seconds", type=float, default=None,
                        help="length of one audio (default: the model's long-audio cap, e.g. 300)")
    limits.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request")
    limits.add_argument("--max-queue", type=int, default=64, help="requests waiting for the model (then 429)")
    limits.add_argument("--max-header-kb", type=float, default=16.0, help="request header size (then 431)")
    limits.add_argument("--default-max-tokens", type=int, default=256, help="answer length when a request names none")
    limits.add_argument("--max-tokens-limit", type=int, default=4096, help="the most max_tokens a request may ask")
    safety = parser.add_argument_group("operator switches (off: only inline base64 audio is read)")
    safety.add_argument("--allow-local-files", action="store_true",
                        help="read file:// URLs and paths named in requests (trusted clients only)")
    safety.add_argument("--allow-remote-urls", action="store_true",
                        help="fetch http(s) audio URLs named in requests (the server reaches its network)")
    parser.set_defaults(run=run)
    return parser


def settings_from_args(args):
    """The ServerSettings the flags describe (raises ConfigError for impossible values)."""
    from audiollm.serve.settings import ServerSettings

    return ServerSettings(
        model_id=args.served_model_name or args.model, max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms, max_queue=args.max_queue, max_upload_mb=args.max_upload_mb,
        max_audio_seconds=args.max_audio_seconds, request_timeout=args.request_timeout,
        max_header_kb=args.max_header_kb, default_max_tokens=args.default_max_tokens,
        max_tokens_limit=args.max_tokens_limit, api_key=args.api_key or None,
        allow_local_files=args.allow_local_files, allow_remote_urls=args.allow_remote_urls,
    )


def run(args) -> int:
    """Load the model and serve until interrupted; user errors become one line and exit code 2."""
    try:
        from audiollm.api import load
        from audiollm.serve import create_app, serve

        settings = settings_from_args(args)
        assistant = load(args.model, device=args.device, dtype=args.dtype, batch_size=args.max_batch_size,
                         quantize=args.quantize, threads=args.threads)
    except AudioLLMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if assistant.notice:
        print(f"note: {assistant.notice}", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        print(f"warning: listening on {args.host} without an API key; anyone who can reach it can use it "
              "(set AUDIOLLM_API_KEY or --api-key)", file=sys.stderr)
    print(f"serving {settings.model_id} on http://{args.host}:{args.port}/v1", file=sys.stderr)
    serve(create_app(assistant, settings), args.host, args.port, settings, log_level=args.log_level)
    return 0
