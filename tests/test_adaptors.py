"""The four adaptors behind one interface: token rate, batch independence, learning, initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_config, tiny_tokenizer
from transformers.initialization import no_init_weights

from audiollm.adaptors import ConvMLPAdaptor, MERaLiONV1Adaptor, _stride_factors, build_adaptor
from audiollm.config import ADAPTORS
from audiollm.convert.build import _initialise_glue
from audiollm.errors import ConfigError
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn


def _clip(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.mark.parametrize("name", ADAPTORS)
def test_every_adaptor_maps_stacked_frames_to_one_token_each(name):
    adaptor = build_adaptor(name, encoder_width=16, decoder_width=24, factor=15, dropout=0.0)
    stacked = torch.randn(3, 7, 15 * 16)
    assert adaptor(stacked).shape == (3, 7, 24)


@pytest.mark.parametrize("name", ["qformer", "conv-mlp"])
def test_new_adaptors_keep_real_length_encoding_batch_independent(name):
    torch.manual_seed(0)
    config = tiny_config(name, encoder_input="real")
    model, processor = AudioLLM.from_config(config).eval(), AudioLLMProcessor(tiny_tokenizer(), config)
    conversations = [[Turn("user", "short", [_clip(0.73, 300)])], [Turn("user", "long one", [_clip(33.0, 500)])]]
    batch = processor(conversations)
    placeholders = (batch["input_ids"] == config.speech_token_index).sum(dim=1).tolist()
    assert placeholders == [3, 110]
    with torch.no_grad():
        together = model(**batch).logits
        for row, conversation in enumerate(conversations):
            alone = model(**processor([conversation])).logits[0]
            assert (together[row, -alone.shape[0]:] - alone).abs().max().item() < 1e-4


@pytest.mark.parametrize("name", ["qformer", "conv-mlp"])
def test_new_adaptors_learn_to_tell_two_tones_apart(name):
    """Same prompt, two pitches: the answer can only be right if the adaptor passes the audio through."""
    torch.manual_seed(0)
    config = tiny_config(name)
    model, processor = AudioLLM.from_config(config), AudioLLMProcessor(tiny_tokenizer(), config)
    conversations = [[Turn("user", "What tone is this?", [_clip(1.0, hz)])] for hz in (220, 880)]
    batch = processor(conversations, answers=["low tone", "high tone"])
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(120):  # both adaptors reach ~0.1 by step 100 (0.2-0.3 at step 80, depending on the seed)
        loss = model(**batch).loss
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert losses[-1] < 0.3 and losses[-1] < losses[0] / 10


@pytest.mark.parametrize("name", ["qformer", "conv-mlp"])
def test_build_initialises_every_adaptor_weight_from_the_seed(name):
    """`audiollm build` creates models under no_init_weights; the glue initialiser must reach every weight."""
    def built(seed: int) -> dict:
        with no_init_weights():
            model = AudioLLM.from_config(tiny_config(name))
        _initialise_glue(model, seed)
        return {k: v.clone() for k, v in model.speech_audio_adapter.state_dict().items()}

    first, again, other = built(1), built(1), built(2)
    for key, value in first.items():
        assert torch.isfinite(value).all() and value.abs().max() < 10, key
        assert torch.equal(value, again[key]), key
    assert any(not torch.equal(first[k], other[k]) for k in first if first[k].abs().sum() > 0)


def test_conv_strides_multiply_to_the_stack_factor():
    assert _stride_factors(15) == [3, 5] and _stride_factors(4) == [2, 2] and _stride_factors(7) == [7]
    width = 512  # Whisper base: the ConvMLP's weight sharing makes it smaller than the v1 MLP
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(ConvMLPAdaptor(width, 640, 15)) < count(MERaLiONV1Adaptor(width, 640, 15))


def test_meralion_layouts_refuse_other_adaptors():
    with pytest.raises(ConfigError, match="qformer"):
        tiny_config("qformer", flavour="meralion")
