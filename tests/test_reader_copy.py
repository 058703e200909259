"""The reader copy bias: decoding leans towards continuing Whisper's own reading (audiollm/reader_copy.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor
from test_transcript_rows import _model, _tone
from tiny_models import tiny_tokenizer

from audiollm.api import AudioAssistant, GenerationSettings, read_generation_defaults
from audiollm.errors import ConfigError
from audiollm.processor import Turn
from audiollm.reader_copy import ReaderCopy, ReaderCopyBias, character_confidences, following_positions, trusted
from audiollm.transcript_rows import WindowReading

WORDS = "the quick brown fox jumps over lazy dog hello world".split()


class WordTokenizer:
    """Stands in for Whisper's tokenizer: text token i is the word WORDS[i % 10]."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(" " + WORDS[i % len(WORDS)] for i in ids)


def test_the_copy_continues_after_the_longest_tail_of_the_answer_found_in_the_reading():
    source = [5, 6, 7, 5, 8, 9]
    # Only an answer that starts as the reading does (its first 2 tokens) is a copy of it.
    assert following_positions(source, []) == []
    assert following_positions(source, [5]) == []
    assert following_positions(source, [6, 7, 5]) == []  # in the reading, but not from its start
    assert following_positions(source, [5, 6]) == [2]
    assert following_positions(source, [5, 6, 7, 5]) == [4]  # the longer tail "7 5" decides
    assert following_positions(source, [5, 6, 1, 5]) == [1, 4]  # "5" alone: both continuations
    assert following_positions(source, [5, 6, 7, 5, 8, 9]) == [6]  # the whole reading copied: it is over
    assert following_positions(source, [5, 6, 4]) == []  # off the reading: nothing to continue
    assert following_positions(source, [5, 6, 7, 5, 8], longest=1) == [5]
    assert following_positions(source, [6], anchor=0) == [2]  # without the anchor, anywhere
    assert following_positions(source, [], anchor=0) == [0]  # and from the first token
    assert following_positions([], [5, 6]) == []


def test_the_bias_lifts_the_continuations_and_the_end_once_the_copy_is_complete():
    bias = ReaderCopyBias(3.0, [[5, 6, 7], [], [5, 6], [6, 5, 6]], end_ids=[1, 4])
    written = torch.tensor([[5, 6], [5, 6], [5, 6], [5, 6]])
    scores = bias(written, torch.zeros(4, 10))
    assert scores[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 3.0, 0, 0]
    assert scores[1].abs().sum() == 0  # no reading, no bias
    assert scores[2].tolist() == [0, 3.0, 0, 0, 3.0, 0, 0, 0, 0, 0]  # "5 6" is all of it: the end ids
    assert scores[3].abs().sum() == 0  # "5 6" occurs in [6, 5, 6], but the answer did not start as it does


def test_weights_scale_each_continuation_and_the_end_keeps_the_full_strength():
    bias = ReaderCopyBias(4.0, [[5, 6, 7, 6, 8]], end_ids=[1], weights=[[1.0, 1.0, 0.25, 1.0, 0.5]])
    assert bias(torch.tensor([[5, 6]]), torch.zeros(1, 10))[0, 7] == 1.0  # Whisper was unsure of 7
    scores = bias(torch.tensor([[5, 6, 9, 6]]), torch.zeros(1, 10))  # "6" continues as 7 or as 8
    assert scores[0, 7] == 1.0 and scores[0, 8] == 2.0
    assert bias(torch.tensor([[5, 6, 7, 6, 8]]), torch.zeros(1, 10))[0, 1] == 4.0


