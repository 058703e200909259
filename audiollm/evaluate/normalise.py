"""Text normalisation before scoring, following AudioBench's `preprocess_text_asr`.

English ASR text goes through, in this order (AudioBench, reference/meralion.md section 6.2):

1. lowercase;
2. Whisper's `EnglishTextNormalizer` (reused from transformers, with the British-to-American spelling
   mapping that Whisper ships as `english.json`);
3. digits 0-20 and the tens written as words, and 22 common contractions expanded (this undoes part of
   step 2 on purpose: AudioBench does it, so scores only match if we do it too);
4. text inside [] () {} <> removed;
5. jiwer RemoveMultipleSpaces, ExpandCommonEnglishContractions, RemoveKaldiNonWords, RemovePunctuation;
6. the fillers uh/umm/um/er/ah dropped, then strip.

Mandarin (and code-switched Mandarin/English) adds a space between CJK characters, so the word error
rate on it is in effect a character error rate. Other languages use a script-preserving basic
normaliser (Whisper's BasicTextNormalizer deletes combining marks, which breaks Tamil vowel signs).

`NORMALISER_VERSION` names this recipe; `normaliser_info()` adds what it depends on (the transformers
version and a hash of the spelling mapping) so every score can record exactly how text was cleaned.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache

# Bump when any step below changes: reports record it beside every ASR score.
NORMALISER_VERSION = "audiobench-asr-1"

# Step 3: AudioBench's own digit and contraction tables (numbers only up to 20 and the tens).
_DIGIT_WORDS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
    "7": "seven", "8": "eight", "9": "nine", "10": "ten", "11": "eleven", "12": "twelve",
    "13": "thirteen", "14": "fourteen", "15": "fifteen", "16": "sixteen", "17": "seventeen",
    "18": "eighteen", "19": "nineteen", "20": "twenty", "30": "thirty", "40": "forty",
    "50": "fifty", "60": "sixty", "70": "seventy", "80": "eighty", "90": "ninety",
}
_CONTRACTIONS = {
    "i'm": "i am", "you're": "you are", "he's": "he is", "she's": "she is", "it's": "it is",
    "we're": "we are", "they're": "they are", "i've": "i have", "you've": "you have",
    "we've": "we have", "they've": "they have", "isn't": "is not", "aren't": "are not",
    "wasn't": "was not", "weren't": "were not", "hasn't": "has not", "haven't": "have not",
    "hadn't": "had not", "doesn't": "does not", "don't": "do not", "didn't": "did not",
    "that's": "that is",
}
# Step 4: AudioBench's exact pattern. Its class `[^()\\n[\]]` excludes a backslash and the letter
# "n" (not a newline). Kept as is so scores match. In practice the step rarely fires: the Whisper step
# has already removed [...], <...> and (...) spans and turned the braces of {...} into spaces.
_BRACKETED = re.compile(r"(\[|\(|\{|\<)[^\(\)\\n\[\]]*(\]|\)|\}|\>)")
# The same idea without the quirk, for the non-English normaliser that has no AudioBench reference.
_BRACKETED_CLEAN = re.compile(r"[\[\(\{<][^\[\]\(\)\{\}<>\n]*[\]\)\}>]")
_FILLERS = re.compile(r"\b(uh|umm|um|er|ah)\b")
_CJK_RUN = re.compile(r"([\u4e00-\u9fff]+)")
_CJK_LANGUAGES = {"zh", "cmn", "yue", "zh-cn", "zh-tw", "mandarin", "chinese"}


@lru_cache(maxsize=1)
def spelling_mapping() -> tuple[dict[str, str], str]:
    """Whisper's British-to-American spelling table and a short hash of it ("none" if unavailable).

    transformers ships the normaliser code but not the table (it lives in each Whisper tokenizer's
    `normalizer.json`). Offline, the `whisper-normalizer` package carries the same `english.json`;
    `openai-whisper` does too. Without either the mapping is empty and the hash says "none", so a
    report shows that spellings were not standardised.
    """
    import importlib.resources

    for package, parts in (("whisper_normalizer", ("normalizers", "english.json")),
                           ("whisper", ("normalizers", "english.json"))):
        try:
            resource = importlib.resources.files(package).joinpath(*parts)
            text = resource.read_text(encoding="utf-8")
        except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
            continue
        return json.loads(text), hashlib.sha256(text.encode()).hexdigest()[:12]
    return {}, "none"


@lru_cache(maxsize=1)
def _whisper_english():
    """The transformers EnglishTextNormalizer, built once (it compiles many patterns)."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(spelling_mapping()[0])


