"""Where does paralinguistic information get lost? Linear probes on the encoder's states and on a model's rows.

    python experiments/para_probe.py default --out reports/para-probe/default-v7.json

A diagnostic for issue 4's PARA target (the defaults answer gender, pitch, speaking rate and language
questions at or below the majority-class baseline). For every PARA clip it pools (mean and standard
deviation over time) two views of the audio: the frozen Whisper encoder's states after ln_speech (what
the adaptor sees) and the model's speech rows (what the decoder reads). A logistic-regression probe per
attribute, trained on the first N train clips of that attribute and scored on the PARA clips of the test
splits, shows whether the label is still linearly readable at each point. Encoder high and rows low:
the adaptor (its CTC opening makes rows spell tokens) throws the voice away. Both high: the decoder
does not use what it is given. A model with voice rows (docs/training.md) gets a third view, its voice
rows as they are, and "rows" are then its speech rows alone. Prints one JSON object (also written to --out).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from audiollm.api import cpu_threads
from audiollm.cli.core import threads_option
from audiollm.data.manifest import read_manifest
from audiollm.data.render import write_atomic
from audiollm.default import resolve_model_folder
from audiollm.evaluate.data import load_audio
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor

MAX_SECONDS = 30.0  # one encoder window, as in training (data.max_audio_seconds)
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
CV_FOLDS = 4
TEST_SPLITS = ("corpus/test_seen.jsonl", "corpus/test_unseen_voice.jsonl", "corpus/test_unseen_template.jsonl")


def pooled(states: torch.Tensor) -> torch.Tensor:
    """(T, C) -> (2C,): mean and standard deviation over time."""
    return torch.cat([states.mean(0), states.std(0, unbiased=False)])


@torch.no_grad()
def views(model: AudioLLM, processor: AudioLLMProcessor, example) -> dict[str, torch.Tensor]:
    """The clip's pooled encoder states (after ln_speech) and pooled speech rows, from one encoder pass:
    a hook keeps ln_speech's output while the model computes the rows."""
    features = processor.features([load_audio(example)])
    kept = []
    hook = model.ln_speech.register_forward_hook(lambda module, inputs, output: kept.append(output))
    try:
        rows = model.speech_rows(features["input_features"], features["feature_attention_mask"])
    finally:
        hook.remove()
    real_frames = int(features["feature_attention_mask"][0, ::2].sum())  # the encoder halves the mel frames
    voice_rows = model.config.voice_rows  # one window (clips <= 30 s): its voice rows come first
    found = {"encoder": pooled(kept[0][0, :real_frames].float()), "rows": pooled(rows[voice_rows:].float())}
    if voice_rows:
        found["voice_rows"] = rows[:voice_rows].float().flatten()  # already a summary: read as they are
    return found


def fit_probe(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float) -> nn.Linear:
    """A multinomial logistic regression fitted to convergence by L-BFGS (deterministic: zero start)."""
    head = nn.Linear(x.shape[1], classes)
    nn.init.zeros_(head.weight), nn.init.zeros_(head.bias)
    optimiser = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=300, line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(head(x), y) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(objective)
    return head


def probe_accuracy(train_x: torch.Tensor, train_y: list[str], test_x: torch.Tensor, test_y: list[str]) -> float:
    """Test accuracy of a logistic-regression probe on standardised features. The pooled views have more
    dimensions than there are train clips, so the L2 strength is picked by 4-fold cross-validation on
    the train clips (ties go to the stronger penalty), then the probe is refitted on all of them."""
    labels = sorted(set(train_y))
    index = {label: i for i, label in enumerate(labels)}
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x, x_test = (train_x - mean) / std, (test_x - mean) / std
    y = torch.tensor([index[label] for label in train_y])
    folds = torch.arange(len(y)) % CV_FOLDS
    best, best_score = L2_GRID[-1], -1.0
    for l2 in reversed(L2_GRID):
        correct = 0
        for fold in range(CV_FOLDS):
            held = folds == fold
            head = fit_probe(x[~held], y[~held], len(labels), l2)
            with torch.no_grad():
                correct += int((head(x[held]).argmax(-1) == y[held]).sum())
        if correct > best_score:
            best, best_score = l2, correct
    head = fit_probe(x, y, len(labels), best)
    with torch.no_grad():
        predicted = [labels[i] for i in head(x_test).argmax(-1).tolist()]
    return sum(p == t for p, t in zip(predicted, test_y)) / len(test_y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, or 'default'")
    parser.add_argument("--train", default="corpus/train.jsonl")
    parser.add_argument("--test", nargs="+", default=list(TEST_SPLITS))
    parser.add_argument("--per-attribute", type=int, default=200, help="train clips per attribute")
    parser.add_argument("--fresh-adaptor", action="store_true",
                        help="a control: replace the trained adaptor by an untrained one of the same shape (seed 0)")
    parser.add_argument("--threads", type=threads_option, default=1)
    parser.add_argument("--out", help="also write the JSON result here (written whole, then renamed)")
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads(args.threads))
    args.model = resolve_model_folder(args.model)  # "default": the shipped default, built on first use
    model = AudioLLM.from_pretrained(args.model).eval()
    processor = AudioLLMProcessor.from_pretrained(args.model, model.config)
    if args.fresh_adaptor:
        model.new_adaptor(seed=0, fresh=True)

    train: dict[str, list] = {}
    for example in read_manifest(args.train):
        if example.task == "para" and example.duration <= MAX_SECONDS:
            train.setdefault(example.meta["attribute"], []).append(example)
    test = [e for path in args.test for e in read_manifest(path) if e.task == "para" and e.duration <= MAX_SECONDS]
    result = {"model": args.model, "fresh_adaptor": args.fresh_adaptor, "train": args.train, "test": args.test, "attributes": {}}
    for attribute, examples in sorted(train.items()):
        examples = examples[: args.per_attribute]
        held = [e for e in test if e.meta["attribute"] == attribute]
        if not held:
            continue
        train_views = [views(model, processor, e) for e in examples]
        test_views = [views(model, processor, e) for e in held]
        train_y, test_y = [e.meta["label"] for e in examples], [e.meta["label"] for e in held]
        majority = Counter(train_y).most_common(1)[0][0]
        entry = {"train_clips": len(examples), "test_clips": len(held),
                 "majority_class": round(100 * sum(t == majority for t in test_y) / len(test_y), 1)}
        for view in train_views[0]:
            accuracy = probe_accuracy(torch.stack([v[view] for v in train_views]), train_y,
                                      torch.stack([v[view] for v in test_views]), test_y)
            entry[f"probe_{view}"] = round(100 * accuracy, 1)
        result["attributes"][attribute] = entry
        print(attribute, entry, flush=True)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        write_atomic(Path(args.out), (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    main()
