"""The cascade baseline with tiny random models built in code: routing, batched == one-by-one
generation, spec parsing and backend fallback, and a full `evaluate` run through it."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from test_eval_fixtures import tone, write_corpus

from audiollm.cascade import CASCADE_PROMPT, CascadeResponder, HFWhisperTranscriber, TextLLM, load_cascade
from audiollm.errors import ConfigError, ModelNotFoundError
from audiollm.inference import SpeechRequest

WORDS = ["user", "model", "hello", "world", "the", "cat", "sat", "on", "mat", "paris", "yes", "no", "male", "female"]
SPECIALS = 6  # <pad> <s> </s> <unk> <start_of_turn> <end_of_turn> take the first ids


def words_only(output_embeddings) -> None:
    """Zero the output rows of special tokens so a random model says words instead of stopping at once
    (its random logits for words are then the only non-zero ones, and some are positive)."""
    with torch.no_grad():
        output_embeddings.weight[:SPECIALS] = 0


def word_tokenizer(words, chat_template: bool = True):
    """A WordLevel tokenizer over `words` plus chat markers, trained nowhere: built in code."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    vocab = {token: index for index, token in enumerate(specials + list(words))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece()  # joins word tokens with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    if chat_template:
        tokenizer.chat_template = ("<s>{% for m in messages %}<start_of_turn> {{ m['role'] }} {{ m['content'] }} "
                                   "<end_of_turn> {% endfor %}{% if add_generation_prompt %}<start_of_turn> model "
                                   "{% endif %}")
    return tokenizer


def tiny_llm(seed: int = 0):
    """A 2-layer random Llama with the word tokenizer and a chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer(WORDS)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config).eval()
    words_only(model.get_output_embeddings())
    return model, tokenizer


def tiny_whisper(seed: int = 0):
    """A 1+1-layer random Whisper (80 mels, d_model 16) with the word tokenizer."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tokenizer = word_tokenizer(WORDS, chat_template=False)
    torch.manual_seed(seed)
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, d_model=16, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=64,
                           decoder_start_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                           begin_suppress_tokens=None, suppress_tokens=None)
    model = WhisperForConditionalGeneration(config).eval()
    words_only(model.get_output_embeddings())
    return model, tokenizer


class FakeTranscriber:
    name = "fake-asr"

    def transcribe(self, audios):
        return [f"heard {len(a) // 16000} seconds" for a in audios]

    def identity(self):
        return {"name": self.name}


class RecordingLLM:
    name = "recording-llm"
    tokenizer = None

    def __init__(self):
        self.prompts, self.budgets, self.stop_ids = [], [], []

    def generate(self, prompts, max_new_tokens, temperature=0.0, no_repeat_ngram_size=0):
        self.no_repeat = no_repeat_ngram_size
        self.prompts += prompts
        self.budgets += list(max_new_tokens)
        return [f"answer {i}" for i in range(len(prompts))]


def test_asr_returns_the_transcript_and_other_tasks_ask_the_llm():
    llm = RecordingLLM()
    cascade = CascadeResponder(FakeTranscriber(), llm, batch_size=2)
    requests = [SpeechRequest("Transcribe.", tone(2.0), extra={"task": "asr"}),
                SpeechRequest("Where does she live?", tone(1.0), 32, extra={"task": "sqa"}),
                SpeechRequest("Gender?", tone(3.0), 8, extra={"task": "para"}),
                SpeechRequest("Say hi.", None, 4)]
    answers = cascade.respond(requests)
    assert answers[0] == "heard 2 seconds"
    assert llm.prompts[0] == CASCADE_PROMPT.format(transcript="heard 1 seconds", instruction="Where does she live?")
    assert llm.prompts[2] == "Say hi." and llm.budgets == [32, 8, 4]  # text-only requests go in as they are
    assert answers[1:] == ["answer 0", "answer 1", "answer 0"]    # two LLM batches of at most 2
    cascade.respond([SpeechRequest("Gender?", tone(1.0), 8, extra={"task": "para"}, no_repeat_ngram_size=6)])
    assert llm.no_repeat == 6                                      # the loop guard reaches the LLM
    assert cascade.identity()["prompt_template"] == CASCADE_PROMPT
    with pytest.raises(ConfigError):
        CascadeResponder(FakeTranscriber(), llm, prompt="no placeholders")


