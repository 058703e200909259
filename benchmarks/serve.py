"""Serving benchmark: requests/s and p50/p99 latency at several concurrencies, with and without batching.

    python benchmarks/serve.py                       # tiny test model on CPU (seconds)
    python benchmarks/serve.py --model small --device cuda --requests 64
    python benchmarks/serve.py --model default       # the embedded model, once `audiollm.load` has it

For each mode (batching: --max-batch-size/--max-wait-ms; no batching: batch size 1, no wait) a server
process is started on a free 127.0.0.1 port, warmed up, and loaded by a separate client process
(this one) with N chat requests (one audio clip + "Please transcribe this speech.", greedy,
--max-tokens) from C concurrent clients. Both modes run in the same invocation on the same machine, so
the printed ratios compare like with like.

Models: "tiny" is the 2-layer test model of tests/tiny_models.py (it measures the server's own
overhead); "small" has random weights in the default model's geometry (Whisper tiny encoder: 4 layers,
d_model 384; SmolLM2-135M decoder: 30 layers, d_model 576) with the test tokenizer; any other name goes
to `audiollm.load`. The table's "tokens" column is the mean answer length the server counted.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def build_assistant(name: str, device: str, batch_size: int):
    """The model to serve (see the module docstring)."""
    import torch

    from audiollm.api import AudioAssistant, load
    from audiollm.model import AudioLLM
    from audiollm.processor import AudioLLMProcessor

    if name not in ("tiny", "small"):
        return load(name, device=device, batch_size=batch_size)
    sys.path.insert(0, str(ROOT / "tests"))  # the tiny tokenizer and config are built in code there
    from tiny_models import tiny_config, tiny_tokenizer

    overrides = {}
    if name == "small":
        overrides = dict(
            speech_config=dict(num_mel_bins=80, d_model=384, encoder_layers=4, encoder_attention_heads=6,
                               encoder_ffn_dim=1536, decoder_layers=1, decoder_attention_heads=6,
                               decoder_ffn_dim=1536, max_source_positions=1500),
            text_config=dict(model_type="llama", vocab_size=len(tiny_tokenizer()), hidden_size=576,
                             intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                             num_key_value_heads=3, max_position_embeddings=8192, tie_word_embeddings=True,
                             pad_token_id=0, eos_token_id=4, bos_token_id=2),
        )
    torch.manual_seed(0)
    config = tiny_config("meralion-v1", max_windows=10, **overrides)
    model = AudioLLM.from_config(config).eval().to(device)
    return AudioAssistant(model, AudioLLMProcessor(tiny_tokenizer(), config), name=name, batch_size=batch_size)


def serve_forever(args) -> None:
    """The server process: build the model and serve until terminated."""
    from audiollm.serve import ServerSettings, create_app, serve

    settings = ServerSettings(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                              max_queue=1024, request_timeout=3600)
    assistant = build_assistant(args.model, args.device, args.max_batch_size)
    serve(create_app(assistant, settings), "127.0.0.1", args.port, settings, log_level="warning")


def start_server(args, port: int, batch_size: int, wait_ms: float) -> subprocess.Popen:
    command = [sys.executable, __file__, "--serve-only", "--port", str(port), "--model", args.model,
               "--device", args.device, "--max-batch-size", str(batch_size), "--max-wait-ms", str(wait_ms)]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": path})
    deadline = time.monotonic() + args.start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start within {args.start_timeout} s")


def request_body(args) -> bytes:
    import soundfile

    t = np.arange(int(args.audio_seconds * 16000)) / 16000
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV")
    audio = {"type": "input_audio", "input_audio": {"data": base64.b64encode(buffer.getvalue()).decode(),
                                                    "format": "wav"}}
    content = [{"type": "text", "text": "Please transcribe this speech."}, audio]
    return json.dumps({"messages": [{"role": "user", "content": content}], "max_tokens": args.max_tokens,
                       "temperature": 0}).encode()


_COUNTERS = ("audiollm_batch_size_sum", "audiollm_batch_size_count", "audiollm_completion_tokens_total")


def server_counters(url: str) -> dict[str, float]:
    """Batch-size histogram sum/count and generated tokens, from /metrics."""
    values = dict.fromkeys(_COUNTERS, 0.0)
    for line in httpx.get(url + "/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        if name in values:
            values[name] = float(value)
    return values


def load_test(url: str, body: bytes, requests: int, concurrency: int) -> dict:
    """Fire `requests` requests from `concurrency` clients; latencies in seconds."""
    clients = [httpx.Client(base_url=url, timeout=3600) for _ in range(concurrency)]

    def one(index: int) -> float:
        start = time.perf_counter()
        response = clients[index % concurrency].post("/v1/chat/completions", content=body,
                                                     headers={"content-type": "application/json"})
        response.raise_for_status()
        return time.perf_counter() - start

    before = server_counters(url)
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    delta = {name: value - before[name] for name, value in server_counters(url).items()}
    for client in clients:
        client.close()
    batches = delta["audiollm_batch_size_count"]
    return {"requests": requests, "rps": requests / wall, "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))],
            "mean_batch": delta["audiollm_batch_size_sum"] / batches if batches else 0.0,
            "tokens": delta["audiollm_completion_tokens_total"] / requests}


def run_mode(args, label: str, batch_size: int, wait_ms: float, body: bytes) -> list[dict]:
    from audiollm.serve.runner import free_port

    port = free_port()
    server = start_server(args, port, batch_size, wait_ms)
    url = f"http://127.0.0.1:{port}"
    try:
        load_test(url, body, 2, 1)  # warm-up: first calls pay for lazy initialisation
        rows = []
        for concurrency in args.concurrency:
            count = max(args.requests, concurrency * 2)
            row = {"mode": label, "concurrency": concurrency, **load_test(url, body, count, concurrency)}
            print(json.dumps(row), flush=True)
            rows.append(row)
        return rows
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def table(rows: list[dict]) -> str:
    lines = ["| batching | concurrency | requests | req/s | p50 latency (s) | p99 latency (s) | mean batch | tokens |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['concurrency']} | {r['requests']} | {r['rps']:.2f} | {r['p50']:.3f} | "
                     f"{r['p99']:.3f} | {r['mean_batch']:.1f} | {r['tokens']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny, small, or a name/folder for audiollm.load")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level (at least 2x C)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--audio-seconds", type=float, default=5.0)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--out", help="also write the rows as JSON here")
    parser.add_argument("--serve-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_only:
        serve_forever(args)
        return 0
    # SIGTERM (e.g. from `timeout`) must still run run_mode's cleanup, which stops the server process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    body = request_body(args)
    rows = run_mode(args, "on", args.max_batch_size, args.max_wait_ms, body)
    rows += run_mode(args, "off", 1, 0.0, body)
    print(f"\nmodel {args.model} on {args.device}; {args.audio_seconds:g} s audio, {args.max_tokens} new tokens, "
          f"greedy; batching on = --max-batch-size {args.max_batch_size} --max-wait-ms {args.max_wait_ms:g}\n")
    print(table(rows))
    for concurrency in args.concurrency:
        on, off = (next(r for r in rows if r["mode"] == m and r["concurrency"] == concurrency) for m in ("on", "off"))
        print(f"concurrency {concurrency}: batching gives {on['rps'] / off['rps']:.2f}x requests/s, "
              f"p99 {on['p99'] / off['p99']:.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