class ByteTokenizer:
    """Stands in for a byte-level tokenizer: token i is byte i, so a letter may take two tokens."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def test_each_character_takes_the_probability_of_the_tokens_that_wrote_it():
    text, confidences = character_confidences(WordTokenizer(), WindowReading([0, 1], [0.9, 0.2]))
    assert text == "the quick" and confidences == [0.9] * 3 + [0.2] * 6  # the leading space stripped
    ids = list(" café".encode())  # é is two bytes: the letter is as sure as the less sure of them
    text, confidences = character_confidences(ByteTokenizer(), WindowReading(ids, [0.9, 0.8, 0.8, 0.7, 0.3, 0.6]))
    assert text == "café" and confidences == [0.8, 0.8, 0.7, 0.3]


def test_confidence_weights_follow_the_words_whisper_was_unsure_of():
    _, processor = _model(rate=4.0)
    tokenizer = processor.tokenizer
    windows = [WindowReading([0, 1, 2], [0.9, 0.25, 1.0]), WindowReading([3], [0.5])]  # "the quick brown" "fox"
    flat_ids, flat = ReaderCopy(8.0, WordTokenizer(), tokenizer).spell(windows)
    ids, weights = ReaderCopy(8.0, WordTokenizer(), tokenizer, confidence=2.0).spell(windows)
    assert ids == flat_ids == tokenizer("the quick brown fox", add_special_tokens=False).input_ids
    assert flat == [1.0] * len(ids)
    offsets = tokenizer("the quick brown fox", add_special_tokens=False, return_offsets_mapping=True).offset_mapping
    # Per character of "the quick brown fox": each word with its leading space; the space joining the windows is sure.
    characters = [0.9] * 3 + [0.25] * 6 + [1.0] * 6 + [1.0] + [0.5] * 3
    assert weights == pytest.approx([min(characters[start:end]) ** 2 for start, end in offsets])
    assert min(weights) == pytest.approx(0.0625) and 0.25 in weights  # "quick" and "fox" were less sure


class StartWith(LogitsProcessor):
    """Makes each row's answer start with the given tokens (as a model that transcribes would)."""

    def __init__(self, starts: list[list[int]]):
        self.starts = starts

    def __call__(self, input_ids, scores):
        for row, start in enumerate(self.starts):
            if input_ids.shape[1] < len(start):
                scores[row] = torch.where(torch.arange(scores.shape[1]) == start[input_ids.shape[1]], 0.0, -1e9)
        return scores


def test_each_row_copies_the_reading_of_its_own_windows_whatever_it_is_batched_with():
    model, processor = _model(rate=4.0)
    copy = ReaderCopy(1e4, WordTokenizer(), processor.tokenizer)
    conversations = [[Turn("user", "long one", [_tone(33.0, 500)])], [Turn("user", "short", [_tone(1.5, 300)])]]
    kwargs = dict(max_new_tokens=8, do_sample=False, eos_token_id=processor.stop_token_ids,
                  pad_token_id=processor.tokenizer.pad_token_id)
    with torch.no_grad():
        sources = []
        for conversation in conversations:  # each alone: its windows' readings, spelled
            readings = []
            batch = processor([conversation])
            model.embed_inputs(batch["input_ids"], batch["input_features"], batch["feature_attention_mask"],
                               batch["transcript_features"], readings)
            placeholders = int((batch["input_ids"] == model.config.speech_token_index).sum())
            assert sum(count for _, count in readings) == placeholders  # one pair per window, all tokens
            sources.append(copy.spell([reading for reading, _ in readings])[0])
        assert len(sources[0]) > 2 and len(sources[1]) > 2
        batch = processor(conversations)
        plain = model.generate(**batch, **kwargs)
        anchored = model.generate(**batch, reader_copy=copy, **kwargs)
        starts = StartWith([source[:2] for source in sources])
        copied = model.generate(**batch, reader_copy=copy, logits_processor=[starts], **kwargs)
        unbiased = model.generate(**batch, logits_processor=[starts], **kwargs)
    # An answer that does not start as its reading does is left alone, however strong the bias.
    assert all(plain[row, :2].tolist() != source[:2] for row, source in enumerate(sources))
    assert torch.equal(anchored, plain)
    # One that does is a copy of its own row's reading from then on, to the end of the reading.
    for row, source in enumerate(sources):
        written = copied[row].tolist()
        for step in range(2, len(written)):
            allowed = [source[p] if p < len(source) else None for p in following_positions(source, written[:step])]
            if written[step] in processor.stop_token_ids:
                assert None in allowed  # only once the reading is copied to its end
                break
            assert written[step] in allowed
    assert not torch.equal(copied, unbiased)  # the random model would not have copied it


