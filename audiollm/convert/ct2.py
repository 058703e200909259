"""CTranslate2 Whisper folders -> Hugging Face `WhisperForConditionalGeneration`.

A CTranslate2 `model.bin` is a little-endian file laid out as:

    u32 binary_version | str spec_name | u32 spec_revision | u32 n_variables
    n_variables x (str name | u8 rank | rank x u32 dim | u8 dtype_id | u32 n_bytes | n_bytes data)
    u32 n_aliases | n_aliases x (str alias | str target)

where `str` is a u16 byte length followed by UTF-8 bytes ending in one NUL. dtype ids are
0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Quantised weights (int8 per output row,
int16 per tensor) come with a sibling `<name>_scale` array; the float weight is `q / scale`.

`read_ct2_model` parses that file into numpy; `ct2_whisper_to_hf` maps a Whisper spec onto the
state-dict keys of transformers' `WhisperForConditionalGeneration` and derives its config and
generation settings from the arrays plus the folder's `config.json` and `tokenizer.json`.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig, WhisperConfig

from audiollm.errors import ConfigError, ModelNotFoundError

# Order fixed by CTranslate2's DataType enum; bfloat16 has no numpy type and is widened on read.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
_OLDEST_BINARY, _NEWEST_BINARY = 4, 6  # older files used a different variable header; 6 is current


class _Reader:
    """Sequential little-endian reads with a clear error when the file ends early."""

    def __init__(self, stream: BinaryIO, path: Path):
        self.stream, self.path = stream, path

    def take(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise ModelNotFoundError(
                f"{self.path} is truncated or not a CTranslate2 model.bin; re-copy the model folder")
        return data

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (n,) = self.unpack("H")
        return self.take(n).decode("utf-8").rstrip("\0")


def _decode_array(raw: bytes, dtype_id: int, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Turn one variable's bytes into a numpy array of its shape (bfloat16 becomes float32)."""
    if dtype_id not in _DTYPES:
        raise ModelNotFoundError(f"CTranslate2 variable {name!r} has unknown dtype id {dtype_id}")
    if _DTYPES[dtype_id] == "bfloat16":
        # bfloat16 is the top half of a float32: shift the 16 bits into place.
        half = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
        return (half << 16).view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(_DTYPES[dtype_id]).newbyteorder("<")).reshape(shape)


