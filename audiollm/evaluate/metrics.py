"""Metrics on reference/prediction string pairs, each matching a published definition.

- `error_rate`: AudioBench corpus WER, sum(S+D+I) / sum(S+D+H) over all utterances after
  `normalise_asr`, with empty strings replaced by "empty" as AudioBench does; Mandarin is spaced per
  character first, so its rate is a character error rate. Per-utterance rates come with it.
- `bleu_chrf`: sacrebleu corpus BLEU and chrF. AudioBench uses tokenize="flores101", whose
  SentencePiece model sacrebleu downloads on first use; offline we use it only when it is already
  cached and otherwise fall back to "13a" ("zh" for Chinese targets, "char" for other unspaced
  scripts). The sacrebleu signature recorded with the score says which one ran.
- `rouge_l`: ROUGE-L F-measure (LCS), with rouge-score's default tokenisation (lowercase, split on
  anything that is not a letter or digit, no stemming) extended to keep non-Latin letters and to
  split CJK per character, so it also works on Chinese and Tamil.
- `token_f1`, `exact_match`, `contains_match`: SQuAD-style answer overlap after `normalise_answer`.
- `match_choice`: which closed-set label a free-form answer names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from audiollm.evaluate.normalise import is_cjk_language, normalise_answer, normalise_asr, space_cjk

# Scripts written without spaces between words: BLEU needs a character-level tokeniser for them.
_UNSPACED_LANGUAGES = {"ja", "th", "lo", "km", "my", "ko"}


@dataclass
class ErrorRate:
    """Corpus error rate plus what it was computed from.

    rate: sum(errors) / sum(reference units), a fraction (0.052 = 5.2 %).
    unit: "word", or "char" when CJK text was spaced per character.
    utterances: one `utterance_errors` dict per pair.
    """

    rate: float
    unit: str
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    utterances: list[dict] = field(default_factory=list)


def utterance_errors(reference: str, prediction: str, language: str = "en") -> dict:
    """Edit counts of one pair after `normalise_asr` (AudioBench: an empty side becomes "empty").

    Returns the normalised reference and prediction, errors (S+D+I), ref_units (S+D+H), the unit
    ("char" for Mandarin, else "word") and the utterance's own rate.
    """
    import jiwer

    ref = normalise_asr(reference, language) or "empty"
    hyp = normalise_asr(prediction, language) or "empty"
    output = jiwer.process_words(ref, hyp)
    errors = output.substitutions + output.deletions + output.insertions
    units = output.substitutions + output.deletions + output.hits
    return {"reference": ref, "prediction": hyp, "substitutions": output.substitutions,
            "deletions": output.deletions, "insertions": output.insertions, "hits": output.hits,
            "errors": errors, "ref_units": units, "rate": errors / units if units else 0.0,
            "unit": "char" if is_cjk_language(language) else "word"}


def error_rate(references: Sequence[str], predictions: Sequence[str], language: str = "en") -> ErrorRate:
    """AudioBench corpus WER (CER for Mandarin) of predictions against references."""
    if len(references) != len(predictions):
        raise ValueError("references and predictions differ in length")
    utterances = [utterance_errors(r, p, language) for r, p in zip(references, predictions)]
    totals = {key: sum(u[key] for u in utterances)
              for key in ("substitutions", "deletions", "insertions", "hits")}
    units = sum(u["ref_units"] for u in utterances)
    errors = sum(u["errors"] for u in utterances)
    unit = "char" if is_cjk_language(language) else "word"
    return ErrorRate(rate=errors / units if units else 0.0, unit=unit, utterances=utterances, **totals)


def _flores101_cached() -> bool:
    """True if sacrebleu's flores101 SentencePiece model is on disk (using it needs no download)."""
    from sacrebleu.utils import SACREBLEU_DIR

    return (Path(SACREBLEU_DIR) / "models" / "sacrebleu_tokenizer_spm.model").is_file()


