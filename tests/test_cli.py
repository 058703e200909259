"""The CLI on a tiny model folder: outputs, --json, and one clear error line for each user mistake."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.cli import main
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    torch.manual_seed(0)
    config = tiny_config()
    AudioLLM.from_config(config).save_pretrained(folder)
    AudioLLMProcessor(tiny_tokenizer(), config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(16000) / 16000
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 330 * t), 16000)
    return path


def test_transcribe_json_gives_one_object_per_file(model_folder, clip, capsys):
    status = main(["transcribe", str(clip), str(clip), "--model", str(model_folder), "--json", "--max-new-tokens", "3"])
    assert status == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [row["file"] for row in lines] == [str(clip), str(clip)]
    assert lines[0]["text"] == lines[1]["text"]  # same audio, greedy: same answer


def test_ask_and_translate_run(model_folder, clip, capsys):
    assert main(["ask", str(clip), "What is this?", "--model", str(model_folder), "--max-new-tokens", "2"]) == 0
    assert main(["translate", str(clip), "--to", "Malay", "--model", str(model_folder), "--max-new-tokens", "2"]) == 0


def test_info_describes_the_folder(model_folder, capsys):
    assert main(["info", str(model_folder)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["adaptor"] == "meralion-v1" and info["speech_tokens_per_window"] == 100
    assert info["generation_defaults"] == {}  # no generation_config.json: no loop guard unless asked


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["transcribe", "/nonexistent/clip.wav"], "not found"),
        (["transcribe", "{clip}", "--model", "/nonexistent/model"], "model not found"),
        (["ask", "{clip}", " ", "--model", "{model}"], "empty instruction"),
        (["transcribe", "{clip}", "--model", "{model}", "--no-repeat-ngram-size", "-1"], "--no-repeat-ngram-size"),
    ],
)
def test_user_errors_are_one_line_and_nonzero(model_folder, clip, capsys, argv, expected):
    argv = [a.format(clip=clip, model=model_folder) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_corrupt_file_through_the_real_command(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not really audio")
    result = subprocess.run([sys.executable, "-m", "audiollm", "transcribe", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and str(bad) in result.stderr


def test_quantize_and_threads_reach_the_model(model_folder, clip, capsys, monkeypatch):
    import audiollm.api

    quantized = []
    real_quantize = audiollm.api.quantize_int8
    monkeypatch.setattr(audiollm.api, "quantize_int8", lambda model: quantized.append(real_quantize(model)))
    threads_before = torch.get_num_threads()
    try:
        argv = ["transcribe", str(clip), "--model", str(model_folder), "--json", "--max-new-tokens", "3"]
        assert main(argv + ["--quantize", "int8", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1 and len(quantized) == 1
        assert json.loads(capsys.readouterr().out)["file"] == str(clip)
    finally:
        torch.set_num_threads(threads_before)
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--threads", "0"])
    assert stop.value.code == 2 and "positive number or 'auto'" in capsys.readouterr().err


def test_train_takes_overrides_after_its_options_and_refuses_other_strays():
    from audiollm.cli import build_parser, parse_arguments

    parser = build_parser()
    args = parse_arguments(parser, ["train", "recipe.yaml", "steps=5", "--nproc", "2", "out=runs/x", "seed=1"])
    assert (args.config, args.nproc, args.overrides) == ("recipe.yaml", 2, ["steps=5", "out=runs/x", "seed=1"])
    with pytest.raises(SystemExit):
        parse_arguments(parser, ["train", "recipe.yaml", "--nproc", "2", "--bogus"])
    with pytest.raises(SystemExit):
        parse_arguments(parser, ["info", "default", "steps=5"])
