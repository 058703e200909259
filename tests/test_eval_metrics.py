"""Metrics pinned on hand-checked examples: the AudioBench normaliser, corpus WER, Mandarin CER,
BLEU/chrF against sacrebleu's command line, ROUGE-L against rouge-score, answer matching."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audiollm.evaluate import metrics
from audiollm.evaluate.normalise import NORMALISER_VERSION, normalise_asr, normaliser_info, spelling_mapping


@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", "hello world"),                        # lowercase, punctuation
    ("I'm 5 years old.", "i am five years old"),             # contraction; AudioBench writes 0-20 as words
    ("twenty one", "21"),                                    # Whisper joins numbers; 21 is not in AudioBench's table
    ("One hundred and five", "105"),
    ("[noise] uh I can't go (laughs)", "i can not go"),      # bracketed spans and fillers removed
    ("um, er, ah well", "well"),                             # Whisper drops um; AudioBench drops er, ah
    ("he's gonna win", "he is going to win"),
    ("Mr. Jones paid $3.50 for 2 apples", "mister jones paid $threefifty for two apples"),  # AudioBench quirk
    ("It is 100% done", "it is 100 done"),                   # jiwer RemovePunctuation drops the %
    ("", ""),
])
def test_english_normaliser_matches_audiobench(raw, expected):
    assert normalise_asr(raw, "en") == expected


def test_spelling_mapping_is_applied_when_available():
    if spelling_mapping()[1] == "none":
        pytest.skip("no Whisper spelling table installed (whisper-normalizer)")
    assert normalise_asr("The colour is grey", "en") == "the color is gray"


def test_mandarin_is_spaced_per_character_and_other_languages_keep_their_script():
    assert normalise_asr("我爱北京天安门。", "zh") == "我 爱 北 京 天 安 门"
    assert normalise_asr("我们 meeting 在三点", "zh") == "我 们 meeting 在 三 点"
    assert normalise_asr("Apa khabar, Encik?", "ms") == "apa khabar encik"
    # Tamil vowel signs are combining marks; Whisper's basic normaliser would delete them.
    assert normalise_asr("வணக்கம், உலகம்!", "ta") == "வணக்கம் உலகம்"


def test_normaliser_info_names_its_version():
    info = normaliser_info()
    assert info["version"] == NORMALISER_VERSION and info["transformers"] and "spelling_mapping" in info


def test_corpus_wer_by_hand():
    # Utterance 1: one deletion in 6 words. Utterance 2: one insertion in 2 words.
    # Corpus WER = (1 + 1) / (6 + 2) = 0.25, not the mean of 1/6 and 1/2.
    result = metrics.error_rate(["The cat sat on the mat.", "Hello world"],
                                ["the cat sat on mat", "hello there world"])
    assert result.rate == pytest.approx(0.25)
    assert (result.substitutions, result.deletions, result.insertions, result.hits) == (0, 1, 1, 7)
    assert [u["rate"] for u in result.utterances] == pytest.approx([1 / 6, 1 / 2])
    assert result.unit == "word"


def test_empty_sides_score_as_the_word_empty():
    assert metrics.error_rate([""], ["something"]).rate == 1.0  # "empty" vs "something": 1 substitution
    assert metrics.error_rate([""], [""]).rate == 0.0


def test_mandarin_cer_by_hand():
    result = metrics.error_rate(["我爱北京天安门"], ["我爱背景天安门"], "zh")
    assert result.unit == "char" and result.rate == pytest.approx(2 / 7)


REFS = ["The cat sat on the mat.", "There is a book on the desk.", "I would like a cup of tea, please."]
HYPS = ["The cat sat on a mat.", "There is one book on the desk.", "I want a cup of tea please."]


def test_bleu_and_chrf_match_sacrebleu_cli_values():
    # `sacrebleu ref.txt -i hyp.txt -m bleu chrf -tok 13a -b -w 4` printed 46.5516 and 63.4970.
    scores = metrics.bleu_chrf(REFS, HYPS, "en", tokenize="13a")
    assert scores["bleu"] == pytest.approx(46.5516, abs=1e-4)
    assert scores["chrf"] == pytest.approx(63.4970, abs=1e-4)
    assert "tok:13a" in scores["bleu_signature"]
    # `-tok zh` on two Chinese sentences printed 46.3 and 36.2.
    zh = metrics.bleu_chrf(["我喜欢喝茶。", "今天天气很好。"], ["我喜欢喝绿茶。", "今天天气不错。"], "zh", tokenize="zh")
    assert (round(zh["bleu"], 1), round(zh["chrf"], 1)) == (46.3, 36.2)


def test_bleu_matches_the_cli_run_now(tmp_path):
    (tmp_path / "ref.txt").write_text("\n".join(REFS) + "\n")
    (tmp_path / "hyp.txt").write_text("\n".join(HYPS) + "\n")
    command = [sys.executable, "-m", "sacrebleu", str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"),
               "-m", "bleu", "chrf", "-tok", "13a", "-b", "-w", "4"]
    bleu, chrf = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    scores = metrics.bleu_chrf(REFS, HYPS, "en", tokenize="13a")
    assert (round(scores["bleu"], 4), round(scores["chrf"], 4)) == (bleu, chrf)


def test_bleu_tokeniser_choice_is_offline_safe():
    if metrics._flores101_cached():
        pytest.skip("flores101 model cached here; auto picks it")
    assert metrics.bleu_tokenizer("en") == "13a"
    assert metrics.bleu_tokenizer("zh") == "zh"
    assert metrics.bleu_tokenizer("th") == "char"
    assert metrics.bleu_tokenizer("en", "intl") == "intl"


@pytest.mark.parametrize("reference, prediction, expected", [
    # Values printed by rouge-score 0.1.2 (RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"].fmeasure).
    ("The cat sat on the mat.", "the cat was sitting on a mat", 0.6153846153846153),
    ("Police killed the gunman", "the gunman was shot by police", 0.4),
    ("a b c d e f", "x y z", 0.0),
    ("Hello world, this is 2024!", "hello world this was 2024", 0.8),
])
def test_rouge_l_matches_rouge_score(reference, prediction, expected):
    assert metrics.rouge_l(reference, prediction) == pytest.approx(expected)


def test_rouge_l_works_on_chinese():
    # 7 reference characters, 5 shared in order (我爱 天安门) with an 8-character prediction: F = 2*5/(7+8).
    assert metrics.rouge_l("我爱北京天安门", "我爱背景的天安门") == pytest.approx(2 * 5 / 15)


def test_answer_matching():
    # Articles are dropped: ref {eiffel, tower}, hyp 6 words, 2 shared -> P 1/3, R 1, F1 0.5.
    assert metrics.token_f1("the Eiffel Tower", "It is the Eiffel tower in Paris") == pytest.approx(0.5)
    assert metrics.exact_match("Paris", "paris.") and not metrics.exact_match("Paris", "In Paris")
    assert metrics.contains_match("Paris", "The answer is Paris.")
    assert not metrics.contains_match("male", "female")
    choices = ["male", "female"]
    assert metrics.match_choice("The speaker sounds male, not female", choices) == "male"
    assert metrics.match_choice("I think FEMALE.", choices) == "female"
    assert metrics.match_choice("no idea", choices) is None


def test_closed_set_labels_named_in_other_words():
    assert metrics.match_choice("There are two speakers.", ["1", "2", "3", "4"]) == "2"
    assert metrics.match_choice("An Afrikaans accent, I think", ["American", "Afrikaans-accented"]) == "Afrikaans-accented"
    assert metrics.match_choice("A woman is speaking", ["male", "female"]) == "female"
    assert metrics.match_choice("A man, not a woman", ["male", "female"]) == "male"


def test_no_speech_answers_are_not_hallucinations():
    from audiollm.evaluate.tasks import item_scores

    record = {"task": "asr", "reference": "[no speech]", "language": "en", "meta": {"no_speech": True}}
    assert not item_scores({**record, "prediction": "[No speech]"}, "[no speech]")["hallucinated"]
    assert not item_scores({**record, "prediction": "  "}, "[no speech]")["hallucinated"]
    assert item_scores({**record, "prediction": "Thank you."}, "[no speech]")["hallucinated"]
