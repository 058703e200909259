"""audiollm.evaluate: score any Responder on the six task families with AudioBench-style metrics.

    from audiollm.evaluate import evaluate, compare, Decoding, JudgeClient
    report = evaluate(responder, ["corpus/"], "runs/model")

Modules: `normalise` (ASR text normalisation), `metrics` (WER/CER, BLEU/chrF, ROUGE-L, matches),
`judge` (AudioBench LLM-judge rubrics and client), `data` (test sets and audio), `tasks` (metrics per
task and subset), `runner` (resumable inference), `longform` (long-audio test set), `report` and
`plots` (outputs), `pipeline` (the whole path), `http_client` (a Responder for `audiollm serve`).
Heavy libraries (torch, transformers, sacrebleu, matplotlib) load only when used.
"""

from audiollm.evaluate.judge import JudgeClient, parse_rating
from audiollm.evaluate.normalise import NORMALISER_VERSION, normalise_asr
from audiollm.evaluate.pipeline import compare, evaluate
from audiollm.evaluate.runner import Decoding

__all__ = ["Decoding", "JudgeClient", "NORMALISER_VERSION", "compare", "evaluate", "normalise_asr", "parse_rating"]
