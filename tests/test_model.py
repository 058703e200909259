"""AudioLLM behaviour on tiny models: persistence, batching, generation, label masks, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.config import AudioLLMConfig
from audiollm.errors import AudioError, ConfigError, PromptError
from audiollm.model import AudioLLM
from audiollm.processor import IGNORE_INDEX, AudioLLMProcessor, Turn


def _clip(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture(scope="module")
def model_and_processor():
    torch.manual_seed(0)
    config = tiny_config("meralion-v2")
    return AudioLLM.from_config(config).eval(), AudioLLMProcessor(tiny_tokenizer(), config)


CONVERSATIONS = [
    [Turn("user", "Please transcribe this speech.", [_clip(2.0, 220)])],
    [Turn("user", "hi", [_clip(31.0, 440)])],
    [Turn("user", "hello world, no audio here")],
]


def test_save_then_load_gives_identical_logits(tmp_path, model_and_processor):
    model, processor = model_and_processor
    batch = processor(CONVERSATIONS[:2])
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    reloaded = AudioLLM.from_pretrained(tmp_path / "m")
    reprocessed = AudioLLMProcessor.from_pretrained(tmp_path / "m")(CONVERSATIONS[:2])
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**reprocessed).logits)


def test_batched_greedy_equals_one_by_one(model_and_processor):
    model, processor = model_and_processor
    settings = dict(max_new_tokens=6, do_sample=False, eos_token_id=processor.stop_token_ids,
                    pad_token_id=processor.tokenizer.pad_token_id)
    batched = model.generate(**processor(CONVERSATIONS), **settings)
    for row, conversation in enumerate(CONVERSATIONS):
        single = model.generate(**processor([conversation]), **settings)[0]
        assert processor.decode(batched[row]) == processor.decode(single)
        assert batched[row, : single.shape[0]].tolist() == single.tolist()


def test_cached_generation_equals_uncached(model_and_processor):
    model, processor = model_and_processor
    batch = processor(CONVERSATIONS[:1])
    cached = model.generate(**batch, max_new_tokens=8, do_sample=False, use_cache=True)
    uncached = model.generate(**batch, max_new_tokens=8, do_sample=False, use_cache=False)
    assert cached.tolist() == uncached.tolist()


def test_labels_cover_only_the_answer(model_and_processor):
    _, processor = model_and_processor
    batch = processor(CONVERSATIONS[:2], answers=["the answer", "a much longer answer here"])
    for row, answer in enumerate(["the answer", "a much longer answer here"]):
        labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX]
        expected = processor.tokenizer(answer + processor.answer_suffix, add_special_tokens=False).input_ids
        assert labelled.tolist() == expected
        # The labelled tokens are the last tokens of the row: nothing of the prompt or audio is labelled.
        assert batch["input_ids"][row, -len(expected):].tolist() == expected
    assert processor.answer_suffix.startswith("<end_of_turn>")


def test_placeholders_expand_per_window(model_and_processor):
    _, processor = model_and_processor
    batch = processor(CONVERSATIONS[:2])
    per_window = processor.config.tokens_per_window
    placeholders = (batch["input_ids"] == processor.config.speech_token_index).sum(dim=1).tolist()
    assert placeholders == [1 * per_window, 2 * per_window]  # 2 s -> 1 window, 31 s -> 2 windows
    assert batch["input_features"].shape[0] == 3


def test_one_batch_can_be_overfit():
    """Two clips that differ only in pitch, same prompt: the answers can only be told apart by listening."""
    torch.manual_seed(0)
    config = tiny_config("meralion-v1")
    model, processor = AudioLLM.from_config(config), AudioLLMProcessor(tiny_tokenizer(), config)
    conversations = [[Turn("user", "What tone is this?", [_clip(1.0, hz)])] for hz in (220, 880)]
    batch = processor(conversations, answers=["low tone", "high tone"])
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(70):
        loss = model(**batch).loss
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert losses[-1] < 0.3 and losses[-1] < losses[0] / 15


def test_bad_inputs_get_clear_errors(model_and_processor):
    model, processor = model_and_processor
    with pytest.raises(PromptError, match="empty"):
        processor([[Turn("user", "  ")]])
    with pytest.raises(PromptError, match="markers"):
        processor([[Turn("user", "<SpeechHere> and <SpeechHere>", [_clip(1.0, 300)])]])
    with pytest.raises(AudioError, match="max_windows|window"):
        processor([[Turn("user", "x", [_clip(11 * 30.0, 300)])]])
    batch = processor(CONVERSATIONS[:1])
    with pytest.raises(PromptError, match="placeholder"):
        model(batch["input_ids"], batch["input_features"][:0])
    with pytest.raises(ConfigError, match="unknown"):
        AudioLLMConfig.from_dict({"model_type": "audiollm", "speech_config": {}, "text_config": {}, "colour": 1})


def test_real_length_encoding_is_batch_independent():
    """encoder_input="real": short clips give few tokens, and a window's logits never depend on its batch."""
    torch.manual_seed(0)
    config = tiny_config("meralion-v1", encoder_input="real")
    model, processor = AudioLLM.from_config(config).eval(), AudioLLMProcessor(tiny_tokenizer(), config)
    conversations = [
        [Turn("user", "short", [_clip(0.73, 300)])],
        [Turn("user", "long one here", [_clip(33.0, 500)])],  # 30 s + 3 s windows
        [Turn("user", "mid", [_clip(4.2, 700)])],
    ]
    batch = processor(conversations)
    # 0.73 s: 73 mel frames -> 37 encoder frames -> 3 tokens; 30 s -> 100; 3 s -> 300 frames -> 150 -> 10.
    placeholders = (batch["input_ids"] == config.speech_token_index).sum(dim=1).tolist()
    assert placeholders == [3, 110, config.speech_tokens_for(int(4.2 * 16000))]
    assert batch["feature_attention_mask"].sum(dim=1).tolist()[:3] == [73, 3000, 300]
    with torch.no_grad():
        together = model(**batch).logits
        for row, conversation in enumerate(conversations):
            alone = model(**processor([conversation])).logits[0]
            assert (together[row, -alone.shape[0]:] - alone).abs().max().item() < 1e-4