def test_the_strength_comes_from_the_settings_or_the_models_generation_config(tmp_path):
    model, processor = _model(rate=4.0)
    assistant = AudioAssistant(model, processor, "tiny", generation_defaults={"reader_copy_bias": 1e4})
    assistant._whisper_tokenizer = WordTokenizer()  # the tiny reader has no packaged tokenizer
    assert assistant._reader_copy(GenerationSettings()).strength == 1e4
    assert assistant._reader_copy(GenerationSettings(reader_copy_bias=0)) is None
    assert assistant._reader_copy(GenerationSettings(reader_copy_bias=7.0)).strength == 7.0
    seen, original = [], model.generate

    def recording_generate(**kwargs):
        seen.append(kwargs["reader_copy"].strength if kwargs["reader_copy"] else None)
        return original(**kwargs)

    model.generate = recording_generate
    for strength in (None, 0, 3.0):
        assistant.ask(_tone(1.5, 300), "say it", GenerationSettings(max_new_tokens=4, reader_copy_bias=strength))
    assert seen == [1e4, None, 3.0]
    (tmp_path / "generation_config.json").write_text(json.dumps({"reader_copy_bias": -1}))
    with pytest.raises(ConfigError, match="reader_copy_bias must be a number of 0 or more"):
        read_generation_defaults(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps({"reader_copy_bias": 4, "reader_copy_anchor": 0}))
    assert read_generation_defaults(tmp_path) == {"reader_copy_bias": 4, "reader_copy_anchor": 0}
    (tmp_path / "generation_config.json").write_text(json.dumps({"reader_copy_anchor": 1.5}))
    with pytest.raises(ConfigError, match="reader_copy_anchor must be a whole number"):
        read_generation_defaults(tmp_path)
    assistant.generation_defaults["reader_copy_anchor"] = 0
    assert assistant._reader_copy(GenerationSettings()).anchor == 0


def test_whisper_trusts_a_reading_as_its_own_fallback_and_silence_tests_do():
    assert trusted([WindowReading([1, 2], [0.9, 0.8], no_speech=0.1)])
    assert not trusted([WindowReading([1, 2], [0.2, 0.3], no_speech=0.1)])  # mean log-probability -1.4
    assert not trusted([WindowReading([1, 2], [0.9, 0.8], no_speech=0.7)])  # probably nobody speaks
    assert not trusted([WindowReading([1, 2], [0.9, 0.8]), WindowReading([3], [0.9], no_speech=0.9)])
    assert not trusted([WindowReading([], [])])
    copy = ReaderCopy(8.0, WordTokenizer(), _model(rate=4.0)[1].tokenizer, anchor=2, trusted_anchor=0)
    sure, unsure = WindowReading([0, 1], [0.9, 0.9]), WindowReading([2, 3], [0.2, 0.2])
    assert copy.bias([(sure, 3), (unsure, 3)], [3, 3], end_ids=1).anchors == [0, 2]