def test_text_llm_batched_equals_one_by_one():
    model, tokenizer = tiny_llm()
    llm = TextLLM(model, tokenizer, name="tiny")
    prompts = ["hello world", "the cat sat on the mat paris yes no", "male"]
    batched = llm.generate(prompts, [6, 6, 3])
    single = [llm.generate([p], [b])[0] for p, b in zip(prompts, [6, 6, 3])]
    assert batched == single and all(batched)
    assert len(batched[2].split()) <= 3  # each answer is cut to its own budget
    assert tokenizer.padding_side == "left"
    assert llm.render("hi").startswith("<s><start_of_turn> user hi")


def test_hf_whisper_cuts_long_audio_into_windows():
    model, tokenizer = tiny_whisper()
    transcriber = HFWhisperTranscriber(model, tokenizer, n_mels=80, name="tiny-whisper", batch_size=4,
                                       max_new_tokens=3)
    short, long = tone(2.0), tone(65.0, seed=1)
    texts = transcriber.transcribe([short, long])
    alone = [transcriber.transcribe([long[i:i + 480000]])[0] for i in range(0, len(long), 480000)]
    assert all(alone) and texts[1] == " ".join(alone)  # three windows decoded and joined in order
    assert texts[0] == transcriber.transcribe([short])[0]


def fake_sources(whisper, llm):
    """Stand-in for audiollm.convert.sources: no CTranslate2 folder, HF loaders return tiny models."""
    def whisper_ct2_folder(source):
        raise ModelNotFoundError(f"no ct2 folder for {source}")

    def load_whisper(source):
        return types.SimpleNamespace(model=whisper[0], tokenizer=whisper[1], n_mels=80, name=source,
                                     multilingual=False)

    return types.SimpleNamespace(whisper_ct2_folder=whisper_ct2_folder, load_whisper=load_whisper,
                                 load_causal_lm=lambda source: llm)


def test_load_cascade_parses_specs_and_falls_back_to_hf(monkeypatch):
    import audiollm.convert

    monkeypatch.setattr(audiollm.convert, "sources", fake_sources(tiny_whisper(), tiny_llm()), raising=False)
    cascade = load_cascade("cascade:small")
    assert cascade.name == "cascade:whisper-tiny.en+smollm2-135m"
    assert cascade.identity()["asr"]["backend"] == "transformers"
    assert load_cascade("cascade:my-whisper+my-llm").name == "cascade:my-whisper+my-llm"
    with pytest.raises(ModelNotFoundError, match="CTranslate2"):
        load_cascade("cascade:default", asr_backend="faster-whisper")
    with pytest.raises(ConfigError, match="should look like"):
        load_cascade("cascade:only-one-part")


def test_evaluate_through_a_tiny_cascade(tmp_path):
    from audiollm.evaluate import Decoding, evaluate

    corpus = write_corpus(tmp_path / "corpus", ids={"asr-1", "asr-2", "sqa-1", "para-1", "silence"})
    whisper_model, whisper_tokenizer = tiny_whisper()
    transcriber = HFWhisperTranscriber(whisper_model, whisper_tokenizer, 80, "tiny-whisper", max_new_tokens=4)
    model, tokenizer = tiny_llm()
    cascade = CascadeResponder(transcriber, TextLLM(model, tokenizer, "tiny-llm"))
    # The random LLM never stops by itself: a small budget keeps the test fast.
    report = evaluate(cascade, [corpus], tmp_path / "out", batch_size=4, progress=False, plots=False,
                      decoding=Decoding(max_new_tokens=8, asr_tokens_per_second=0.0))
    assert set(report["tasks"]) == {"asr", "sqa", "para"}
    assert report["model"]["asr"]["name"] == "tiny-whisper" and report["model"]["llm"] == "tiny-llm"
    assert np.isfinite(report["tasks"]["asr"]["subsets"]["all"]["wer"])
    import json

    predictions = {json.loads(l)["id"]: json.loads(l)["prediction"] for l in (tmp_path / "out/predictions.jsonl").open()}
    from audiollm.evaluate.data import load_eval_set

    example = next(e for s in load_eval_set(corpus) for e in s.examples if e.id == "asr-1")
    from audiollm.evaluate.data import load_audio

    assert predictions["asr-1"] == transcriber.transcribe([load_audio(example)])[0]