def test_labelled_logits_only_gives_the_same_loss(model_and_processor):
    model, processor = model_and_processor
    batch = processor(CONVERSATIONS, answers=["one", "two three", "four five six"])
    with torch.no_grad():
        full = model(**batch).loss
        selected = model(**batch, labelled_logits_only=True)
        summed = model(**batch, loss_reduction="sum", labelled_logits_only=True).loss
    tokens = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert selected.logits.shape[0] == tokens
    assert abs(full.item() - selected.loss.item()) < 1e-5
    assert abs(summed.item() / tokens - full.item()) < 1e-5


def test_speech_rows_get_the_factor_the_decoder_gives_token_rows(model_and_processor):
    """Gemma scales token embeddings by sqrt(hidden) inside its embedding module (transformers 5), and
    MERaLiON's decoder scaled every input row by it: speech rows must get it too, unless a model was
    trained without (configs written before the setting existed)."""
    import dataclasses

    model, processor = model_and_processor
    batch = processor(CONVERSATIONS[:1])
    is_speech = batch["input_ids"] == model.config.speech_token_index
    factor = model.config.text_config["hidden_size"] ** 0.5
    with torch.no_grad():
        speech = model.encode_speech(batch["input_features"], batch.get("feature_attention_mask"))
        token_rows = model.text_decoder.get_input_embeddings().weight[batch["input_ids"][~is_speech]]
        scaled = model.embed_inputs(batch["input_ids"], batch["input_features"], batch.get("feature_attention_mask"))
        assert model.config.scale_speech_embeddings
        assert torch.allclose(scaled[is_speech], speech * factor, atol=1e-6)
        assert torch.allclose(scaled[~is_speech], token_rows * factor, atol=1e-6)
        unscaled_model = AudioLLM(dataclasses.replace(model.config, scale_speech_embeddings=False)).eval()
        unscaled_model.load_state_dict(model.state_dict())
        unscaled = unscaled_model.embed_inputs(batch["input_ids"], batch["input_features"], batch.get("feature_attention_mask"))
        assert torch.allclose(unscaled[is_speech], speech, atol=1e-6)
    written_before = {k: v for k, v in model.config.to_dict().items() if k != "scale_speech_embeddings"}
    assert AudioLLMConfig.from_dict(written_before).scale_speech_embeddings is False