def _dequantize(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Replace every integer `<name>` that has a `<name>_scale` sibling by float32 `q / scale`."""
    out = dict(arrays)
    for scale_name in [k for k in arrays if k.endswith("_scale")]:
        name = scale_name[: -len("_scale")]
        if name not in arrays or arrays[name].dtype.kind != "i":
            continue
        q, scale = arrays[name].astype(np.float32), arrays[scale_name].astype(np.float32)
        if scale.ndim == 0:  # int16: one scale for the whole tensor
            out[name] = q / scale
        else:  # int8: one scale per output row (conv kernels are flattened per row)
            out[name] = (q.reshape(q.shape[0], -1) / scale[:, None]).reshape(q.shape)
        del out[scale_name]
    return out


def read_ct2_model(path: str | Path, dequantize: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse a CTranslate2 `model.bin`.

    Input: the file path (or its folder). With `dequantize`, int8/int16 weights that carry a scale
    are returned as float32 and their `_scale` arrays dropped; without it they stay raw.
    Output: (meta, arrays). meta = {"binary_version", "spec", "revision", "aliases": {alias: target},
    "path"}; arrays maps each variable name (aliases included, sharing their target's array) to a
    read-only numpy array (scalars are 0-d arrays).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise ModelNotFoundError(f"No CTranslate2 model file at {path}; pass a folder that contains model.bin")
    with path.open("rb") as stream:
        r = _Reader(stream, path)
        (version,) = r.unpack("I")
        if not _OLDEST_BINARY <= version <= _NEWEST_BINARY:
            raise ModelNotFoundError(
                f"{path} has CTranslate2 binary version {version}; this reader handles "
                f"{_OLDEST_BINARY}-{_NEWEST_BINARY}. Re-convert it with a recent ct2-transformers-converter"
            )
        spec, (revision,) = r.string(), r.unpack("I")
        arrays: dict[str, np.ndarray] = {}
        (count,) = r.unpack("I")
        for _ in range(count):
            name = r.string()
            (rank,) = r.unpack("B")
            shape = r.unpack("I" * rank) if rank else ()
            dtype_id, n_bytes = r.unpack("BI")
            arrays[name] = _decode_array(r.take(n_bytes), dtype_id, shape, name)
        aliases = {}
        (n_aliases,) = r.unpack("I")
        for _ in range(n_aliases):
            alias, target = r.string(), r.string()
            aliases[alias] = target
    for alias, target in aliases.items():
        if target not in arrays:
            raise ModelNotFoundError(f"{path}: alias {alias!r} points at missing variable {target!r}")
        arrays[alias] = arrays[target]
    if dequantize:
        arrays = _dequantize(arrays)
    meta = {"binary_version": version, "spec": spec, "revision": revision, "aliases": aliases, "path": str(path)}
    return meta, arrays


# --- Whisper: CTranslate2 names -> transformers names -------------------------------------------

_NORM = {"gamma": "weight", "beta": "bias"}


def _count_layers(arrays: dict[str, np.ndarray], side: str) -> int:
    found = {int(m.group(1)) for k in arrays if (m := re.match(rf"{side}/layer_(\d+)/", k))}
    if found != set(range(len(found))):
        raise ModelNotFoundError(f"CTranslate2 Whisper {side} layers are not numbered 0..N-1: {sorted(found)}")
    return len(found)


def _split_rows(weight: np.ndarray, bias: np.ndarray, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fused projection stacks its outputs along rows: split weight (P*D, D) and bias (P*D,)."""
    return list(zip(np.split(weight, parts, axis=0), np.split(bias, parts, axis=0)))


def _attention(get, src: str, dst: str, fused: str) -> dict[str, np.ndarray]:
    """Map one CT2 attention block. fused="qkv": linear_0 is q|k|v and linear_1 the output.
    fused="kv" (cross-attention): linear_0 is q, linear_1 is k|v over the encoder output, linear_2 out.
    The key projection has no bias in Whisper (it would only shift every score of a query equally),
    so its slice of the fused bias (zeros in converted models) is dropped."""
    out = {}
    w0, b0 = get(f"{src}/linear_0/weight"), get(f"{src}/linear_0/bias")
    if fused == "qkv":
        (q, qb), (k, _), (v, vb) = _split_rows(w0, b0, 3)
        o, ob = get(f"{src}/linear_1/weight"), get(f"{src}/linear_1/bias")
    else:
        q, qb = w0, b0
        (k, _), (v, vb) = _split_rows(get(f"{src}/linear_1/weight"), get(f"{src}/linear_1/bias"), 2)
        o, ob = get(f"{src}/linear_2/weight"), get(f"{src}/linear_2/bias")
    out.update({f"{dst}.q_proj.weight": q, f"{dst}.q_proj.bias": qb, f"{dst}.k_proj.weight": k})
    out.update({f"{dst}.v_proj.weight": v, f"{dst}.v_proj.bias": vb})
    out.update({f"{dst}.out_proj.weight": o, f"{dst}.out_proj.bias": ob})
    return out


def _norm(get, src: str, dst: str) -> dict[str, np.ndarray]:
    return {f"{dst}.{_NORM[p]}": get(f"{src}/{p}") for p in ("gamma", "beta")}


def _layer(get, side: str, i: int) -> dict[str, np.ndarray]:
    """All tensors of encoder/decoder layer i under their transformers names."""
    src, dst = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
    out = _attention(get, f"{src}/self_attention", f"{dst}.self_attn", "qkv")
    out |= _norm(get, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
    if side == "decoder":
        out |= _attention(get, f"{src}/attention", f"{dst}.encoder_attn", "kv")
        out |= _norm(get, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
    out |= _norm(get, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
    for j, fc in ((0, "fc1"), (1, "fc2")):
        out[f"{dst}.{fc}.weight"] = get(f"{src}/ffn/linear_{j}/weight")
        out[f"{dst}.{fc}.bias"] = get(f"{src}/ffn/linear_{j}/bias")
    return out


def _whisper_tensors(arrays: dict[str, np.ndarray], n_enc: int, n_dec: int) -> dict[str, torch.Tensor]:
    """Every tensor of WhisperForConditionalGeneration, as float32 torch tensors."""

    def get(name: str) -> np.ndarray:
        if name not in arrays:
            raise ModelNotFoundError(f"CTranslate2 Whisper model has no variable {name!r}; is it a Whisper model?")
        return arrays[name]

    out = {f"model.encoder.{c}.{p}": get(f"encoder/{c}/{p}") for c in ("conv1", "conv2") for p in ("weight", "bias")}
    out["model.encoder.embed_positions.weight"] = get("encoder/position_encodings/encodings")
    out |= _norm(get, "encoder/layer_norm", "model.encoder.layer_norm")
    out["model.decoder.embed_tokens.weight"] = get("decoder/embeddings/weight")
    out["model.decoder.embed_positions.weight"] = get("decoder/position_encodings/encodings")
    out |= _norm(get, "decoder/layer_norm", "model.decoder.layer_norm")
    jobs = [("encoder", i) for i in range(n_enc)] + [("decoder", i) for i in range(n_dec)]
    for side, i in tqdm(jobs, desc="Converting Whisper layers", disable=None):
        out |= _layer(get, side, i)
    bad = [k for k, v in out.items() if v.dtype.kind != "f"]
    if bad:
        raise ConfigError(f"Whisper weights {bad[:3]} are still integers; read the model with dequantize=True")
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in out.items()}
    # The output projection is tied to the token embeddings (CT2 stores it as an alias of them).
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    return tensors


# --- Whisper: config and generation settings ----------------------------------------------------

_TIMESTAMP_STEP = 0.02  # seconds per Whisper timestamp token


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelNotFoundError(f"{path.parent} has no {path.name}; a CTranslate2 Whisper folder needs it")
    return json.loads(path.read_text(encoding="utf-8"))


def _special_ids(tokenizer_json: dict) -> dict[str, int]:
    """Map each added token's text (e.g. "<|en|>") to its id."""
    return {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}


def _scalar(arrays: dict[str, np.ndarray], name: str, default: int) -> int:
    return int(arrays[name]) if name in arrays else default


def _token_settings(folder: Path, vocab_size: int) -> dict:
    """Generation settings from the folder's tokenizer.json and config.json.

    Ids are looked up by token text, never hard-coded, because English-only and multilingual
    vocabularies put the same special tokens one id apart."""
    ids = _special_ids(_read_json(folder / "tokenizer.json"))
    ct2_cfg = _read_json(folder / "config.json")
    try:
        eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
        translate, transcribe = ids["<|translate|>"], ids["<|transcribe|>"]
        no_ts, prev = ids["<|notimestamps|>"], ids["<|startofprev|>"]
    except KeyError as err:
        raise ModelNotFoundError(f"{folder}/tokenizer.json lacks Whisper special token {err}") from None
    # Language tokens sit between <|startoftranscript|> and <|translate|>.
    langs = {tok: i for tok, i in ids.items() if sot < i < translate}
    multilingual = vocab_size >= 51865  # the rule openai/whisper and transformers use
    return {
        "eos": eot, "sot": sot, "no_timestamps_token_id": no_ts, "prev_sot_token_id": prev,
        "is_multilingual": multilingual,
        "lang_to_id": langs if multilingual else {},
        "task_to_id": {"translate": translate, "transcribe": transcribe} if multilingual else {},
        # Converters write null for settings the source model lacked: fall back to none / openai's.
        "suppress_tokens": [int(i) for i in ct2_cfg.get("suppress_ids") or []],
        "begin_suppress_tokens": [int(i) for i in ct2_cfg.get("suppress_ids_begin") or [220, eot]],
        "alignment_heads": [list(map(int, h)) for h in ct2_cfg.get("alignment_heads") or []],
    }


def _whisper_config(arrays: dict[str, np.ndarray], n_enc: int, n_dec: int, tokens: dict) -> WhisperConfig:
    """Derive the architecture from array shapes; generation settings ride along as extra fields."""
    d_model, n_mels, _ = arrays["encoder/conv1/weight"].shape
    vocab_size = arrays["decoder/embeddings/weight"].shape[0]
    # Whisper heads are 64 wide; CT2 also stores the count as a scalar, which wins when present.
    enc_heads = _scalar(arrays, "encoder/num_heads", d_model // 64)
    dec_heads = _scalar(arrays, "decoder/num_heads", d_model // 64)
    extra = {k: tokens[k] for k in ("no_timestamps_token_id", "prev_sot_token_id", "is_multilingual",
                                    "lang_to_id", "task_to_id", "alignment_heads")}
    return WhisperConfig(
        vocab_size=vocab_size, num_mel_bins=n_mels, d_model=d_model,
        encoder_layers=n_enc, decoder_layers=n_dec,
        encoder_attention_heads=enc_heads, decoder_attention_heads=dec_heads,
        encoder_ffn_dim=arrays["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=arrays["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=arrays["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=arrays["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=tokens["eos"], bos_token_id=tokens["eos"], eos_token_id=tokens["eos"],
        decoder_start_token_id=tokens["sot"],
        suppress_tokens=tokens["suppress_tokens"], begin_suppress_tokens=tokens["begin_suppress_tokens"],
        tie_word_embeddings=True, scale_embedding=False, activation_function="gelu",
        **extra,
    )


def whisper_generation_config(config: WhisperConfig) -> GenerationConfig:
    """The GenerationConfig that Whisper's `generate` needs (timestamps, languages, suppression).

    Input: a config from `ct2_whisper_to_hf`, whose extra fields carry the token settings.
    Output: a GenerationConfig for `model.generation_config`; greedy, at most max_target_positions.
    """
    # English-only models must not carry lang_to_id/task_to_id at all: transformers treats their mere
    # presence as "multilingual, detect the language" and inserts a bogus language token.
    languages = {"lang_to_id": dict(config.lang_to_id), "task_to_id": dict(config.task_to_id)}
    return GenerationConfig(
        **(languages if config.is_multilingual else {}),
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id,
        suppress_tokens=list(config.suppress_tokens or []),
        begin_suppress_tokens=list(config.begin_suppress_tokens or []),
        no_timestamps_token_id=config.no_timestamps_token_id,
        prev_sot_token_id=config.prev_sot_token_id,
        is_multilingual=config.is_multilingual,
        alignment_heads=[list(h) for h in config.alignment_heads],
        max_initial_timestamp_index=int(round(1.0 / _TIMESTAMP_STEP)),  # openai's 1 s default
        return_timestamps=False,
        max_length=config.max_target_positions,
    )


def ct2_whisper_to_hf(folder: str | Path) -> tuple[WhisperConfig, dict[str, torch.Tensor]]:
    """Convert a CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json).

    Output: (config, state_dict). The state dict holds every tensor of
    `WhisperForConditionalGeneration` in float32, `proj_out.weight` sharing the token embeddings.
    The config carries the architecture plus the generation settings (decoder start, eos,
    suppress and begin-suppress tokens, no-timestamps id, language and task ids, alignment heads);
    `whisper_generation_config(config)` turns them into the model's GenerationConfig.
    """
    folder = Path(folder)
    meta, arrays = read_ct2_model(folder / "model.bin")
    if meta["spec"] != "WhisperSpec":
        raise ModelNotFoundError(f"{folder}/model.bin holds a CTranslate2 {meta['spec']}, not a WhisperSpec")
    n_enc, n_dec = _count_layers(arrays, "encoder"), _count_layers(arrays, "decoder")
    vocab_size = arrays["decoder/embeddings/weight"].shape[0]
    config = _whisper_config(arrays, n_enc, n_dec, _token_settings(folder, vocab_size))
    return config, _whisper_tensors(arrays, n_enc, n_dec)
