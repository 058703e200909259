"""`audiollm build`: assemble a new AudioLLM folder from a Whisper model and a causal LM.

    Whisper source  -> its encoder weights      -> speech_encoder
    (fresh)         -> ln_speech + adaptor      (initialised from `seed`; train them with `audiollm train`)
    causal LM       -> its weights + tokenizer  -> text_decoder, with the <SpeechHere> token added

The folder is self-contained: config.json (with the prompt template), model.safetensors, the tokenizer
with its chat template, preprocessor_config.json (feature settings) and build_info.json (the sources).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import AddedToken
from tqdm import tqdm
from transformers.initialization import no_init_weights

from audiollm.config import PROMPT_TEMPLATE_V2, SPEECH_PLACEHOLDER, AudioLLMConfig
from audiollm.errors import ModelNotFoundError
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor

# Config keys that describe where a model came from rather than what it is.
_BOOKKEEPING_KEYS = ("architectures", "_name_or_path", "transformers_version", "torch_dtype", "dtype",
                     "quantization_config", "auto_map", "output_attentions", "output_hidden_states",
                     "return_dict", "_commit_hash", "id2label", "label2id")


def _plain_fields(config) -> dict:
    fields = config.to_dict()
    for key in _BOOKKEEPING_KEYS:
        fields.pop(key, None)
    return fields


def add_speech_token(tokenizer, decoder) -> int:
    """Add <SpeechHere> as a special token (if missing) and grow the decoder's embeddings to match."""
    if SPEECH_PLACEHOLDER not in tokenizer.get_vocab():
        tokenizer.add_tokens([AddedToken(SPEECH_PLACEHOLDER, special=True, normalized=False)], special_tokens=True)
    index = tokenizer.convert_tokens_to_ids(SPEECH_PLACEHOLDER)
    rows = decoder.get_input_embeddings().weight.shape[0]
    if index >= rows:
        decoder.resize_token_embeddings(index + 1)
    return index


def build_audiollm(
    encoder: str,
    decoder: str,
    out: str | Path,
    adaptor: str = "meralion-v1",
    seed: int = 0,
    prompt_template: str = PROMPT_TEMPLATE_V2,
) -> Path:
    """Write a new AudioLLM folder at `out` and return its path. The adaptor is initialised, not trained."""
    from audiollm.convert.sources import load_causal_lm, load_whisper

    steps = tqdm(total=4, desc="assembling AudioLLM", unit="step")
    steps.set_postfix_str(f"encoder {encoder}")
    whisper = load_whisper(encoder)
    steps.update()
    steps.set_postfix_str(f"decoder {decoder}")
    language_model, tokenizer = load_causal_lm(decoder)
    steps.update()
    speech_token_index = add_speech_token(tokenizer, language_model)
    if tokenizer.chat_template is None:
        raise ModelNotFoundError(f"decoder {decoder} has no chat template; use an instruction-tuned model or add one")
    config = AudioLLMConfig(
        speech_config=_plain_fields(whisper.model.config),
        text_config=_plain_fields(language_model.config),
        adaptor=adaptor,
        speech_token_index=speech_token_index,
        prompt_template=prompt_template,
    )
    steps.set_postfix_str("copying weights")
    with no_init_weights():  # every weight but the adaptor's is copied in below
        model = AudioLLM(config)
    model.speech_encoder.load_state_dict(whisper.model.model.encoder.state_dict())
    model.text_decoder.load_state_dict(language_model.state_dict())
    _initialise_glue(model, seed)
    steps.update()
    steps.set_postfix_str("saving")
    out = Path(out)
    model.save_pretrained(out)
    AudioLLMProcessor(tokenizer, config).save_pretrained(out)
    info = {"encoder": encoder, "decoder": decoder, "adaptor": adaptor, "seed": seed, "trained": False}
    (out / "build_info.json").write_text(json.dumps(info, indent=2))
    steps.update()
    steps.close()
    return out


def _initialise_glue(model: AudioLLM, seed: int) -> None:
    """Seeded default initialisation of ln_speech and the adaptor (PyTorch's own Linear/LayerNorm init)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    for module in [model.ln_speech, *model.speech_audio_adapter.modules()]:
        # nn.MultiheadAttention (inside the Q-Former adaptor) names its initialiser _reset_parameters.
        for initialiser in ("reset_parameters", "_reset_parameters"):
            if hasattr(module, initialiser):
                getattr(module, initialiser)()
    torch.random.set_rng_state(generator_state)


def describe_model(name: str) -> dict:
    """What `audiollm info` prints: the parts, their sizes, the audio limits and the decoding defaults of a
    model folder."""
    from audiollm.api import read_generation_defaults

    if name == "default":
        from audiollm.default import default_model_folder

        folder, notice = default_model_folder()
    else:
        folder, notice = Path(name), None
    config = AudioLLMConfig.from_folder(folder)
    model = AudioLLM.from_pretrained(folder)
    parts = {
        part: sum(p.numel() for p in getattr(model, part).parameters())
        for part in ("speech_encoder", "ln_speech", "speech_audio_adapter", "speech_voice_adapter", "speech_gender_row",
                     "speech_transcriber", "text_decoder")
        if getattr(model, part) is not None
    }
    build_info = folder / "build_info.json"
    return {
        "folder": str(folder),
        "flavour": config.flavour,
        "adaptor": config.adaptor,
        "decoder": config.text_config.get("model_type"),
        "encoder": {k: config.speech_config.get(k) for k in ("d_model", "encoder_layers", "num_mel_bins")},
        "parameters": parts,
        "speech_tokens_per_window": config.tokens_per_window,
        "voice_rows_per_window": config.voice_rows,
        "gender_row": config.gender_row,
        "transcript_rows_per_second": config.transcript_rows_per_second,
        "transcript_reader": config.transcript_reader,
        "transcript_no_speech_row": config.transcript_no_speech_row,
        "transcript_language_row": config.transcript_language_row,
        "frame_rows": config.frame_rows,
        "frame_row_pool": config.frame_row_pool,
        "window_seconds": config.window_seconds,
        "window_strategy": config.window_strategy,
        "transcription_window_seconds": config.transcription_window_seconds,
        "max_audio_seconds": None if config.max_windows is None else config.max_windows * config.window_seconds,
        "prompt_template": config.prompt_template,
        "generation_defaults": read_generation_defaults(folder),
        "build": json.loads(build_info.read_text()) if build_info.is_file() else None,
        "notice": notice,
    }
