"""What do a model's speech rows spell, per language? The CTC readout of a trained model, no decoder.

    python experiments/rows_read.py default --data corpus/test_unseen_voice.jsonl --examples 12

A model trained with a CTC opening (align.ctc_steps, audiollm/train/ctc.py) has speech rows that sit
near the Gemma embeddings of the transcript's tokens. Reading each clip's rows greedily against the
token inventory of the training transcripts (the same classes the CTC loss used) shows whether the
adaptor carries a language's words at all; if the rows spell a Malay clip but the model's answer is
English, the decoder is what changes the language. Prints one JSON line: WER (CER for Mandarin) of
the readout per language, on the first N transcribed ASR clips of each language in the manifest.
"""

from __future__ import annotations

import argparse
import json

import torch

from audiollm.api import cpu_threads
from audiollm.cli.core import threads_option
from audiollm.data.manifest import read_manifest
from audiollm.default import resolve_model_folder
from audiollm.evaluate.data import load_audio
from audiollm.evaluate.metrics import error_rate
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor
from audiollm.train.ctc import TokenInventory, greedy_read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, or 'default'")
    parser.add_argument("--data", default="corpus/test_unseen_voice.jsonl")
    parser.add_argument("--train", default="corpus/train.jsonl", help="transcripts whose tokens form the inventory")
    parser.add_argument("--examples", type=int, default=12, help="clips per language")
    parser.add_argument("--threads", type=threads_option, default=1)
    args = parser.parse_args()
    torch.set_num_threads(cpu_threads(args.threads))
    args.model = resolve_model_folder(args.model)  # "default": the shipped default, built on first use
    model = AudioLLM.from_pretrained(args.model).eval()
    processor = AudioLLMProcessor.from_pretrained(args.model, model.config)
    embedding = model.text_decoder.get_input_embeddings()
    inventory = TokenInventory.heard_in(processor.tokenizer, read_manifest(args.train), embedding.num_embeddings)
    classes = inventory.class_embeddings(embedding)
    clips: dict[str, list] = {}
    for example in read_manifest(args.data):
        if example.task == "asr" and not example.meta.get("no_speech") and example.answer.strip():
            clips.setdefault(example.language, []).append(example)
    result = {"model": args.model, "data": args.data, "inventory": len(inventory), "languages": {}}
    with torch.no_grad():
        for language, examples in sorted(clips.items()):
            examples = examples[: args.examples]
            readouts = []
            for example in examples:
                features = processor.features([load_audio(example)])
                rows = model.speech_rows(features["input_features"], features.get("feature_attention_mask"))
                spelled = greedy_read(rows, classes, inventory)
                readouts.append(processor.tokenizer.decode(spelled, skip_special_tokens=True))
            rate = error_rate([e.answer for e in examples], readouts, language)
            result["languages"][language] = {"clips": len(examples), "error_rate": round(100 * rate.rate, 1),
                                             "first": [examples[0].answer, readouts[0]]}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
