"""The gender row: a fitted classifier's odds, as a mix of the LLM's words, first in every window."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch
from safetensors import safe_open
from tiny_models import tiny_config, tiny_tokenizer

from audiollm.adaptors import VoiceSummary
from audiollm.data.manifest import Example, write_manifest
from audiollm.errors import ConfigError
from audiollm.gender_row import GenderRow
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.train.parts import merge_trained_parts


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


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """A tiny model and clips whose "speaker" is female at 880 Hz and male at 220 Hz."""
    root = tmp_path_factory.mktemp("gender")
    torch.manual_seed(0)
    config = tiny_config("meralion-v1")
    AudioLLM.from_config(config).save_pretrained(root / "model")
    AudioLLMProcessor(tiny_tokenizer(), config).save_pretrained(root / "model")
    rng = np.random.default_rng(0)
    examples = []
    for index in range(32):
        gender = ("male", "female")[index % 2]
        path = root / "audio" / f"{index}.flac"
        path.parent.mkdir(exist_ok=True)
        soundfile.write(path, _tone(float(rng.uniform(0.5, 2.0)), 880 if gender == "female" else 220), 16000)
        examples.append(Example(id=str(index), task="para", instruction="Who speaks, a man or a woman?",
                                answer=gender, audio=f"audio/{index}.flac", duration=1.0,
                                speakers=[{"speaker": f"v{index}", "gender": gender}]))
    write_manifest(root / "train.jsonl", examples[:24])
    write_manifest(root / "dev.jsonl", examples[24:])
    return root


def test_a_leg_fits_a_gender_row_that_ships_in_its_parts(voices, tmp_path):
    from audiollm.train import run_training

    recipe = {
        "stage": 2, "out": str(tmp_path / "leg"), "seed": 0, "steps": 2, "batch_size": 4, "save_every": 0,
        "eval_every": 0, "eval_examples": 4, "bucket_size": 2,
        "model": {"init": str(voices / "model"), "encoder_input": "real", "gender_row": True},
        "trainable": {"adaptor": False, "encoder": "frozen", "decoder": "lora"},  # the row ships all the same
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "optim": {"lr": 3e-3, "warmup_steps": 1},
        "data": {"train": [str(voices / "train.jsonl")], "eval": [str(voices / "dev.jsonl")]},
    }
    (tmp_path / "leg.json").write_text(json.dumps(recipe))
    leg = run_training(str(tmp_path / "leg.json"))
    fit = json.loads((leg / "summary.json").read_text())["gender_row_fit"]
    assert fit["clips"] == 24 and fit["dev_clips"] == 8
    assert fit["fit_accuracy"] == 1.0 and fit["dev_accuracy"] == 1.0  # the tones are far apart
    trained = AudioLLM.from_pretrained(leg / "model")
    assert trained.config.gender_row
    tokenizer = tiny_tokenizer()
    words = trained.text_decoder.get_input_embeddings().weight
    male = words[tokenizer(" male", add_special_tokens=False).input_ids].mean(0)
    assert torch.allclose(trained.speech_gender_row.words[0], male, atol=1e-5)  # the LLM's own word
    with safe_open(str(leg / "trained_parts.safetensors"), framework="pt") as handle:
        assert {"speech_gender_row.classifier.weight", "speech_gender_row.words"} <= set(handle.keys())
    rebuilt = AudioLLM.from_pretrained(voices / "model")  # the base, without the row
    merge_trained_parts(rebuilt, leg / "trained_parts.safetensors")
    processor = AudioLLMProcessor.from_pretrained(leg / "model")
    batch = processor([[Turn("user", "Who speaks?", [_tone(1.0, 880)])]])
    with torch.no_grad():
        assert (rebuilt.eval()(**batch).logits - trained.eval()(**batch).logits).abs().max().item() < 1e-4
