"""The speed options keep behaviour: grouped real-length features, int8 weights, thread settings, one audio
encoding per generation, and the GPU benchmark script's CPU smoke run. No timing is asserted here."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.api import cpu_threads, load
from audiollm.audio import log_mel_spectrogram
from audiollm.errors import ConfigError
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.quantize import quantize_decoder_int8, weight_bytes_per_token

ROOT = Path(__file__).resolve().parents[1]


def _noise(samples: int, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def test_grouped_real_length_features_equal_one_by_one():
    config = dataclasses.replace(tiny_config(), encoder_input="real")
    processor = AudioLLMProcessor(tiny_tokenizer(), config)
    # Two groups of equal frame counts (480000 and 479999 samples: both 3000 frames), a length that is a
    # whole number of hops, and odd remainders.
    windows = [_noise(n, seed) for seed, n in enumerate([480000, 80000, 479999, 80000, 12345, 161, 480000])]
    batch = processor.features(windows)
    for index, window in enumerate(windows):
        alone, _ = log_mel_spectrogram([window], n_mels=config.num_mel_bins, do_normalize=config.normalize_audio,
                                       padding="longest")
        frames = alone.shape[-1]
        assert torch.equal(batch["input_features"][index, :, :frames], alone[0])
        assert not batch["input_features"][index, :, frames:].any()
        assert batch["feature_attention_mask"][index].sum() == frames


def test_chunked_fixed_features_equal_one_call():
    processor = AudioLLMProcessor(tiny_tokenizer(), tiny_config())
    windows = [_noise(n, seed) for seed, n in enumerate([480000] * 6 + [16000 * 7])]  # more than one chunk
    alone, _ = log_mel_spectrogram(windows, n_mels=80, do_normalize=processor.config.normalize_audio)
    assert torch.equal(processor.features(windows)["input_features"], alone)


def test_int8_decoder_generates_like_fp32_and_reads_fewer_bytes():
    torch.manual_seed(0)
    model = AudioLLM.from_config(tiny_config()).eval()
    before = weight_bytes_per_token(model.text_decoder)
    ids = torch.randint(6, 200, (2, 12))
    with torch.no_grad():
        reference = model.text_decoder(ids).logits
        quantize_decoder_int8(model.text_decoder)
        logits = model.text_decoder(ids).logits
    assert not any(type(m) is torch.nn.Linear for m in model.text_decoder.modules())  # all replaced
    assert (logits - reference).norm() / reference.norm() < 0.05
    after = weight_bytes_per_token(model.text_decoder)
    assert after < before  # the tiny model is mostly embeddings; the real ratio is in RESULTS.md
    out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape == (2, 4)


def test_audio_is_encoded_once_per_generation():
    torch.manual_seed(0)
    config = tiny_config()
    model = AudioLLM.from_config(config).eval()
    processor = AudioLLMProcessor(tiny_tokenizer(), config)
    calls = []
    model.speech_encoder.register_forward_hook(lambda *args: calls.append(1))
    batch = processor([[Turn("user", "Please transcribe this speech.", [_noise(32000, 1)])]])
    model.generate(**batch, max_new_tokens=6, min_new_tokens=6, do_sample=False, pad_token_id=0)
    assert len(calls) == 1  # later steps reuse the KV cache; the audio prefix is never recomputed


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    torch.manual_seed(0)
    config = tiny_config()
    folder = tmp_path_factory.mktemp("tiny") / "model"
    AudioLLM.from_config(config).save_pretrained(folder)
    AudioLLMProcessor(tiny_tokenizer(), config).save_pretrained(folder)
    return folder


def test_load_int8_with_threads(tiny_folder):
    threads = torch.get_num_threads()
    try:
        assistant = load(str(tiny_folder), quantize="int8", threads=1)
        assert torch.get_num_threads() == 1
        assert isinstance(assistant.ask(_noise(16000, 2), "What is this?"), str)
    finally:
        torch.set_num_threads(threads)


def test_speed_options_reject_bad_values(tiny_folder):
    with pytest.raises(ConfigError, match="quantize"):
        load(str(tiny_folder), quantize="int4")
    with pytest.raises(ConfigError, match="bfloat16"):
        load(str(tiny_folder), quantize="int8", dtype="bfloat16")
    with pytest.raises(ConfigError, match="threads"):
        cpu_threads("many")
    assert cpu_threads(None) is None and cpu_threads(3) == 3
    assert 1 <= cpu_threads("auto") <= (os.cpu_count() or 1)


def test_gpu_benchmark_smoke_runs_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    script = ROOT / "benchmarks" / "gpu_meralion.py"
    result = subprocess.run([sys.executable, str(script), "--smoke", "--json", str(out)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "decode" in result.stdout and out.is_file()


def test_results_page_renders_targets_sections_and_keeps_the_gpu_section():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from report import GPU_END, GPU_START, render

    payload = {"script": "generation", "load_before": "1, 1, 1", "load_after": "1, 1, 1", "run_command": "python x.py",
               "machine": {"cpu": "CPU", "cores": 2, "memory_gib": 1, "torch_threads": 1, "date": "today"},
               "rows": [{"section": "generation", "case": "audiollm int8", "ratio": 0.6, "ratio_label": "",
                         "command": "python benchmarks/generation.py", "note": "",
                         "values": {"decode_tok_s": 30.0, "bound_tok_s": 50.0}}],
               "targets": [{"target": "decode >= 50% | bound", "measured": "60%", "ratio": 0.6, "goal": 0.5,
                            "met": True}]}
    existing = f"# old\n{GPU_START}\nH100 numbers\n{GPU_END}\n"
    page = render([payload], existing, None, ["training (exit code 1)"])
    assert "| decode >= 50% \\| bound | 60% | yes |" in page
    assert "| audiollm int8 | 30.0 | 50.0 | 0.60 | `python benchmarks/generation.py` |" in page
    assert f"{GPU_START}\nH100 numbers\n{GPU_END}" in page and "training (exit code 1)" in page
