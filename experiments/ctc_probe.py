"""Is the speech in the frozen encoder's states, and how fast can a small head learn to read it?

    python experiments/ctc_probe.py --out reports/ctc-probe.json

A diagnostic for the training recipe (issue 4): the fused model's adaptor learns to carry speech only
through the whole decoder's loss, and after 1-2 CPU hours it still barely transcribes. This probe asks
the same frozen Whisper encoder (the real-length states the adaptor sees) a cheaper question: a
two-layer head over 2 stacked frames is trained with CTC to emit the decoder's own tokens of the
transcript, no decoder involved. Its greedy transcripts on held-out clips are scored with the project's
WER, beside Whisper's own decoder on the same clips. If the head beats Whisper within minutes, the
information is there and cheap to read, and the recipe's problem is getting it through the decoder.

Encoder states are computed once (the encoder is frozen) and kept in memory as float16.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiollm.api import cpu_threads
from audiollm.cli.core import threads_option
from audiollm.data.manifest import read_manifest
from audiollm.evaluate.data import load_audio
from audiollm.evaluate.metrics import error_rate
from audiollm.model import AudioLLM, whisper_encoder_states
from audiollm.paths import cache_dir
from audiollm.processor import AudioLLMProcessor
from audiollm.train.config import ModelSpec
from audiollm.train.stage2 import assembled_base_name

# The default recipe's assembled base (built and cached by its first training run).
DEFAULT_BASE = assembled_base_name(ModelSpec(encoder="whisper-base", decoder="gemma3-270m", adaptor="meralion-v1"))


def _transcribed(example) -> bool:
    return example.task == "asr" and not example.meta.get("no_speech") and bool(example.answer.strip())


def transcribed_clips(manifest: str, language: str, limit: int) -> list:
    """ASR examples with speech in `language`, at most `limit`, in manifest order."""
    return [e for e in read_manifest(manifest) if _transcribed(e) and e.language == language][:limit]


def token_rates(manifest: str, tokenizer, rows_per_second: dict[str, float]) -> dict:
    """Decoder tokens per second of speech in each language's ASR transcripts (clip length less its
    added padding), against the speech rows per second an adaptor gives: CTC needs more rows than tokens."""
    rates: dict[str, list[float]] = {}
    for example in read_manifest(manifest):
        if not _transcribed(example):
            continue
        speech = example.duration - sum(example.meta.get("augment", {}).get("pad", [0.0, 0.0]))
        tokens = len(tokenizer(example.answer, add_special_tokens=False)["input_ids"])
        rates.setdefault(example.language, []).append(tokens / max(speech, 0.5))
    summary = {}
    for language, values in sorted(rates.items()):
        values.sort()
        summary[language] = {"clips": len(values), "median": round(values[len(values) // 2], 2),
                             "p90": round(values[int(0.9 * len(values))], 2),
                             **{f"share_above_{name}": round(sum(v > rows for v in values) / len(values), 3)
                                for name, rows in rows_per_second.items()}}
    return summary


@torch.no_grad()
def encoder_states(model: AudioLLM, processor: AudioLLMProcessor, examples: list) -> list[torch.Tensor]:
    """Each clip's (T, C) real-length encoder states after ln_speech (the adaptor's input), float16."""
    states = []
    for example in examples:
        features = processor.features([load_audio(example)])
        frames, mask = whisper_encoder_states(model.speech_encoder, features["input_features"],
                                              features["feature_attention_mask"])
        real = int(mask[0].sum())
        states.append(model.ln_speech(frames[0, :real]).to(torch.float16))
    return states


class CTCHead(nn.Module):
    """2 stacked encoder frames (25 per second) -> hidden -> the token inventory plus a blank (index 0)."""

    def __init__(self, width: int, vocabulary: int, stack: int = 2, hidden: int = 512):
        super().__init__()
        self.stack = stack
        self.net = nn.Sequential(nn.Linear(width * stack, hidden), nn.GELU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, vocabulary + 1))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        batch, frames, width = states.shape
        frames -= frames % self.stack
        stacked = states[:, :frames].reshape(batch, frames // self.stack, width * self.stack)
        return self.net(stacked.float()).log_softmax(-1)


def batch_of(states: list[torch.Tensor], targets: list[list[int]], indices: list[int]):
    longest = max(len(states[i]) for i in indices)
    padded = torch.zeros(len(indices), longest, states[0].shape[1], dtype=torch.float16)
    for row, i in enumerate(indices):
        padded[row, : len(states[i])] = states[i]
    return padded, [len(states[i]) for i in indices], [targets[i] for i in indices]


def train_head(states: list[torch.Tensor], targets: list[list[int]], vocabulary: int, steps: int,
               batch_size: int, lr: float, seed: int) -> tuple[CTCHead, list[float]]:
    """A CTCHead trained on (states, 1-based target indices); returns it and its loss per step."""
    torch.manual_seed(seed)
    head = CTCHead(states[0].shape[1], vocabulary)
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)  # linear warm-up, then cosine to zero
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (
        1 + np.cos(np.pi * min(1.0, step / steps))))
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    rng = random.Random(seed)
    order: list[int] = []
    curve = []
    for _ in range(steps):
        if len(order) < batch_size:
            order += rng.sample(range(len(states)), len(states))
        indices, order = order[:batch_size], order[batch_size:]
        padded, lengths, labels = batch_of(states, targets, indices)
        log_probs = head(padded)  # (B, T', V+1)
        loss = ctc(log_probs.transpose(0, 1), torch.tensor([t for row in labels for t in row]),
                   torch.tensor([length // head.stack for length in lengths]), torch.tensor([len(row) for row in labels]))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        curve.append(loss.item())
    return head, curve


def greedy(head: CTCHead, states: list[torch.Tensor]) -> list[list[int]]:
    """Best path, repeats merged, blanks dropped: inventory indices (1-based) per clip."""
    head.eval()
    paths = []
    with torch.no_grad():
        for clip in states:
            best = head(clip[None]).argmax(-1)[0].tolist()
            paths.append([t for k, t in enumerate(best) if t != 0 and (k == 0 or t != best[k - 1])])
    head.train()
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=str(cache_dir("bases") / DEFAULT_BASE), help="AudioLLM folder whose encoder to probe")
    parser.add_argument("--train", default="corpus/train.jsonl")
    parser.add_argument("--test", nargs="+", default=["corpus/test_unseen_voice.jsonl", "corpus/test_seen.jsonl",
                                                      "corpus/test_real.jsonl"])
    parser.add_argument("--language", default="en")
    parser.add_argument("--train-examples", type=int, default=1500)
    parser.add_argument("--test-examples", type=int, default=40, help="per test manifest")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--whisper", default="whisper-base", help="Whisper to score on the same clips ('' skips)")
    parser.add_argument("--threads", type=threads_option, default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads(args.threads))
    began = time.perf_counter()

    model = AudioLLM.from_pretrained(args.base).eval()
    model.config = dataclasses.replace(model.config, encoder_input="real")
    processor = AudioLLMProcessor.from_pretrained(args.base, model.config)
    train = transcribed_clips(args.train, args.language, args.train_examples)
    tests = {Path(m).stem: transcribed_clips(m, args.language, args.test_examples) for m in args.test}
    train_states = encoder_states(model, processor, train)
    test_states = {name: encoder_states(model, processor, clips) for name, clips in tests.items()}
    encoded = time.perf_counter()

    # The decoder's own tokens of each transcript, renumbered over the inventory the training set uses.
    tokenizer = processor.tokenizer
    token_ids = [tokenizer(e.answer, add_special_tokens=False)["input_ids"] for e in train]
    inventory = sorted({t for ids in token_ids for t in ids})
    index_of = {t: k + 1 for k, t in enumerate(inventory)}
    targets = [[index_of[t] for t in ids] for ids in token_ids]
    head, curve = train_head(train_states, targets, len(inventory), args.steps, args.batch_size, args.lr, args.seed)
    trained = time.perf_counter()

    def transcripts(states: list[torch.Tensor]) -> list[str]:
        return [tokenizer.decode([inventory[k - 1] for k in path]) for path in greedy(head, states)]

    result = {"base": args.base, "language": args.language, "train_clips": len(train), "inventory": len(inventory),
              "steps": args.steps, "batch_size": args.batch_size, "loss_first_50": float(np.mean(curve[:50])),
              "loss_last_50": float(np.mean(curve[-50:])), "encode_seconds": round(encoded - began, 1),
              "train_seconds": round(trained - encoded, 1), "wer": {}}
    seen = train[: args.test_examples]
    result["wer"]["train (first clips)"] = {"probe": error_rate([e.answer for e in seen], transcripts(train_states[: len(seen)]),
                                                                args.language).rate}
    transcriber = None
    if args.whisper:
        from audiollm.cascade import _transcriber

        transcriber = _transcriber(args.whisper, "auto", "cpu", None, cpu_threads(args.threads))
    examples_out = {}
    for name, clips in tests.items():
        references = [e.answer for e in clips]
        probe = transcripts(test_states[name])
        scores = {"clips": len(clips), "probe": error_rate(references, probe, args.language).rate}
        if transcriber is not None:
            whisper = transcriber.transcribe([load_audio(e) for e in clips])
            scores["whisper"] = error_rate(references, whisper, args.language).rate
        result["wer"][name] = scores
        examples_out[name] = [{"reference": r, "probe": p} for r, p in list(zip(references, probe))[:3]]
    result["examples"] = examples_out
    # Stacking k of the encoder's 50 frames per second gives 50 / k speech rows per second.
    result["tokens_per_second"] = token_rates(args.train, tokenizer, {"stack15": 50 / 15, "stack5": 10.0})
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
