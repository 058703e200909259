"""The gender row: a fitted classifier's odds, as a mix of the LLM's words, first in every window."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.adaptors import VoiceSummary
from audiollm.errors import ConfigError
from audiollm.gender_row import GenderRow
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _model(**changes):
    torch.manual_seed(0)
    config = tiny_config("meralion-v1", encoder_input="real", **changes)
    return AudioLLM.from_config(config).eval(), AudioLLMProcessor(tiny_tokenizer(), config)


def test_the_fit_separates_the_labels_and_the_row_mixes_their_words():
    torch.manual_seed(0)
    row = GenderRow(encoder_width=8, decoder_width=6)
    frames = torch.randn(3, 5, 8)
    words = torch.randn(2, 6)
    row.words.data.copy_(words)
    assert torch.allclose(row(frames)[:, 0], words.mean(0).expand(3, -1), atol=1e-6)  # unfitted: even odds
    labels = torch.arange(40) % 2
    pooled = torch.randn(40, 16) + 3.0 * labels[:, None] * torch.linspace(-1, 1, 16)  # apart along one direction
    assert row.fit(pooled, labels, words) == 1.0
    probabilities = row.probabilities(pooled)
    assert (probabilities.argmax(-1) == labels).all() and torch.allclose(probabilities.sum(-1), torch.ones(40))
    expected = row.probabilities(VoiceSummary.pool(frames)) @ words
    assert torch.allclose(row(frames)[:, 0], expected, atol=1e-6)
    standardised = (pooled - row.centre) / row.spread
    assert standardised.mean(0).abs().max() < 1e-4  # fitted on standardised windows


def test_each_window_starts_with_its_gender_row_and_the_prompt_counts_it():
    plain, plain_processor = _model(voice_rows=1)
    model, processor = _model(voice_rows=1, gender_row=True)
    conversations = [[Turn("user", "short", [_tone(0.73, 300)])], [Turn("user", "long one", [_tone(33.0, 500)])]]
    counts = [(processor(conversations)["input_ids"] == model.config.speech_token_index).sum(1).tolist(),
              (plain_processor(conversations)["input_ids"] == plain.config.speech_token_index).sum(1).tolist()]
    assert counts[0] == [counts[1][0] + 1, counts[1][1] + 2]  # one row per window: the 33 s clip has two
    torch.nn.init.normal_(model.speech_gender_row.classifier.weight)
    torch.nn.init.normal_(model.speech_gender_row.words)
    batch = processor(conversations[:1])
    with torch.no_grad():
        rows = model.encode_speech(batch["input_features"], batch["feature_attention_mask"])
        frames, mask = model.speech_frames(batch["input_features"], batch["feature_attention_mask"])
        assert torch.allclose(rows[0], model.speech_gender_row(frames * mask[..., None], mask)[0, 0], atol=1e-5)
        together = model(**processor(conversations)).logits  # batching never changes a window's rows
        for index, conversation in enumerate(conversations):
            alone = model(**processor([conversation])).logits[0]
            assert (together[index, -alone.shape[0]:] - alone).abs().max().item() < 1e-4


def test_the_gender_row_needs_real_length_input_and_our_own_layout():
    with pytest.raises(ConfigError, match="gender row"):
        tiny_config("meralion-v1", encoder_input="real", gender_row=True, flavour="meralion")
    with pytest.raises(ConfigError, match="gender row"):
        tiny_config("meralion-v1", encoder_input="fixed", gender_row=True)
