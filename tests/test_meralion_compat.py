"""Released MERaLiON checkpoints load and give the reference architecture's logits.

The tests write tiny random checkpoints in the released layout (nested `meralion`/`meralion2` config with
the remote-code sub-config types, sharded safetensors with an index, `speech_encoder.*`, `ln_speech.*`,
`speech_audio_adapter.*`, `text_decoder.model.*`, no lm_head) and compare AudioLLM's logits with an
independent reference written here from the spec: HF WhisperEncoder, a functional LayerNorm/adaptor,
a per-position merge loop, and HF Gemma2ForCausalLM with positions from the attention mask.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tiny_models import SPEECH_PLACEHOLDER, tiny_gemma2_fields, tiny_tokenizer, tiny_whisper_fields
from transformers import Gemma2Config, Gemma2ForCausalLM, WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from audiollm.api import GenerationSettings
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn

FACTOR = 15


def _adaptor_state(version: str, width: int, decoder_width: int) -> dict[str, torch.Tensor]:
    shapes = {
        "v1": {"mlp_adapter.0": (width, width * FACTOR), "speech_llm_proj.0": (4 * width, width),
               "speech_llm_proj.3": (decoder_width, 4 * width)},
        "v2": {"mlp_adapter.0": (5 * width, width * FACTOR), "gate_proj": (5 * width, 5 * width),
               "pool_proj": (5 * width, 5 * width), "out_proj": (decoder_width, 5 * width)},
    }[version]
    state = {}
    for name, (rows, cols) in shapes.items():
        state[f"speech_audio_adapter.{name}.weight"] = torch.randn(rows, cols) * cols**-0.5
        state[f"speech_audio_adapter.{name}.bias"] = torch.randn(rows) * 0.1
    return state


def write_release_checkpoint(folder, version: str, num_mel_bins: int) -> dict[str, torch.Tensor]:
    """A tiny checkpoint in the released layout; returns its state dict."""
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    speech_fields = {**tiny_whisper_fields(num_mel_bins), "model_type": "meralion_speech_encoder"}
    text_fields = {**tiny_gemma2_fields(len(tokenizer)), "model_type": "meralion_text_decoder"}
    encoder = WhisperEncoder(WhisperConfig(**tiny_whisper_fields(num_mel_bins)))
    decoder = Gemma2ForCausalLM(Gemma2Config(**{k: v for k, v in text_fields.items() if k != "model_type"}))
    state = {f"speech_encoder.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"text_decoder.{k}": v for k, v in decoder.state_dict().items() if not k.startswith("lm_head")})
    state["ln_speech.weight"] = 1 + 0.1 * torch.randn(16)
    state["ln_speech.bias"] = 0.1 * torch.randn(16)
    state.update(_adaptor_state(version, 16, 32))
    config = {
        "architectures": ["MERaLiONForConditionalGeneration"], "model_type": "meralion" if version == "v1" else "meralion2",
        "speech_config": speech_fields, "text_config": text_fields, "speech_mlp_scale_factor": FACTOR,
        "speech_token_index": tokenizer.convert_tokens_to_ids(SPEECH_PLACEHOLDER), "torch_dtype": "float32",
        "hidden_size": 32, "num_hidden_layers": 2, "transformers_version": "4.46.3",
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    weight_map = {}
    for shard, shard_keys in shards.items():
        save_file({k: state[k].contiguous() for k in shard_keys}, folder / shard)
        weight_map.update({k: shard for k in shard_keys})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    tokenizer.save_pretrained(folder)
    return state


def reference_logits(state, folder, batch, version: str) -> torch.Tensor:
    """The spec, written out independently of audiollm.model."""
    config = json.loads((folder / "config.json").read_text())
    speech_fields = {k: v for k, v in config["speech_config"].items() if k != "model_type"}
    encoder = WhisperEncoder(WhisperConfig(**speech_fields)).eval()
    encoder.load_state_dict({k[len("speech_encoder."):]: v for k, v in state.items() if k.startswith("speech_encoder.")})
    frames = encoder(batch["input_features"]).last_hidden_state
    frames = F.layer_norm(frames, (16,), state["ln_speech.weight"], state["ln_speech.bias"])
    windows, time, width = frames.shape
    stacked = frames.reshape(windows, time // FACTOR, FACTOR * width)

    def linear(x, name):
        return F.linear(x, state[f"speech_audio_adapter.{name}.weight"], state[f"speech_audio_adapter.{name}.bias"])

    if version == "v1":
        speech = linear(F.silu(linear(F.silu(linear(stacked, "mlp_adapter.0")), "speech_llm_proj.0")), "speech_llm_proj.3")
    else:
        hidden = F.silu(linear(stacked, "mlp_adapter.0"))
        speech = linear(F.silu(linear(hidden, "gate_proj")) * linear(hidden, "pool_proj"), "out_proj")
    text_fields = {k: v for k, v in config["text_config"].items() if k != "model_type"}
    decoder = Gemma2ForCausalLM(Gemma2Config(**text_fields)).eval()
    decoder.load_state_dict({k[len("text_decoder."):]: v for k, v in state.items() if k.startswith("text_decoder.")}, strict=False)
    decoder.tie_weights()
    input_ids, mask = batch["input_ids"], batch["attention_mask"]
    # The reference's merge uses the *unscaled* token embeddings, then its Gemma-2 multiplies every input
    # row, speech rows included, by sqrt(hidden size) (spec 7-8). transformers' own Gemma-2 scales inside
    # its embedding module instead, so the lookup here goes to the weight and the factor comes after.
    embeds = decoder.model.embed_tokens.weight[input_ids].detach().clone()
    rows, used = speech.reshape(-1, speech.shape[-1]), 0
    for b in range(input_ids.shape[0]):
        for position in range(input_ids.shape[1]):
            if input_ids[b, position] == config["speech_token_index"]:
                embeds[b, position] = rows[used]
                used += 1
    assert used == rows.shape[0]
    positions = torch.zeros_like(input_ids)
    for b in range(input_ids.shape[0]):
        count = 0
        for position in range(input_ids.shape[1]):
            positions[b, position] = count if mask[b, position] else 1
            count += int(mask[b, position])
    normalizer = torch.tensor(decoder.config.hidden_size ** 0.5, dtype=embeds.dtype)
    return decoder(inputs_embeds=embeds * normalizer, attention_mask=mask, position_ids=positions).logits


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) * (1 + np.sin(3 * t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("version,num_mel_bins", [("v1", 80), ("v2", 128)])
def test_release_checkpoint_logits_match_reference(tmp_path, version, num_mel_bins):
    folder = tmp_path / f"meralion-{version}"
    state = write_release_checkpoint(folder, version, num_mel_bins)
    model = AudioLLM.from_pretrained(folder)
    assert model.config.adaptor == ("meralion-v1" if version == "v1" else "meralion-v2")
    processor = AudioLLMProcessor.from_pretrained(folder)
    # Row 0: a 45 s clip (two 30 s windows); row 1: a short clip and a shorter prompt (left padding).
    conversations = [
        [Turn("user", "Please transcribe this speech.", [_speechlike(45.0, 1)])],
        [Turn("user", "hi", [_speechlike(3.0, 2)])],
    ]
    batch = processor(conversations)
    assert batch["input_features"].shape == (3, num_mel_bins, 3000)
    assert int(batch["attention_mask"][1].sum()) < batch["attention_mask"].shape[1]
    with torch.no_grad():
        ours = model(**batch).logits
        reference = reference_logits(state, folder, batch, version)
    real = batch["attention_mask"].bool()
    assert (ours - reference)[real].abs().max().item() < 1e-4
    # A padded row gives the same logits as the row alone.
    alone = processor(conversations[1:])
    with torch.no_grad():
        single = model(**alone).logits[0]
    length = single.shape[0]
    assert (ours[1, -length:] - single).abs().max().item() < 1e-4


def test_release_layout_round_trip(tmp_path):
    folder = tmp_path / "v1"
    write_release_checkpoint(folder, "v1", 80)
    model = AudioLLM.from_pretrained(folder)
    model.save_pretrained(tmp_path / "again", release_layout=True)
    saved = json.loads((tmp_path / "again" / "config.json").read_text())
    assert saved["model_type"] == "meralion" and saved["speech_mlp_use_projection"] is False
    reloaded = AudioLLM.from_pretrained(tmp_path / "again")
    for key, value in model.trainable_state_dict().items():
        assert torch.equal(value, reloaded.trainable_state_dict()[key]), key


def test_a_released_v2_folder_decodes_with_its_own_generation_config(tmp_path):
    """MERaLiON-2's generation_config.json sets no_repeat_ngram_size 6; loading the folder keeps it as the
    default of every request (the other keys are the processor's and the decoder's business)."""
    from audiollm.api import load

    folder = tmp_path / "meralion-v2"
    write_release_checkpoint(folder, "v2", 128)
    (folder / "generation_config.json").write_text(json.dumps(
        {"cache_implementation": "hybrid", "eos_token_id": 107, "pad_token_id": 0, "no_repeat_ngram_size": 6}))
    assistant = load(str(folder))
    assert assistant.generation_defaults == {"no_repeat_ngram_size": 6}
    settings = assistant._generate_kwargs(GenerationSettings())
    assert settings["no_repeat_ngram_size"] == 6
    assert assistant._generate_kwargs(GenerationSettings(no_repeat_ngram_size=0))["no_repeat_ngram_size"] is None
