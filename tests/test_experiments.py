"""experiments/run.py: study files are validated, shared variants share one run, tables average seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from script_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
runner = load_script("experiments/run.py")


@pytest.mark.parametrize("name", ["adaptors", "local_adaptation", "fusion_vs_cascade", "forgetting", "windows", "voice"])
def test_every_study_file_loads_and_plans(name):
    study = runner.load_study(ROOT / "configs" / "experiments" / f"{name}.yaml")
    assert study["columns"] and study["variants"]


def test_the_same_overrides_in_two_studies_train_once():
    adaptors = runner.load_study(ROOT / "configs/experiments/adaptors.yaml")
    forgetting = runner.load_study(ROOT / "configs/experiments/forgetting.yaml")
    _, v1 = runner.train_steps(adaptors, "meralion-v1", adaptors["variants"]["meralion-v1"], 0)
    _, replay10 = runner.train_steps(forgetting, "replay 10%", forgetting["variants"]["replay 10%"], 0)
    _, replay0 = runner.train_steps(forgetting, "replay 0%", forgetting["variants"]["replay 0%"], 0)
    _, v1_seed1 = runner.train_steps(adaptors, "meralion-v1", adaptors["variants"]["meralion-v1"], 1)
    assert v1 == replay10 and len({v1, replay0, v1_seed1}) == 3


def test_runs_from_the_shipped_default_change_with_it(monkeypatch):
    windows = runner.load_study(ROOT / "configs/experiments/windows.yaml")
    adaptors = runner.load_study(ROOT / "configs/experiments/adaptors.yaml")
    leg = ("default + leg, clips to 150 s (pauses)",)
    plan = lambda study, name: runner.train_steps(study, name, study["variants"][name], 0)[1]  # noqa: E731
    monkeypatch.setattr(runner, "_shipped_default_digest", lambda: "digest-a")
    first, v1 = plan(windows, *leg), plan(adaptors, "meralion-v1")
    monkeypatch.setattr(runner, "_shipped_default_digest", lambda: "digest-b")
    assert plan(windows, *leg) != first  # it starts from the default: a new default is a new run
    assert plan(adaptors, "meralion-v1") == v1  # built from the packages: unchanged


def test_a_stage1_variant_evaluates_its_own_whisper_and_shares_the_run_per_seed():
    study = runner.load_study(ROOT / "configs/experiments/local_adaptation.yaml")
    whisper, fused = study["variants"]["stage-1 Whisper as Whisper"], study["variants"]["stage1"]
    assert runner.planned_seeds(study, whisper) == [0, 1]
    runs = {}
    for seed in (0, 1):
        steps, model = runner.variant_steps(study, "stage-1 Whisper as Whisper", whisper, seed)
        fused_steps, _ = runner.variant_steps(study, "stage1", fused, seed)
        assert len(steps) == 1 and steps[0][:3] == ["audiollm", "train", "configs/stage1.yaml"]
        assert f"seed={seed}" in steps[0] and steps[0] == fused_steps[0]  # the fused variant's stage 1, not another
        folder = steps[0][-1].removeprefix("out=")
        assert model == f"cascade:{folder}/whisper+gemma3-270m"
        runs[seed] = folder
    assert runs[0] != runs[1]
    ready = study["variants"]["whisper-base as Whisper"]
    assert runner.variant_steps(study, "whisper-base as Whisper", ready, None) == ([], ready["model"])


@pytest.mark.parametrize("variant", ['{model: "cascade:{stage1}/whisper"}', '{model: default, stage1: [steps=5]}'])
def test_a_model_names_the_stage1_folder_exactly_when_it_has_one(tmp_path, variant):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"study: x\nquestion: q\neval: []\ncolumns: [asr]\nvariants:\n  v: {variant}\n")
    with pytest.raises(SystemExit, match="stage1"):
        runner.load_study(bad)


def test_a_variant_needs_exactly_one_source(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\nquestion: q\neval: []\ncolumns: [asr]\nvariants:\n  both: {model: default, train: []}\n")
    with pytest.raises(SystemExit, match="exactly one"):
        runner.load_study(bad)


def test_table_averages_seeds_and_shows_the_spread():
    study = {"columns": ["asr", "st"], "seeds": [0, 1], "variants": {"a": {"train": []}, "b": {"train": []}}}
    score = lambda wer, bleu: {"asr": {"metric": "wer", "value": wer}, "st": {"metric": "bleu", "value": bleu}}  # noqa: E731
    results = [
        {"variant": "a", "seed": 0, "scores": score(50.0, 10.0),
         "facts": {"trainable_M": 10.1, "tokens_per_30s": 100, "s_per_step": 4.0}},
        {"variant": "a", "seed": 1, "scores": score(40.0, 12.0),
         "facts": {"trainable_M": 10.1, "tokens_per_30s": 100, "s_per_step": 5.0}},
        {"variant": "b", "seed": 0, "scores": {"asr": {"metric": "wer", "value": 70.0}}, "facts": {}},
    ]
    table = runner.summarise(study, results).splitlines()
    assert table[2] == "| a | 0,1 | 45.0 ± 5.0 (wer) | 11.0 ± 1.0 (bleu) | 10.10 | 100 | 4.5 |  |"  # each seed's speed, averaged
    assert table[3] == "| b | 0 | 70.0 (wer) |  |  |  |  |  |"
    assert table[-1] == "Not finished yet: b (seed 1)."  # a partial table names what it lacks


def test_listening_gain_is_a_column_of_audiollm_models_only():
    study = {"columns": ["asr"], "seeds": [0, 1], "variants": {"a": {"train": []}, "c": {"model": "cascade:default"}},
             "listening": ["--examples", "24"]}
    command, out = runner.listening_step(study, "runs/experiments/x-s0-abc/model")
    assert command[:3] == ["python", "experiments/listening.py", "runs/experiments/x-s0-abc/model"]
    assert command[-2:] == ["--out", str(out)] and out.name.startswith("x-s0-abc-listening-")
    assert runner.listening_step(study, "cascade:default") is None
    assert runner.listening_step({"columns": []}, "runs/x/model") is None
    gain = lambda value: {"gain_over_other": value}  # noqa: E731
    results = [{"variant": "a", "seed": 0, "scores": {}, "facts": {}, "listening": gain(0.25)},
               {"variant": "a", "seed": 1, "scores": {}, "facts": {}, "listening": gain(0.15)},
               {"variant": "c", "seed": None, "scores": {}, "facts": {}, "listening": None}]
    table = runner.summarise(study, results).splitlines()
    assert table[0].startswith("| variant | seeds | asr | listening gain |")
    assert table[2] == "| a | 0,1 |  | 0.200 ± 0.050 |  |  |  |  |"
    assert table[3] == "| c | - |  |  |  |  |  |  |" and len(table) == 4  # all planned runs are in


def test_ctc_probe_head_learns_to_read_labels_out_of_frames():
    """experiments/ctc_probe.py's CTC wiring (lengths, blank 0, merged repeats) on a toy: each label is 4
    frames of its own pattern, words apart by 2 quiet frames; read back on sequences it never saw."""
    import torch

    probe = load_script("experiments/ctc_probe.py")
    generator = torch.Generator().manual_seed(0)
    patterns = torch.randn(4, 8, generator=generator)  # labels 1..3 (index 0 unused: blank)

    def clip(labels):
        frames = [torch.zeros(2, 8)]
        for label in labels:
            frames += [patterns[label].repeat(4, 1), torch.zeros(2, 8)]
        states = torch.cat(frames)
        return (states + 0.1 * torch.randn(states.shape, generator=generator)).to(torch.float16)

    rng = __import__("random").Random(0)
    sequences = [[rng.randint(1, 3) for _ in range(rng.randint(1, 4))] for _ in range(64)]
    head, curve = probe.train_head([clip(s) for s in sequences], sequences, 3, steps=150, batch_size=8, lr=5e-3, seed=0)
    assert sum(curve[-10:]) < 0.2 * sum(curve[:10])
    unseen = [[1, 1, 2], [3], [2, 3, 1, 3]]  # a repeated label survives: its frames are apart
    assert probe.greedy(head, [clip(s) for s in unseen]) == unseen


def test_para_probe_reads_a_linear_label_and_not_a_random_one():
    """experiments/para_probe.py's probe: pooled views whose first feature carries the label are read
    almost perfectly on held-out clips; labels unrelated to the features stay near chance."""
    import torch

    probe = load_script("experiments/para_probe.py")
    generator = torch.Generator().manual_seed(0)
    labels = ["low", "medium", "high"]

    def clips(count):
        y = [labels[i % 3] for i in range(count)]
        x = torch.randn(count, 16, generator=generator)
        x[:, 0] += 6.0 * torch.tensor([labels.index(label) for label in y], dtype=torch.float)
        return x, y

    (train_x, train_y), (test_x, test_y) = clips(90), clips(60)
    assert probe.probe_accuracy(train_x, train_y, test_x, test_y) > 0.9
    shuffled = [labels[int(i)] for i in torch.randint(0, 3, (60,), generator=generator)]
    assert probe.probe_accuracy(train_x, train_y, test_x, shuffled) < 0.6
    states = torch.arange(12.0).reshape(6, 2)
    assert probe.pooled(states).tolist() == [5.0, 6.0] + [states[:, 0].std(unbiased=False).item()] * 2


def test_a_column_can_name_its_metric(tmp_path):
    subsets = {"all": {"token_f1": 1.1, "contains_match": 19.1, "n": 68},
               "split: general text": {"token_f1": 0.5, "contains_match": 12.5, "n": 32}}
    (tmp_path / "report.json").write_text(json.dumps({"tasks": {"text": {"subsets": subsets}}}))
    scores = runner.scores_of(tmp_path, ["text", "text/split: general text@contains_match", "text@rouge_l", "asr"])
    assert scores == {"text": {"metric": "token_f1", "value": 1.1, "n": 68},
                      "text/split: general text@contains_match": {"metric": "contains_match", "value": 12.5, "n": 32}}


def test_the_default_is_keyed_by_every_file_it_ships(tmp_path, monkeypatch):
    """Another generation_config.json is another model: its answers must not be reused."""
    shipped = tmp_path / "audiollm" / "default"
    shipped.mkdir(parents=True)
    (shipped / "trained_parts.safetensors").write_bytes(b"weights")
    (shipped / "generation_config.json").write_text('{"no_repeat_ngram_size": 6}')
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    study = {"eval": ["--data", "corpus"]}
    _, before = runner.eval_step(study, "default", {})
    (shipped / "generation_config.json").write_text('{"no_repeat_ngram_size": 0}')
    _, after = runner.eval_step(study, "default", {})
    (shipped / "trained_parts.safetensors").unlink()
    _, untrained = runner.eval_step(study, "default", {})
    assert len({before, after, untrained}) == 3 and before.name.startswith("default-")


def test_only_and_seeds_select_runs():
    assert runner.selected("qformer", 0, ["qformer"], [0])
    assert not runner.selected("qformer", 1, ["qformer"], [0])
    assert not runner.selected("conv-mlp", 0, ["qformer"], None)
    assert runner.selected("cascade", None, None, [0])  # a ready model is not a seed's run


def test_listening_splits_the_gain_by_answer_position():
    """experiments/listening.py: per-token losses average to the model's loss, and the gain per position
    bin is the mean over every example's tokens in that bin."""
    import torch

    listening = load_script("experiments/listening.py")
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(9, 11, generator=generator)
    labels = torch.tensor([-100, -100, -100, 4, 7, 1, 0, 3, -100])  # prompt, then 5 answer tokens, then padding
    tokens = listening.per_token_loss(logits, labels)
    assert tokens.shape == (5,)
    expected = torch.nn.functional.cross_entropy(logits[:-1], labels[1:], ignore_index=-100)
    assert torch.allclose(tokens.mean(), expected)
    gains = [torch.arange(12.0), torch.full((3,), -1.0)]
    assert listening.gain_by_position(gains) == {
        "1-5": {"gain": round((sum(range(5)) - 3) / 8, 4), "tokens": 8},
        "6-10": {"gain": 7.0, "tokens": 5}, "11-20": {"gain": 10.5, "tokens": 2}}


def test_facts_of_runs_that_are_gone_are_kept_from_the_last_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    out = Path("reports/experiments/adaptors")
    assert runner.recorded_facts(out) == {}
    (tmp_path / out).mkdir(parents=True)
    facts = {"trainable_M": 8.26, "s_per_step": 3.49, "inference_rtf": 0.127}
    (tmp_path / out / "summary.json").write_text(json.dumps({"results": [
        {"model": "runs/x/model", "report": "reports/experiments/evals/x-1", "facts": facts}]}))
    assert runner.recorded_facts(out) == {("runs/x/model", "reports/experiments/evals/x-1"): facts}
    assert runner.training_facts("runs/x/model") == {}  # the run folder is not on this machine