@lru_cache(maxsize=1)
def _jiwer_steps():
    """AudioBench step 5 as one jiwer pipeline."""
    import jiwer

    return jiwer.Compose([
        jiwer.RemoveMultipleSpaces(),
        jiwer.ExpandCommonEnglishContractions(),
        jiwer.RemoveKaldiNonWords(),
        jiwer.RemovePunctuation(),
    ])


def normaliser_info() -> dict:
    """What the ASR normaliser depends on, for recording next to scores."""
    from importlib.metadata import version

    return {
        "version": NORMALISER_VERSION,
        "transformers": version("transformers"),
        "jiwer": version("jiwer"),
        "spelling_mapping": spelling_mapping()[1],
    }


def _digits_and_contractions(text: str) -> str:
    """AudioBench step 3: small numbers back to words, common contractions expanded."""
    for digit, word in _DIGIT_WORDS.items():
        text = re.sub(r"\b" + digit + r"\b", word, text)
    for contraction, expanded in _CONTRACTIONS.items():
        text = re.sub(r"\b" + contraction + r"\b", expanded, text)
    return text


def space_cjk(text: str) -> str:
    """Put a space between consecutive CJK characters so each one counts as a word."""
    return _CJK_RUN.sub(lambda match: " ".join(match.group(1)), text)


def normalise_english(text: str) -> str:
    """AudioBench `preprocess_text_asr`: steps 1-6 from the module docstring."""
    text = _whisper_english()(text.lower())
    text = _digits_and_contractions(text)
    text = _BRACKETED.sub("", text)
    text = _jiwer_steps()(text)
    return _FILLERS.sub("", text).strip()


def normalise_basic(text: str) -> str:
    """Script-preserving cleanup for languages the English normaliser does not fit.

    Lowercase, NFKC, bracketed spans dropped, punctuation and symbols turned into spaces, spaces
    collapsed. Combining marks are kept (they are vowels in Tamil and other Indic scripts).
    """
    text = unicodedata.normalize("NFKC", text.lower())
    text = _BRACKETED_CLEAN.sub("", text)
    text = "".join(" " if unicodedata.category(char)[0] in "PS" else char for char in text)
    return " ".join(text.split())


def is_cjk_language(language: str | None) -> bool:
    """True for language codes scored per character (Mandarin and its variants)."""
    return (language or "").lower() in _CJK_LANGUAGES


def normalise_asr(text: str, language: str | None = "en") -> str:
    """Normalise one transcript for WER/CER, choosing the recipe by the spoken language.

    en (and unknown): AudioBench English. zh: AudioBench English then CJK spacing (code-switched
    Mandarin keeps its English words normalised). Others: `normalise_basic`.
    """
    language = (language or "en").lower()
    if language.startswith("en"):
        return normalise_english(text)
    if is_cjk_language(language):
        return " ".join(space_cjk(normalise_english(text)).split())
    return normalise_basic(text)


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_answer(text: str) -> str:
    """SQuAD-style answer normalisation for exact match and token F1.

    Lowercase, punctuation removed, English articles removed, whitespace collapsed, CJK spaced.
    """
    text = unicodedata.normalize("NFKC", text.lower())
    text = "".join(" " if unicodedata.category(char)[0] in "PS" else char for char in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(space_cjk(text).split())
