"""What `quantize="int8"` changes in outputs: WER and BLEU of int8 vs fp32, side by side.

    python benchmarks/quantization.py [--model default|FOLDER] [--clips 8] [--threads N|auto] [--json out.json]

1. Transcription: the same spoken clips (espeak-ng, known transcripts) transcribed by the fp32 model and
   by its int8 copy (greedy, up to 48 tokens): WER of each against the true transcripts, and the WER of
   the int8 transcripts against the fp32 ones (how much int8 changes the output at all).
2. Text: greedy 32-token continuations of text passages by the decoder in fp32, int8 and (for scale)
   bf16 weights: BLEU of each output against the fp32 output (100 = identical), and over the passages'
   own tokens the next-token agreement (top-1) and KL(fp32 || variant), one position at a time as
   generation sees them.
The WERs against the truth are only as meaningful as the model (the shipped default had 300 CPU
training steps); the int8-vs-fp32 numbers measure the change either way. --model takes any folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Results, apply_threads, row  # noqa: E402
from speech import SENTENCES, VOICES, espeak  # noqa: E402

from audiollm.api import GenerationSettings, load, quantize_int8  # noqa: E402
from audiollm.evaluate.metrics import bleu_chrf, error_rate  # noqa: E402

PASSAGES = [
    "The Mass Rapid Transit is a rapid transit system in Singapore and the backbone of its public transport",
    "Hawker centres are open-air food courts where many small stalls sell affordable local dishes such as",
    "To apply for the new travel card, residents should bring their identity card to any ticket office and",
    "The weather in Singapore is hot and humid all year round, with heavy showers in the afternoons during",
]


def transcription_change(fp32, int8, args, results: Results) -> None:
    """WER of fp32 and int8 transcripts against the truth and against each other."""
    clips = [espeak(SENTENCES[i % len(SENTENCES)], VOICES[i % len(VOICES)]) for i in range(args.clips)]
    truth = [SENTENCES[i % len(SENTENCES)] for i in range(args.clips)]
    settings = GenerationSettings(max_new_tokens=48)
    with torch.inference_mode():
        reference = fp32.transcribe(clips, settings)
        quantised = int8.transcribe(clips, settings)
    values = {"wer_fp32": error_rate(truth, reference).rate, "wer_int8": error_rate(truth, quantised).rate,
              "wer_int8_vs_fp32": error_rate(reference, quantised).rate, "clips": args.clips,
              "identical_transcripts": sum(a == b for a, b in zip(reference, quantised))}
    results.add(row("quantization", f"transcription of {args.clips} clips ({args.model})", values,
                    ratio=values["wer_int8_vs_fp32"], ratio_label="WER of int8 output vs fp32 output"))
    print(f"WER vs truth: fp32 {values['wer_fp32']:.3f}, int8 {values['wer_int8']:.3f}; int8 vs fp32 output "
          f"{values['wer_int8_vs_fp32']:.3f}; identical {values['identical_transcripts']}/{args.clips}")


def text_change(fp32, others: dict, results: Results) -> None:
    """For each lower-precision variant: BLEU of its continuations against fp32's; per-position top-1
    agreement and KL(fp32 || variant)."""
    tokenizer = fp32.processor.tokenizer
    prompts = [tokenizer(passage, return_tensors="pt").input_ids for passage in PASSAGES]
    reference = [_continuation(fp32, ids) for ids in prompts]
    reference_logits = [_next_token_logits(fp32.model.text_decoder, ids) for ids in prompts]
    for name, assistant in others.items():
        continuations = [_continuation(assistant, ids) for ids in prompts]
        agree, divergence, positions = 0, 0.0, 0
        for ids, expected in zip(prompts, reference_logits):
            logits = _next_token_logits(assistant.model.text_decoder, ids)
            log_p, log_q = torch.log_softmax(expected, -1), torch.log_softmax(logits, -1)
            divergence += float((log_p.exp() * (log_p - log_q)).sum())
            agree += int((expected.argmax(-1) == logits.argmax(-1)).sum())
            positions += ids.shape[1]
        bleu = bleu_chrf(reference, continuations, "en", tokenize="13a")["bleu"]
        values = {"bleu_vs_fp32": bleu, "top1_agreement": agree / positions, "kl_fp32": divergence / positions,
                  "positions": positions}
        results.add(row("quantization", f"text continuations, {name} vs fp32 (decoder only)", values, ratio=bleu,
                        ratio_label="BLEU of the variant's output vs fp32 output (100 = identical)"))
        print(f"text, {name}: BLEU vs fp32 {bleu:.1f}; next-token top-1 agreement {100 * agree / positions:.1f}%, "
              f"KL {divergence / positions:.4f} over {positions} positions")


def _continuation(assistant, ids: torch.Tensor) -> str:
    """Greedy 32-token continuation of a passage."""
    with torch.inference_mode():
        new = assistant.model.text_decoder.generate(input_ids=ids, max_new_tokens=32, do_sample=False,
                                                    temperature=None, top_p=None, top_k=None,
                                                    pad_token_id=0)[0, ids.shape[1]:]
    return assistant.processor.tokenizer.decode(new, skip_special_tokens=True)


def _next_token_logits(decoder, ids: torch.Tensor) -> torch.Tensor:
    """(L, V) next-token logits, the LM head applied one position at a time (as in generation)."""
    with torch.inference_mode():
        hidden = decoder.base_model(input_ids=ids).last_hidden_state[0]
        head = decoder.get_output_embeddings()
        return torch.cat([head(hidden[i : i + 1]) for i in range(hidden.shape[0])]).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="'default' or a model folder (a trained one is better)")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--threads", default=None, help="torch threads: a number, 'auto', or torch's default")
    parser.add_argument("--skip-bf16", action="store_true", help="do not compare bf16 weights too")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    apply_threads(args.threads)
    results = Results("quantization", args.json)
    fp32 = load(args.model)
    int8 = load(args.model)
    quantize_int8(int8.model)
    transcription_change(fp32, int8, args, results)
    others = {"int8": int8}
    if not args.skip_bf16:  # the usual reduced precision, for scale: how much does bf16 change?
        others["bf16 weights"] = load(args.model, dtype="bfloat16")
    text_change(fp32, others, results)
    results.write()


if __name__ == "__main__":
    main()
