"""Transcript rows (config.transcript_rows_per_second): Whisper's own decoder reads each window and its
next-token states enter the LLM after the window's speech rows (audiollm/transcript_rows.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from tiny_models import tiny_config, tiny_tokenizer, tiny_whisper_fields

from audiollm.errors import ConfigError, PromptError
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn
from transformers import WhisperConfig

from audiollm.transcript_rows import TOP_TOKENS, TranscriptReader, token_rows

# A tiny multilingual-style Whisper vocabulary: text tokens 0..49, then its special tokens.
END, START, TRANSCRIBE, NO_TIMESTAMPS = 50, 51, 54, 55
SPECIALS = dict(vocab_size=64, eos_token_id=END, pad_token_id=END, bos_token_id=END, decoder_start_token_id=START, no_timestamps_token_id=NO_TIMESTAMPS,
                lang_to_id={"<|en|>": 52, "<|ms|>": 53}, task_to_id={"transcribe": TRANSCRIBE, "translate": 56},
                suppress_tokens=[7], max_target_positions=448)


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _model(rate: float = 4.0, seed: int = 0, **config_fields):
    torch.manual_seed(seed)
    config = tiny_config("meralion-v1", encoder_input="real", transcript_rows_per_second=rate,
                         transcript_reader="tiny", speech_config={**tiny_whisper_fields(), **SPECIALS}, **config_fields)
    model = AudioLLM.from_config(config).eval()
    model.speech_transcriber.token_rows.normal_()  # a table with something in every row
    return model, AudioLLMProcessor(tiny_tokenizer(), config)


def test_each_window_gets_rows_for_its_length_and_batching_never_changes_them():
    model, processor = _model(rate=4.0)
    conversations = [[Turn("user", "short", [_tone(0.73, 300)])], [Turn("user", "long one", [_tone(33.0, 500)])]]
    batch = processor(conversations)
    assert batch["transcript_features"].shape == (3, 80, 3000)  # Whisper's own 30 s input, one per window
    placeholders = (batch["input_ids"] == model.config.speech_token_index).sum(dim=1).tolist()
    # 0.73 s: 3 speech tokens + ceil(0.73 * 4) + 1 = 4 rows; 33 s: windows of 30 s (100 + 121) and 3 s (10 + 13)
    assert placeholders == [3 + 4, 100 + 121 + 10 + 13]
    assert model.config.tokens_per_window == 100 + 121
    with torch.no_grad():
        together = model(**batch).logits
        for row, conversation in enumerate(conversations):
            alone = model(**processor([conversation])).logits[0]
            assert (together[row, -alone.shape[0]:] - alone).abs().max().item() < 1e-4
    without = {key: value for key, value in batch.items() if key != "transcript_features"}
    with pytest.raises(PromptError, match="transcript_features"):
        model(**without)


def test_greedy_reading_matches_one_pass_over_its_own_tokens_and_rows_mix_the_likely_tokens():
    model, processor = _model()
    reader = model.speech_transcriber
    features = processor([[Turn("user", "x", [_tone(2.0, 400)])]])["transcript_features"]
    with torch.no_grad():
        states = model.speech_encoder(features).last_hidden_state
        # This random decoder runs on without ending; let the end of text win where its last pick did.
        last = reader._text_logits(reader.read(states, steps=12)[0][0, -1]).argmax()
        reader.decoder.embed_tokens.weight[END] = 2 * reader.decoder.embed_tokens.weight[last]
        reading = reader.read(states, steps=12)
        read, alive = reading.states, reading.alive
        # Replay: the language Whisper picked, then its own greedy tokens, in one uncached pass.
        start = reader.decoder(input_ids=torch.tensor([[START]]), encoder_hidden_states=states).last_hidden_state
        language = [52, 53][int(reader._logits(start[:, -1])[0, [52, 53]].argmax())]
        tokens = reader._text_logits(read[0]).argmax(-1).tolist()
        prompt = [START, language, TRANSCRIBE, NO_TIMESTAMPS]
        replay = reader.decoder(input_ids=torch.tensor([prompt + tokens[:-1]]),
                                encoder_hidden_states=states).last_hidden_state[0, len(prompt) - 1:]
        assert torch.allclose(read[0], replay, atol=1e-4)
        assert 7 not in tokens  # Whisper's suppressed symbols never come next
        rows = reader(states, torch.tensor([12]))[0]
    assert rows.shape == (12, model.config.decoder_width)
    assert END in tokens
    ended = tokens.index(END) + 1
    assert read.shape[1] == ended and alive[0].all()  # the read stops at the end of text
    assert rows[ended:].abs().sum() == 0  # after the end, zeros up to the window's count
    # With the correction at its zero start, row k is Whisper's probabilities of its likeliest text
    # tokens times their rows of the table (the end's probability is no token's).
    probabilities = reader._text_logits(read[0, 0]).softmax(-1)
    top, ids = probabilities[:END].topk(TOP_TOKENS)
    expected = (top[:, None] * reader.token_rows[ids]).sum(0)
    assert torch.allclose(rows[0], expected, atol=1e-5)


def test_the_token_table_holds_the_llm_rows_of_each_whisper_token_text():
    from audiollm.convert.sources import whisper_ct2_folder
    from transformers import WhisperTokenizer

    whisper = WhisperTokenizer(tokenizer_file=str(whisper_ct2_folder("whisper-tiny.en") / "tokenizer.json"))
    llm = tiny_tokenizer()
    embeddings = torch.randn(len(llm), 6)
    table = token_rows(whisper, llm, embeddings, vocab_size=51864)
    the = whisper.convert_tokens_to_ids("Ġthe")
    assert torch.allclose(table[the], embeddings[llm(" the", add_special_tokens=False).input_ids].mean(0))
    broken = next(t for t in range(256) if "\ufffd" in whisper.decode([t]))  # a lone byte of a UTF-8 character
    assert table[broken].abs().sum() == 0
    assert table[whisper.eos_token_id:].abs().sum() == 0  # special tokens name no words


def test_without_frame_rows_a_window_is_its_voice_and_transcript_rows():
    model, processor = _model(rate=4.0, frame_rows=False, voice_rows=2)
    batch = processor([[Turn("user", "x", [_tone(2.0, 300)])]])
    assert (batch["input_ids"] == model.config.speech_token_index).sum() == 2 + 9  # voice + ceil(2 * 4) + 1
    with torch.no_grad():
        rows = model.speech_rows(batch["input_features"], batch["feature_attention_mask"],
                                 transcript_features=batch["transcript_features"])
        # The rows are the voice rows, then exactly what the reader writes: no frame row comes between.
        states = model.speech_encoder(batch["transcript_features"]).last_hidden_state
        transcript = model.speech_transcriber(states, torch.tensor([9]))[0]
    scale = model.text_decoder.get_input_embeddings().embed_scale
    assert torch.allclose(rows[2:], transcript * scale, atol=1e-5)
    with pytest.raises(ConfigError, match="frame_rows"):
        tiny_config("meralion-v1", encoder_input="real", frame_rows=False)


def test_transcript_rows_need_real_length_input_and_a_reader():
    with pytest.raises(ConfigError, match="transcript rows"):
        tiny_config("meralion-v1", encoder_input="fixed", transcript_rows_per_second=4.0, transcript_reader="tiny")
    with pytest.raises(ConfigError, match="transcript rows"):
        tiny_config("meralion-v1", encoder_input="real", transcript_rows_per_second=4.0)


def test_transcript_rows_save_and_load_with_the_model(tmp_path):
    model, processor = _model()
    model.save_pretrained(tmp_path / "m")
    loaded = AudioLLM.from_pretrained(tmp_path / "m")
    assert loaded.config.transcript_rows_per_second == 4.0
    assert torch.equal(loaded.speech_transcriber.token_rows, model.speech_transcriber.token_rows)
    batch = processor([[Turn("user", "x", [_tone(1.2, 300)])]])
    with torch.no_grad():
        assert torch.allclose(loaded(**batch).logits, model(**batch).logits, atol=1e-5)


def test_the_no_speech_row_is_whispers_no_speech_probability_times_the_words():
    plain, processor = _model(rate=4.0, seed=3)
    model, with_row = _model(rate=4.0, seed=3, transcript_no_speech_row=True)
    model.speech_transcriber.no_speech_words.normal_()
    model.speech_transcriber.token_rows.copy_(plain.speech_transcriber.token_rows)
    clip = [[Turn("user", "x", [_tone(2.0, 300)])]]
    # One more row per window: 7 frame rows, the no-speech row, ceil(2 * 4) + 1 transcript rows
    assert (with_row(clip)["input_ids"] == model.config.speech_token_index).sum() == 7 + 1 + 9
    features = with_row(clip)["transcript_features"]
    with torch.no_grad():
        states = model.speech_encoder(features).last_hidden_state
        rows = model.speech_transcriber(states, torch.tensor([10]))[0]
        text_rows = plain.speech_transcriber(states, torch.tensor([9]))[0]
        start = model.speech_transcriber.decoder(input_ids=torch.tensor([[START]]), encoder_hidden_states=states)
        logits = model.speech_transcriber._logits(start.last_hidden_state[:, -1])[0]
    no_speech = logits.softmax(-1)[NO_TIMESTAMPS - 1]  # <|nocaptions|> sits just before <|notimestamps|>
    assert 0 < no_speech < 1
    assert torch.allclose(rows[0], no_speech * model.speech_transcriber.no_speech_words, atol=1e-6)
    assert torch.allclose(rows[1:], text_rows, atol=1e-5)  # the rest are the rows a reader without it writes
    with pytest.raises(ConfigError, match="need transcript rows"):
        tiny_config("meralion-v1", encoder_input="real", transcript_no_speech_row=True)


def test_pooled_frame_rows_average_groups_of_the_adaptors_rows_and_never_depend_on_the_batch():
    model, processor = _model(rate=4.0, seed=5, frame_row_pool=4)
    conversations = [[Turn("user", "short", [_tone(0.73, 300)])], [Turn("user", "long one", [_tone(33.0, 500)])]]
    batch = processor(conversations)
    placeholders = (batch["input_ids"] == model.config.speech_token_index).sum(dim=1).tolist()
    # 0.73 s: 3 frame rows pool into 1, + 4 transcript rows; 33 s: 100 -> 25 (+ 121) and 10 -> 3 (+ 13)
    assert placeholders == [1 + 4, 25 + 121 + 3 + 13]
    with torch.no_grad():
        together = model(**batch).logits
        for row, conversation in enumerate(conversations):
            alone = model(**processor([conversation])).logits[0]
            assert (together[row, -alone.shape[0]:] - alone).abs().max().item() < 1e-4
        # The pooled rows are the means of the unpooled ones: the 10 rows of the 3 s window as 4 + 4 + 2.
        short = processor([[Turn("user", "x", [_tone(3.0, 500)])]])
        pooled = model.speech_rows(short["input_features"], short["feature_attention_mask"],
                                   transcript_features=short["transcript_features"])[:3]
        model.config = dataclasses.replace(model.config, frame_row_pool=1)
        rows = model.speech_rows(short["input_features"], short["feature_attention_mask"],
                                 transcript_features=short["transcript_features"])[:10]
    means = torch.stack([rows[0:4].mean(0), rows[4:8].mean(0), rows[8:10].mean(0)])
    assert torch.allclose(pooled, means, atol=1e-5)
    with pytest.raises(ConfigError, match="frame_row_pool"):
        tiny_config("meralion-v1", frame_row_pool=0)


def test_the_language_row_is_whispers_language_identification_over_the_llms_names(tmp_path):
    from audiollm.transcript_rows import set_transcript_rows

    model, processor = _model(rate=4.0, seed=4, transcript_no_speech_row=True)
    processor.save_pretrained(tmp_path / "m")  # the tokenizer the head-row tables are read from
    # A trained reader gains the language row: it holds no trained weights.
    assert not set_transcript_rows(model, 4.0, "tiny", tmp_path / "m", no_speech_row=True, language_row=True)
    reader = model.speech_transcriber
    embeddings = model.text_decoder.get_input_embeddings().weight
    english = processor.tokenizer(" English", add_special_tokens=False).input_ids
    assert torch.allclose(reader.language_words[0], embeddings[english].mean(0))  # <|en|> (52) comes first
    clip = [[Turn("user", "x", [_tone(2.0, 300)])]]
    processor = AudioLLMProcessor(processor.tokenizer, model.config)  # prompts count the model's rows
    assert (processor(clip)["input_ids"] == model.config.speech_token_index).sum() == 7 + 2 + 9
    features = processor(clip)["transcript_features"]
    with torch.no_grad():
        states = model.speech_encoder(features).last_hidden_state
        rows = reader(states, torch.tensor([11]))[0]
        start = reader.decoder(input_ids=torch.tensor([[START]]), encoder_hidden_states=states).last_hidden_state
        heard = reader._logits(start[:, -1])[0, [52, 53]].softmax(-1)
    assert torch.allclose(rows[1], heard @ reader.language_words, atol=1e-5)
    english_only = WhisperConfig(**{**tiny_whisper_fields(), **SPECIALS, "lang_to_id": {}})
    with pytest.raises(ConfigError, match="multilingual"):
        TranscriptReader(english_only, 32, language_row=True)


def test_int8_quantisation_reaches_the_readers_whisper_decoder_and_keeps_its_outputs():
    """`quantize_int8` gives the reader's Whisper decoder the LLM decoder's mix (fp16 Linear layers, an int8
    copy of its text-token output layer), since it decodes every window greedily before the LLM answers.
    Compared teacher-forced: a random tiny Whisper's next-token scores are near ties, so its greedy path
    may take another token after any rounding."""
    from audiollm.api import quantize_int8

    model, processor = _model(rate=4.0)
    batch = processor([[Turn("user", "hi", [_tone(2.0, 300)])], [Turn("user", "hi", [_tone(1.2, 700)])]])
    reader = model.speech_transcriber
    states = model.speech_encoder(batch["transcript_features"]).last_hidden_state
    ids = torch.tensor([[START, 52, TRANSCRIBE, NO_TIMESTAMPS, 3, 9, 27]] * 2)
    text = [token for token in range(END + 1) if token not in reader.suppressed]

    def outputs():
        hidden = reader.decoder(input_ids=ids, encoder_hidden_states=states).last_hidden_state
        return hidden, reader._text_logits(hidden)[..., text]

    with torch.no_grad():
        hidden_before, logits_before = outputs()
        quantize_int8(model)
        hidden_after, logits_after = outputs()
        reading = reader.read(states, 6)
    assert reader.int8_text_head is not None
    assert not any(type(module) is torch.nn.Linear for module in reader.decoder.modules())  # all replaced
    assert (hidden_after - hidden_before).norm() / hidden_before.norm() < 0.01
    assert (logits_after - logits_before).norm() / logits_before.norm() < 0.05
    assert reading.top_tokens.shape == (2, 6, TOP_TOKENS)
