"""Tiny models and tokenizers built in code, so tests run offline in seconds.

`tiny_tokenizer()` is a byte-level BPE with a Gemma-style chat template and the speech placeholder;
`tiny_config()` is an AudioLLMConfig with a 2-layer Whisper encoder and a 2-layer decoder.
`tiny_model_folder()` saves a random tiny model folder; `tiny_whisper_folder()` saves a random 2+2-layer Whisper with tiny.en's tokenizer (needs the tiny.en package).
"""

from __future__ import annotations

import functools

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from audiollm.config import PROMPT_TEMPLATE_V2, SPEECH_PLACEHOLDER, AudioLLMConfig

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", SPEECH_PLACEHOLDER]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
_TRAINING_TEXT = [
    "Please transcribe this speech. Instruction: Follow the text instruction based on the following audio",
    "the quick brown fox jumps over the lazy dog at the hawker centre near Tampines MRT",
    "Given the following audio context, text instruction: summarise what the speakers want",
    "model user hello world 0123456789 lah leh lor meh",
]


@functools.lru_cache(maxsize=None)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A ~300-token byte-level BPE tokenizer with a chat template; ids 0..5 are the special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_TRAINING_TEXT, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>", SPEECH_PLACEHOLDER],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_whisper_fields(num_mel_bins: int = 80) -> dict:
    return dict(
        num_mel_bins=num_mel_bins, d_model=16, encoder_layers=2, encoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32,
        max_source_positions=1500,
    )


def tiny_gemma2_fields(vocab_size: int) -> dict:
    return dict(
        model_type="gemma2", vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        sliding_window=64, max_position_embeddings=4096, pad_token_id=0, eos_token_id=4, bos_token_id=2,
    )


def tiny_config(adaptor: str = "meralion-v1", num_mel_bins: int = 80, **overrides) -> AudioLLMConfig:
    tokenizer = tiny_tokenizer()
    fields = dict(
        speech_config=tiny_whisper_fields(num_mel_bins),
        text_config=tiny_gemma2_fields(len(tokenizer)),
        adaptor=adaptor,
        speech_token_index=tokenizer.convert_tokens_to_ids(SPEECH_PLACEHOLDER),
        prompt_template=PROMPT_TEMPLATE_V2,
        adaptor_dropout=0.0,
    )
    fields.update(overrides)
    return AudioLLMConfig(**fields)


def tiny_assistant(seed: int = 0, batch_size: int = 8, **config_overrides):
    """An AudioAssistant around a random tiny model (answers are gibberish but deterministic)."""
    import torch

    from audiollm.api import AudioAssistant
    from audiollm.model import AudioLLM
    from audiollm.processor import AudioLLMProcessor

    torch.manual_seed(seed)
    config = tiny_config("meralion-v1", **config_overrides)
    model = AudioLLM.from_config(config).eval()
    return AudioAssistant(model, AudioLLMProcessor(tiny_tokenizer(), config), name="tiny", batch_size=batch_size)


def tiny_model_folder(folder, seed: int = 0, **config_overrides):
    """A random tiny model and its processor saved to `folder` (a model folder `from_pretrained` reads); returns it."""
    import torch

    from audiollm.model import AudioLLM
    from audiollm.processor import AudioLLMProcessor

    torch.manual_seed(seed)
    config = tiny_config("meralion-v1", **config_overrides)
    AudioLLM.from_config(config).save_pretrained(folder)
    AudioLLMProcessor(tiny_tokenizer(), config).save_pretrained(folder)
    return folder


def tiny_whisper_folder(folder, width: int = 64, **config_fields):
    """A random 2+2-layer Whisper with tiny.en's vocabulary and tokenizer, saved to `folder`; returns it.
    `width`: d_model; `config_fields`: more WhisperConfig fields (e.g. no_timestamps_token_id=50362)."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

    from audiollm.convert.sources import whisper_ct2_folder

    tokenizer_json = whisper_ct2_folder("whisper-tiny.en") / "tokenizer.json"
    config = WhisperConfig(vocab_size=51864, d_model=width, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
                           max_source_positions=1500, max_target_positions=448, decoder_start_token_id=50257,
                           pad_token_id=50256, bos_token_id=50256, eos_token_id=50256, **config_fields)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    WhisperTokenizer(tokenizer_file=str(tokenizer_json)).save_pretrained(folder)
    WhisperFeatureExtractor().save_pretrained(folder)
    return model