def test_transcriptions_take_the_models_transcript_anchor_where_whisper_trusts_its_reading(monkeypatch):
    from audiollm.inference import SpeechRequest

    model, processor = _model(rate=4.0)
    defaults = {"reader_copy_bias": 1e4, "reader_copy_anchor": 2, "reader_copy_transcript_anchor": 0}
    assistant = AudioAssistant(model, processor, "tiny", generation_defaults=defaults)
    assistant._whisper_tokenizer = WordTokenizer()
    seen, original = [], model.generate

    def recording_generate(**kwargs):
        copy = kwargs["reader_copy"]
        seen.append((copy.anchor, copy.trusted_anchor) if copy else None)
        return original(**kwargs)

    model.generate = recording_generate
    audio = _tone(1.5, 300)
    assistant.transcribe(audio, GenerationSettings(max_new_tokens=4))
    assistant.ask(audio, "what is said?", GenerationSettings(max_new_tokens=4))
    assistant.respond([SpeechRequest("write it out", audio, 4, extra={"task": "asr"}),
                       SpeechRequest("translate it", audio, 4, extra={"task": "st"})])
    assert seen[:2] == [(2, 0), (2, None)] and sorted(seen[2:], key=str) == [(2, 0), (2, None)]
    # The tiny random reader is unsure of everything; trusted, its transcription leans towards the reading
    # from its first token, where the random model starts elsewhere on its own.
    monkeypatch.setattr("audiollm.reader_copy.TRUSTED_MEAN_LOGPROB", -math.inf)
    monkeypatch.setattr("audiollm.reader_copy.NO_SPEECH_THRESHOLD", 1.0)
    reading = []
    batch = processor([[Turn("user", "x", [audio])]])
    model.embed_inputs(batch["input_ids"], batch["input_features"], batch["feature_attention_mask"],
                       batch["transcript_features"], reading)
    first_word = WORDS[reading[0][0].tokens[0] % len(WORDS)]
    assert assistant.transcribe(audio, GenerationSettings(max_new_tokens=8)).split()[0] == first_word
    assert not assistant.transcribe(audio, GenerationSettings(max_new_tokens=8, reader_copy_bias=0)).startswith(first_word)
    del assistant.generation_defaults["reader_copy_transcript_anchor"]  # unset: transcriptions wait for the anchor
    assert assistant._reader_copy(GenerationSettings(transcribing=True)).trusted_anchor is None


def test_a_model_without_a_reader_decodes_as_before():
    from tiny_models import tiny_config

    from audiollm.model import AudioLLM
    from audiollm.processor import AudioLLMProcessor

    torch.manual_seed(0)
    config = tiny_config(encoder_input="real")
    model = AudioLLM.from_config(config).eval()
    assistant = AudioAssistant(model, AudioLLMProcessor(tiny_tokenizer(), config), "tiny",
                               generation_defaults={"reader_copy_bias": 5.0})
    assert assistant._reader_copy(GenerationSettings()) is None
    audio = np.zeros(16000, dtype=np.float32)
    assert isinstance(assistant.ask(audio, "say it", GenerationSettings(max_new_tokens=3)), str)


def test_requests_the_evaluation_and_the_server_carry_the_strength_to_generate():
    from audiollm.evaluate.runner import Decoding
    from audiollm.inference import SpeechRequest
    from audiollm.serve.chat_request import parse_settings
    from audiollm.serve.errors import APIError

    model, processor = _model(rate=4.0)
    assistant = AudioAssistant(model, processor, "tiny")
    assistant._whisper_tokenizer = WordTokenizer()
    seen, original = [], model.generate

    def recording_generate(**kwargs):
        seen.append(kwargs["reader_copy"].strength if kwargs["reader_copy"] else None)
        return original(**kwargs)

    model.generate = recording_generate
    audio = _tone(1.0, 300)
    assistant.respond([SpeechRequest("x", audio, 4, reader_copy_bias=3.0), SpeechRequest("x", audio, 4)])
    assert sorted(seen, key=str) == [3.0, None]  # grouped apart; the second leaves it to the model (off)
    assert parse_settings({"reader_copy_bias": 2}, 16, 64).reader_copy_bias == 2.0
    assert parse_settings({}, 16, 64).reader_copy_bias is None
    with pytest.raises(APIError, match="reader_copy_bias must be between 0 and 100"):
        parse_settings({"reader_copy_bias": -1}, 16, 64)
    assert Decoding(reader_copy_bias=4.0).recorded()["reader_copy_bias"] == 4.0
    assert "reader_copy_bias" not in Decoding().recorded()  # left to the model: earlier reports still match
    with pytest.raises(ConfigError, match="reader_copy_bias"):
        Decoding(reader_copy_bias=-1)