def bleu_tokenizer(target_language: str | None, requested: str = "auto") -> str:
    """The sacrebleu tokeniser to use: `requested` unless "auto", see the module docstring."""
    if requested != "auto":
        return requested
    if _flores101_cached():
        return "flores101"
    language = (target_language or "").lower()
    if is_cjk_language(language):
        return "zh"
    if language in _UNSPACED_LANGUAGES:
        return "char"
    return "13a"


def bleu_chrf(references: Sequence[str], predictions: Sequence[str], target_language: str | None,
              tokenize: str = "auto") -> dict:
    """Corpus BLEU and chrF (both 0-100) with their sacrebleu signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(references) != len(predictions):
        raise ValueError("references and predictions differ in length")
    tokenizer = bleu_tokenizer(target_language, tokenize)
    bleu = BLEU(tokenize=tokenizer)
    chrf = CHRF()
    refs = [list(references)]
    return {
        "bleu": bleu.corpus_score(list(predictions), refs).score,
        "chrf": chrf.corpus_score(list(predictions), refs).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


# Letters and digits of any script; the underscore is excluded as rouge-score does.
_WORD = re.compile(r"[^\W_]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokens (lowercased alphanumeric runs), CJK split per character."""
    return _WORD.findall(space_cjk(text.lower()))


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(reference: str, prediction: str) -> float:
    """ROUGE-L F-measure in [0, 1] (beta = 1, as rouge-score reports `fmeasure`)."""
    ref, hyp = rouge_tokens(reference), rouge_tokens(prediction)
    if not ref or not hyp:
        return 0.0
    lcs = _lcs_length(ref, hyp)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_f1(reference: str, prediction: str) -> float:
    """SQuAD token-overlap F1 in [0, 1] after `normalise_answer`."""
    from collections import Counter

    ref, hyp = normalise_answer(reference).split(), normalise_answer(prediction).split()
    if not ref or not hyp:
        return float(ref == hyp)
    common = sum((Counter(ref) & Counter(hyp)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(hyp), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(reference: str, prediction: str) -> bool:
    """True if both are equal after `normalise_answer`."""
    return normalise_answer(reference) == normalise_answer(prediction)


def contains_match(reference: str, prediction: str) -> bool:
    """True if the normalised reference appears as whole words inside the normalised prediction.

    Chat models wrap short answers in sentences ("The answer is Paris."); this counts those.
    """
    ref, hyp = normalise_answer(reference), normalise_answer(prediction)
    if not ref:
        return not hyp
    return f" {ref} " in f" {hyp} "


# Other ways answers name a closed-set label. Digits are also accepted as English words ("2" ->
# "two") and "X-accented" labels as "X" alone; gender labels as the everyday nouns.
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_LABEL_SYNONYMS = {"male": ("man", "boy", "masculine"), "female": ("woman", "girl", "feminine")}


def choice_variants(choice: str) -> list[str]:
    """Normalised strings that count as naming `choice` (itself first)."""
    text = normalise_answer(choice)
    variants = [text] + list(_LABEL_SYNONYMS.get(text, ()))
    if text.isdigit() and int(text) < len(_NUMBER_WORDS):
        variants.append(_NUMBER_WORDS[int(text)])
    if text.endswith(" accented") and len(text.split()) > 1:
        variants.append(text[: -len(" accented")])
    return [v for v in variants if v]


def match_choice(prediction: str, choices: Sequence[str]) -> str | None:
    """The choice a free-form answer names, or None.

    A choice counts when one of its `choice_variants` appears as whole words in the normalised
    prediction (so "female" does not match "male"). When several appear, the one named first wins
    ("male, not female" -> "male"); ties at the same position go to the longer text.
    """
    hyp = f" {normalise_answer(prediction)} "
    best: tuple[int, int, str] | None = None
    for choice in choices:
        for text in choice_variants(choice):
            position = hyp.find(f" {text} ")
            if position >= 0 and (best is None or (position, -len(text)) < best[:2]):
                best = (position, -len(text), choice)
    return None if best is None else best[2]
