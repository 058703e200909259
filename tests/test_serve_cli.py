"""`audiollm serve` as a user runs it: a separate process on a model folder, answering until SIGTERM."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor
from audiollm.serve import AudioLLMClient
from audiollm.serve.runner import free_port

CLI = [sys.executable, "-c", "import sys; from audiollm.cli import main; sys.exit(main(sys.argv[1:]))"]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-serve-model")
    torch.manual_seed(0)
    config = tiny_config(max_windows=1)
    AudioLLM.from_config(config).save_pretrained(folder)
    AudioLLMProcessor(tiny_tokenizer(), config).save_pretrained(folder)
    return folder


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 330)).astype(np.float32), 16000,
             format="WAV")
    return buffer.getvalue()


def test_serve_command_answers_and_stops_on_sigterm(model_folder):
    port = free_port()
    command = [*CLI, "serve", "--model", str(model_folder), "--port", str(port),
               "--served-model-name", "tiny", "--default-max-tokens", "3", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up within 60 s"
            time.sleep(0.2)
        with AudioLLMClient(f"http://127.0.0.1:{port}/v1", model="tiny") as client:
            assert isinstance(client.chat("What is this?", wav_bytes()), str)
            assert "tiny" in httpx.get(f"http://127.0.0.1:{port}/v1/models").text
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells what ended it.
        assert process.wait(30) in (0, -signal.SIGTERM)
        assert "Traceback" not in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_missing_model_is_one_line_and_exit_2(tmp_path, capsys):
    from audiollm.cli import main

    assert main(["serve", "--model", str(tmp_path / "none")]) == 2
    error = capsys.readouterr().err
    assert "model not found" in error and "Traceback" not in error


def test_flags_become_server_settings():
    import argparse

    from audiollm.cli.serve import register, settings_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--max-batch-size", "4", "--max-wait-ms", "5", "--max-upload-mb", "2",
                              "--max-audio-seconds", "60", "--request-timeout", "30", "--max-queue", "9",
                              "--api-key", "k", "--allow-local-files"])
    settings = settings_from_args(args)
    assert (settings.model_id, settings.max_batch_size, settings.max_wait_ms, settings.max_upload_mb) == (
        "default", 4, 5.0, 2.0)
    assert (settings.max_audio_seconds, settings.request_timeout, settings.max_queue, settings.api_key) == (
        60.0, 30.0, 9, "k")
    assert settings.allow_local_files and not settings.allow_remote_urls
    assert (args.host, args.port) == ("127.0.0.1", 8000)
