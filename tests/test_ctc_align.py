"""The CTC alignment phase (train/ctc.py): its loss teaches speech rows to spell a transcript as the
decoder's token embeddings, and a run opens with it before the decoder's loss takes over."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from audiollm.data.manifest import read_manifest, write_manifest
from audiollm.errors import ConfigError
from audiollm.train.config import load_train_config
from audiollm.train.ctc import TokenInventory, ctc_alignment_loss, greedy_read
from audiollm.train.loop import phase_at

from test_train import _losses, _recipe, _run, setup  # noqa: F401  (the tiny model and tone corpus fixture)


def test_ctc_loss_teaches_rows_to_spell_the_transcript_at_the_embeddings_length():
    torch.manual_seed(0)
    vocab, width = 40, 16
    embedding = torch.nn.Embedding(vocab, width)
    inventory = TokenInventory({3, 7, 9, 12, 20, 0}, vocab, blank_id=0)  # the blank is never a class
    assert len(inventory) == 6 and inventory.ids.tolist() == [3, 7, 9, 12, 20]
    classes = inventory.class_embeddings(embedding)
    assert torch.equal(classes[0], embedding.weight[0].detach())
    transcripts = [[9, 9, 3, 20], [12, 7]]  # a repeated token needs a blank between its two rows
    targets = [inventory.class_of[torch.tensor(t)] for t in transcripts]
    rows = torch.nn.Parameter(torch.randn(10 + 6, width) * 5)
    optimiser = torch.optim.Adam([rows], lr=0.05)
    first = None
    for _ in range(600):
        loss = ctc_alignment_loss(rows, [10, 6], targets, classes)
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.05 * first
    assert greedy_read(rows[:10], classes, inventory) == [9, 9, 3, 20]
    assert greedy_read(rows[10:], classes, inventory) == [12, 7]
    target_length = float(classes.norm(dim=-1).median())
    assert torch.allclose(rows.detach().norm(dim=-1), torch.full((16,), target_length), rtol=0.1)


def test_targets_are_the_answer_tokens_before_the_stop_token():
    inventory = TokenInventory({4, 5, 6}, 10, blank_id=0)
    labels = torch.tensor([[-100, -100, 5, 4, 8, 9], [-100, 6, 6, 8, -100, -100]])
    assert [t.tolist() for t in inventory.targets(labels, stop_ids=[8])] == [[2, 1], [3, 3]]
    with pytest.raises(ValueError, match=r"answer tokens \[7\] are not in the CTC inventory"):
        inventory.targets(torch.tensor([[5, 7, 8]]), stop_ids=[8])


def test_phases_and_their_settings():
    config = load_train_config(None, ["steps=10", "align.steps=4", "align.ctc_steps=2"])
    assert [phase_at(step, config) for step in range(6)] == ["ctc", "ctc", "align", "align", "main", "main"]
    for bad, message in [(["align.steps=4", "align.ctc_steps=5"], "between 0 and align.steps"),
                         (["align.ctc_steps=2"], "set align.steps too"),
                         (["align.steps=4", "align.ctc_steps=2", "align.tasks=[si]"], "needs asr in align.tasks"),
                         (["align.steps=4", "align.ctc_steps=2", "align.train=[lora]"], "adaptor in align.train")]:
        with pytest.raises(ConfigError, match=message):
            load_train_config(None, ["steps=10", *bad])


@pytest.fixture(scope="module")
def asr_corpus(setup):  # noqa: F811
    """The tone corpus as ASR: the "transcript" is the pitch's name."""
    for split in ("train", "dev"):
        heard = [dataclasses.replace(e, task="asr", instruction="Transcribe.") for e in read_manifest(setup / f"{split}.jsonl")]
        write_manifest(setup / f"asr_{split}.jsonl", heard)
    return {"data__train": [str(setup / "asr_train.jsonl")], "data__eval": [str(setup / "asr_dev.jsonl")],
            "align": {"steps": 3, "ctc_steps": 2, "tasks": ["asr"], "train": ["adaptor"]}, "optim__warmup_steps": 1}


def test_a_run_opens_with_ctc_steps_that_train_only_the_adaptor(setup, asr_corpus, tmp_path):  # noqa: F811
    from safetensors.torch import load_file

    from audiollm.model import AudioLLM
    from audiollm.train import run_training

    run_dir = run_training(_recipe(setup, tmp_path / "run", steps=5, save_every=1, eval_every=5, **asr_corpus))
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["ctc", "ctc", "align", "main", "main"]
    assert all(r["loss"] > 0 and r["grad_norm"] > 0 for r in records)
    assert 0 <= records[-1]["eval"]["rows_read_wer"]
    initial = AudioLLM.from_pretrained(setup / "model").state_dict()
    after_ctc = load_file(run_dir / "checkpoints" / "step-0000002" / "trainable.safetensors")
    assert all(not after_ctc[key].any() for key in after_ctc if "lora_B" in key)
    adaptor = [key for key in after_ctc if key.startswith("speech_audio_adapter.")]
    assert any(not torch.equal(after_ctc[key], initial[key]) for key in adaptor)


def test_two_processes_follow_the_one_process_curve_through_the_ctc_steps(setup, asr_corpus, tmp_path):  # noqa: F811
    # The CTC loss reaches the adaptor through DDP's forward (speech_only), so its gradients are averaged
    # over processes: a lost sync would let the second step's losses drift apart.
    one = _run([_recipe(setup, tmp_path / "one", steps=4, grad_accum=2, eval_every=0, save_every=0, **asr_corpus)])
    two = _run([_recipe(setup, tmp_path / "two", steps=4, grad_accum=1, eval_every=0, save_every=0, **asr_corpus),
                "--nproc", "2"])
    assert one.wait(timeout=300) == 0, one.stderr.read()
    assert two.wait(timeout=300) == 0, two.stderr.read()
    single, double = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(single) == sorted(double) == [1, 2, 3, 4]
    for step in single:
        assert single[step] == pytest.approx(double[step], rel=1e-4), step
