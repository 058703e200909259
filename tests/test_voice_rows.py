"""Voice rows (config.voice_rows): pooled rows per window, placed before its speech rows, that give the
decoder a route to the voice that the per-token adaptor does not have to keep."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from script_loader import load_script
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.adaptors import VoiceSummary
from audiollm.errors import ConfigError
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _model(voice_rows: int, encoder_input: str = "real", seed: int = 0):
    torch.manual_seed(seed)
    config = tiny_config("meralion-v1", encoder_input=encoder_input, voice_rows=voice_rows)
    return AudioLLM.from_config(config).eval(), AudioLLMProcessor(tiny_tokenizer(), config)


def test_each_window_gets_its_voice_rows_and_the_prompt_counts_them():
    model, processor = _model(voice_rows=2)
    conversations = [[Turn("user", "short", [_tone(0.73, 300)])], [Turn("user", "long one", [_tone(33.0, 500)])]]
    batch = processor(conversations)
    placeholders = (batch["input_ids"] == model.config.speech_token_index).sum(dim=1).tolist()
    assert placeholders == [3 + 2, 110 + 2 * 2]  # the 33 s clip is two windows, each with its own rows
    with torch.no_grad():  # padding in the batch never reaches a window's rows, voice rows included
        together = model(**batch).logits
        for row, conversation in enumerate(conversations):
            alone = model(**processor([conversation])).logits[0]
            assert (together[row, -alone.shape[0]:] - alone).abs().max().item() < 1e-4
    fixed, fixed_processor = _model(voice_rows=3, encoder_input="fixed")
    assert fixed.config.tokens_per_window == 1500 // 15 + 3
    rows = fixed.speech_rows(**{k: v for k, v in fixed_processor(conversations[:1]).items()
                                if k in ("input_features", "feature_attention_mask")})
    assert rows.shape[0] == fixed.config.tokens_per_window


def test_the_pools_see_real_frames_only():
    torch.manual_seed(0)
    summary = VoiceSummary(encoder_width=8, decoder_width=6, rows=2, dropout=0.0).eval()
    frames = torch.randn(1, 10, 8)
    padded = torch.cat([frames, torch.randn(1, 5, 8) * 100], dim=1)  # loud garbage where padding is
    mask = torch.cat([torch.ones(1, 10), torch.zeros(1, 5)], dim=1)
    assert summary(padded, mask).shape == (1, 2, 6)
    assert torch.allclose(summary(padded, mask), summary(frames), atol=1e-5)
    assert not torch.allclose(summary(padded), summary(frames), atol=1e-3)  # unmasked, padding would count


def test_calibration_standardises_the_pooled_windows():
    """Raw pooled states are nearly one vector for every clip; calibration centres and scales them."""
    model, processor = _model(voice_rows=2)
    clips = [_tone(seconds, hz) for seconds, hz in [(0.7, 200), (1.3, 300), (2.0, 450), (0.9, 700), (31.0, 900)]]
    batch = processor([[Turn("user", "x", [clip])] for clip in clips])
    windows = model.calibrate_voice_rows([(batch["input_features"], batch["feature_attention_mask"])])
    assert windows == 6  # the 31 s clip is two windows
    frames, mask = model.speech_frames(batch["input_features"], batch["feature_attention_mask"])
    summary = model.speech_voice_adapter
    standardised = (summary.pool(frames, mask) - summary.centre) / summary.spread
    assert standardised.mean(dim=0).abs().max() < 1e-4
    assert (standardised.std(dim=0, unbiased=False) - 1).abs().max() < 1e-2
    assert summary.centre.requires_grad and summary.spread.requires_grad  # they train, and ship in the parts


def test_voice_rows_alone_carry_the_voice_to_the_answer():
    """The per-token adaptor is silenced (zero output, frozen): only the voice rows can tell the tones apart."""
    losses = {}
    for rows in (0, 1):
        model, processor = _model(voice_rows=rows)
        model.train()
        for parameter in model.speech_audio_adapter.parameters():
            torch.nn.init.zeros_(parameter)
            parameter.requires_grad_(False)
        conversations = [[Turn("user", "What tone is this?", [_tone(1.0, hz)])] for hz in (220, 880)]
        batch = processor(conversations, answers=["low tone", "high tone"])
        optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(150):  # measured: 0.094 without voice rows, 0.005 with one, at step 150
            loss = model(**batch).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        losses[rows] = loss.item()
    # Deaf to the tone, the best a model can do is a coin flip on the word that differs: log 2 on one of
    # each answer's labelled tokens, spread over all of them.
    labelled_per_answer = int((batch["labels"] != -100).sum()) / 2
    coin_flip = math.log(2) / labelled_per_answer
    assert losses[1] < 0.2 * coin_flip and losses[0] > 0.9 * coin_flip, (losses, coin_flip)


def test_ctc_rows_leave_the_voice_rows_without_gradient():
    model, processor = _model(voice_rows=2)
    batch = processor([[Turn("user", "hi", [_tone(1.0, 300)])]])
    rows = model(input_ids=batch["input_ids"], input_features=batch["input_features"],
                 feature_attention_mask=batch["feature_attention_mask"], speech_only=True)
    rows.square().sum().backward()
    assert all(p.grad is None for p in model.speech_voice_adapter.parameters())
    assert any(p.grad is not None for p in model.speech_audio_adapter.parameters())


def test_voice_rows_save_load_and_refuse_the_released_layouts(tmp_path):
    model, processor = _model(voice_rows=2)
    model.save_pretrained(tmp_path / "m")
    loaded = AudioLLM.from_pretrained(tmp_path / "m")
    batch = processor([[Turn("user", "hi", [_tone(1.0, 300)])]])
    with torch.no_grad():
        assert (model(**batch).logits - loaded(**batch).logits).abs().max().item() < 1e-5
    assert loaded.config.voice_rows == 2
    with pytest.raises(ConfigError, match="no voice rows"):
        tiny_config("meralion-v1", voice_rows=1, flavour="meralion")
    with pytest.raises(ConfigError, match="voice_rows"):
        tiny_config("meralion-v1", voice_rows=-1)


def test_set_voice_rows_adds_them_and_keeps_the_speech_adaptor():
    model, _ = _model(voice_rows=0)
    before = {k: v.clone() for k, v in model.speech_audio_adapter.state_dict().items()}
    assert model.set_voice_rows(2, seed=1)  # fresh rows: the caller calibrates them
    assert not model.set_voice_rows(2)  # already there: kept
    assert model.config.voice_rows == 2 and model.speech_voice_adapter is not None
    assert all(torch.equal(before[k], v) for k, v in model.speech_audio_adapter.state_dict().items())
    assert any(k.startswith("speech_voice_adapter.") for k in model.state_dict())
    assert not model.set_voice_rows(0)  # none to calibrate
    assert model.speech_voice_adapter is None and not any(k.startswith("speech_voice_") for k in model.state_dict())


def test_the_para_probe_reads_voice_rows_apart_from_speech_rows(monkeypatch):
    """experiments/para_probe.py: with voice rows, "rows" pools the speech rows alone and "voice_rows" are
    the voice rows as the decoder gets them."""
    probe = load_script("experiments/para_probe.py")
    monkeypatch.setattr(probe, "load_audio", lambda example: _tone(2.0, 220))
    for voice_rows in (0, 2):
        model, processor = _model(voice_rows=voice_rows)
        found = probe.views(model, processor, example=None)
        with torch.no_grad():
            rows = model.speech_rows(**{k: v for k, v in processor.features([_tone(2.0, 220)]).items()
                                        if k in ("input_features", "feature_attention_mask")})
        assert torch.allclose(found["rows"], probe.pooled(rows[voice_rows:]))
        if voice_rows:
            assert torch.equal(found["voice_rows"], rows[:voice_rows].flatten())
        else:
            assert set(found) == {"encoder", "rows"}
