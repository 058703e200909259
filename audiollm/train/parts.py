"""Which parameters learn, LoRA on the decoder, and the small "trained parts" file a run exports.

A run's trained parts are everything training changed and nothing else: the adaptor and ln_speech
(always; the voice rows' module and the fitted gender row too where the model has them), the unfrozen encoder layers (if any), and LoRA factors (A, B and their scale) instead of full
decoder matrices. `merge_trained_parts` applies such a file to a freshly assembled model, so the shipped
default model is a few MB in git while its base is rebuilt from packages.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from audiollm.config import AudioLLMConfig
from audiollm.errors import ConfigError
from audiollm.model import AudioLLM
from audiollm.transcript_rows import set_transcript_rows

LORA_SCALES_KEY = "lora_scales"  # safetensors metadata: JSON {module name: alpha / r}
CONFIG_KEY = "audiollm_config"  # safetensors metadata: the trained model's AudioLLMConfig (e.g. encoder_input)
# Inside a model folder: the trained parts that turned the package-built base into this model. A run that
# starts from such a folder composes its own parts onto them, so its export still ships on the base alone.
MODEL_PARTS_FILE = "trained_parts.safetensors"
# safetensors metadata "true": trained (or composed, or averaged) with data licensed for non-commercial use
# only. Such parts may not ship as the default (audiollm.default.ship_trained_parts refuses them).
NON_COMMERCIAL_KEY = "non_commercial_data"
GENDER_ROW_PREFIX = "speech_gender_row."


def non_commercial(path: str | Path) -> bool:
    """Whether a trained-parts or stage-1 encoder file says it was trained on non-commercial-only data."""
    with safe_open(str(path), framework="pt") as handle:
        return (handle.metadata() or {}).get(NON_COMMERCIAL_KEY) == "true"


def licence_metadata(restricted: bool) -> dict:
    """The metadata entry that marks a file trained on non-commercial-only data (none otherwise)."""
    return {NON_COMMERCIAL_KEY: "true"} if restricted else {}


def set_trainable(model: AudioLLM, adaptor: bool, encoder: str, decoder: str, lora=None,
                  transcript_correction: bool = False) -> None:
    """Freeze everything, then unfreeze what the recipe names; add LoRA to the decoder if asked."""
    model.requires_grad_(False)
    for module in (model.ln_speech, model.speech_audio_adapter, model.speech_voice_adapter, model.speech_gender_row):
        if module is not None:  # no voice rows, no gender row: no module
            module.requires_grad_(adaptor)
    if model.speech_transcriber is not None:
        model.speech_transcriber.correction.requires_grad_(transcript_correction)
    if encoder == "full":
        model.speech_encoder.requires_grad_(True)
    elif encoder.startswith("top:"):
        layers = model.speech_encoder.layers
        count = int(encoder[4:])
        if count > len(layers):
            raise ConfigError(f"trainable.encoder={encoder}: the encoder has only {len(layers)} layers")
        for layer in layers[len(layers) - count :]:
            layer.requires_grad_(True)
        model.speech_encoder.layer_norm.requires_grad_(True)
    if decoder == "full":
        model.text_decoder.requires_grad_(True)
    elif decoder == "lora":
        add_lora(model, lora)


def add_lora(model: AudioLLM, lora) -> None:
    """Inject PEFT LoRA layers into the decoder in place (module names and the HF surface stay as they are)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules))
    inject_adapter_in_model(config, model.text_decoder)
    for name, parameter in model.text_decoder.named_parameters():
        parameter.requires_grad_("lora_" in name)


def _lora_modules(model: AudioLLM):
    """(name, module) of every LoRA-wrapped linear layer in the decoder."""
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer") and "default" in module.lora_A:
            yield name, module


def export_trained_parts(model: AudioLLM, path: str | Path, non_commercial_data: bool = False) -> dict:
    """Write the trained parts (see module docstring) atomically; returns {kind: parameter count}.
    `non_commercial_data`: the run trained on rows licensed for non-commercial use only (marked in the file)."""
    tensors, scales = {}, {}
    for name, module in _lora_modules(model):
        tensors[f"{name}.lora_A"] = module.lora_A["default"].weight.detach().float().cpu().contiguous()
        tensors[f"{name}.lora_B"] = module.lora_B["default"].weight.detach().float().cpu().contiguous()
        scales[name] = float(module.scaling["default"])
    for name, parameter in model.named_parameters():
        # The gender row was fitted here even where it does not train: it always ships.
        if (parameter.requires_grad or name.startswith(GENDER_ROW_PREFIX)) and "lora_" not in name:
            tensors[_plain_name(name)] = parameter.detach().cpu().contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    metadata = {LORA_SCALES_KEY: json.dumps(scales), CONFIG_KEY: json.dumps(model.config.to_dict()), "format": "pt",
                **licence_metadata(non_commercial_data)}
    save_file(tensors, temporary, metadata=metadata)
    temporary.replace(path)
    counts = {"lora": sum(t.numel() for k, t in tensors.items() if ".lora_" in k)}
    counts["full"] = sum(t.numel() for k, t in tensors.items() if ".lora_" not in k)
    return counts


def _plain_name(name: str) -> str:
    """A parameter name without PEFT's wrapper segment (x.base_layer.weight -> x.weight)."""
    return name.replace(".base_layer.", ".")


def merge_trained_parts(model: AudioLLM, path: str | Path, tokenizer_folder: str | Path | None = None) -> None:
    """Apply a trained-parts file to a model without LoRA layers: copy full tensors, add B @ A * scale,
    and take the trained model's config (settings such as encoder_input travel with the weights).
    Parts trained with transcript rows give a model without them its reader, which needs the tokenizer in
    `tokenizer_folder` (the parts hold only the trained correction, not Whisper's decoder)."""
    tensors, scales, metadata = read_parts(path)
    if CONFIG_KEY in metadata:
        trained = AudioLLMConfig.from_dict(json.loads(metadata[CONFIG_KEY]))
        # Trained with another adaptor shape (e.g. model.stack): give the model that shape first.
        model.new_adaptor(adaptor=trained.adaptor, speech_mlp_scale_factor=trained.speech_mlp_scale_factor)
        model.set_voice_rows(trained.voice_rows)
        model.config = trained
        model.set_gender_row(trained.gender_row)
        set_transcript_rows(model, trained.transcript_rows_per_second, trained.transcript_reader, tokenizer_folder,
                            trained.transcript_no_speech_row, trained.transcript_language_row)
    state = model.state_dict()
    with torch.no_grad():
        for key, tensor in tensors.items():
            if key.endswith((".lora_A", ".lora_B")):
                continue
            if key not in state:
                raise ConfigError(f"{path}: the model has no tensor {key}")
            state[key].copy_(tensor)
        _add_lora_deltas(state, tensors, scales, sign=1)


def model_from_parts(folder: str | Path, parts: str | Path) -> AudioLLM:
    """The model that `parts` (counted from the package-built base) make of the model at `folder`.

    Where the folder's own model was trained here (it holds MODEL_PARTS_FILE), its LoRA deltas come out
    first, so the result is what the parts rebuild from the base: what is evaluated is what ships.
    """
    model = AudioLLM.from_pretrained(folder)
    own_parts = Path(folder) / MODEL_PARTS_FILE
    if own_parts.is_file():
        remove_lora_deltas(model, own_parts)
    merge_trained_parts(model, parts, folder)  # also takes the trained config (encoder_input, ...)
    return model


def remove_lora_deltas(model: AudioLLM, path: str | Path) -> None:
    """Undo the LoRA deltas that merge_trained_parts added from `path` (its full tensors stay as they are)."""
    tensors, scales, _ = read_parts(path)
    with torch.no_grad():
        _add_lora_deltas(model.state_dict(), tensors, scales, sign=-1)


def _add_lora_deltas(state: dict, tensors: dict, scales: dict, sign: int) -> None:
    """weight += sign * B @ A * scale for every LoRA module in a trained-parts file's tensors."""
    for module_name, scale in scales.items():
        weight = state[f"{module_name}.weight"]
        delta = tensors[f"{module_name}.lora_B"] @ tensors[f"{module_name}.lora_A"] * (sign * scale)
        weight += delta.to(weight.dtype)  # the factors are read as float32 (parts may ship as float16)


def compose_trained_parts(earlier: str | Path, later: str | Path, out: str | Path,
                          max_rank: int | None = None) -> dict:
    """The parts of a model trained from an already trained one, counted from the first one's base.

    `earlier` took the base to the starting model, `later` took the starting model further. Full tensors
    in `later` replace those in `earlier`; an earlier LoRA delta on a matrix that `later` trained in full
    is already inside that matrix and is dropped. LoRA deltas on the same matrix add up, which is one
    LoRA of the summed rank: B1 A1 s1 + B2 A2 s2 = [B1 s1 | B2 s2] [A1 ; A2], with scale 1.
    With `max_rank`, a summed rank above it is cut back to the best LoRA of that rank (truncate_lora).
    Returns {"lora_rank": largest rank written, "largest_relative_error": of the cut deltas, 0 if none}.
    """
    first, first_scales, first_metadata = read_parts(earlier)
    second, second_scales, metadata = read_parts(later)
    metadata = {**metadata, **licence_metadata(NON_COMMERCIAL_KEY in first_metadata)}  # the licence carries over
    tensors = {key: value for key, value in first.items() if not key.endswith((".lora_A", ".lora_B"))}
    tensors.update({key: value for key, value in second.items() if not key.endswith((".lora_A", ".lora_B"))})
    scales, largest_error = {}, 0.0
    for module in sorted(set(first_scales) | set(second_scales)):
        if f"{module}.weight" in second:
            if module in second_scales:
                raise ConfigError(f"{later}: {module} has both a full weight and LoRA factors")
            continue  # trained in full afterwards: the earlier delta is part of that weight now
        pairs = [(parts[f"{module}.lora_A"], parts[f"{module}.lora_B"] * parts_scales[module])
                 for parts, parts_scales in ((first, first_scales), (second, second_scales))
                 if module in parts_scales]
        largest_error = max(largest_error, _stack_lora(tensors, scales, module, pairs, max_rank))
    _save_parts(tensors, scales, metadata, out)
    return {"lora_rank": stacked_rank(tensors, scales), "largest_relative_error": largest_error}


def average_trained_parts(sources: list[tuple[str | Path, float]], out: str | Path,
                          max_rank: int | None = None) -> dict:
    """A weight average ("model soup") of trained-parts files counted from the same base.

    Models fine-tuned from one start and averaged often keep much of what each learned (Wortsman et al.,
    2022): here a leg that gained one skill and lost others, averaged with the model it started from.
    Full tensors are averaged; LoRA deltas average as one LoRA of the summed rank:
    w1 B1 A1 s1 + w2 B2 A2 s2 = [w1 s1 B1 | w2 s2 B2] [A1 ; A2]; `max_rank` cuts it as in compose_trained_parts.
    The weights must sum to 1. The config and other metadata are the first source's; any source's
    non-commercial mark carries over.
    """
    if not sources or abs(sum(weight for _, weight in sources) - 1.0) > 1e-6:
        raise ConfigError(f"average_trained_parts: the weights must sum to 1, got {[w for _, w in sources]}")
    paths = [path for path, _ in sources]
    weights = [weight for _, weight in sources]
    read = [read_parts(path) for path in paths]
    every_parts, every_scales, metadata = [parts for parts, _, _ in read], [scales for _, scales, _ in read], read[0][2]
    metadata = {**metadata, **licence_metadata(any(NON_COMMERCIAL_KEY in m for _, _, m in read))}
    for path, parts, scales in zip(paths, every_parts, every_scales):
        if parts.keys() != every_parts[0].keys() or scales.keys() != every_scales[0].keys():
            raise ConfigError(f"{path}: its tensors differ from {paths[0]}'s: only parts of one shape average")
    tensors = {key: sum(weight * parts[key] for parts, weight in zip(every_parts, weights))
               for key in sorted(every_parts[0]) if not key.endswith((".lora_A", ".lora_B"))}
    scales, largest_error = {}, 0.0
    for module in sorted(every_scales[0]):
        pairs = [(parts[f"{module}.lora_A"], parts[f"{module}.lora_B"] * (weight * module_scales[module]))
                 for parts, module_scales, weight in zip(every_parts, every_scales, weights)]
        largest_error = max(largest_error, _stack_lora(tensors, scales, module, pairs, max_rank))
    _save_parts(tensors, scales, metadata, out)
    return {"lora_rank": stacked_rank(tensors, scales), "largest_relative_error": largest_error}


def _stack_lora(tensors: dict, scales: dict, module: str, pairs: list, max_rank: int | None) -> float:
    """Put the sum of LoRA deltas [(down, scaled up), ...] into `tensors` and `scales` as one LoRA of scale 1,
    cut to `max_rank` if that is given and exceeded; returns the relative error of the cut (0 if none)."""
    down = torch.cat([down for down, _ in pairs], dim=0)
    up = torch.cat([up for _, up in pairs], dim=1)
    error = 0.0
    if max_rank is not None and down.shape[0] > max_rank:
        down, up, error = truncate_lora(down, up, max_rank)
    tensors[f"{module}.lora_A"], tensors[f"{module}.lora_B"] = down.contiguous(), up.contiguous()
    scales[module] = 1.0
    return error


def stacked_rank(tensors: dict, scales: dict) -> int:
    """The largest LoRA rank in a trained-parts file's tensors (0 if it has no LoRA)."""
    return max((tensors[f"{module}.lora_A"].shape[0] for module in scales), default=0)


def _save_parts(tensors: dict, scales: dict, metadata: dict, out: str | Path) -> None:
    """Write a trained-parts file atomically (a temporary file, then a rename)."""
    path = Path(out)
    temporary = path.with_suffix(".tmp")
    save_file(tensors, temporary, metadata={**metadata, LORA_SCALES_KEY: json.dumps(scales)})
    temporary.replace(path)


def truncate_lora(down: torch.Tensor, up: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The rank-`rank` LoRA (down', up') nearest to up @ down, and the relative size of what it leaves out.

    Truncated SVD is the best approximation of that rank (Eckart-Young). up @ down is never formed: with
    up = Qu Ru and down^T = Qd Rd, up @ down = Qu (Ru Rd^T) Qd^T, so only the small core Ru Rd^T is
    decomposed. Each side takes the square root of the singular values, keeping the factors of like size.
    Error: the Frobenius norm of the dropped singular values over that of all of them.
    """
    up_basis, up_core = torch.linalg.qr(up.double())
    down_basis, down_core = torch.linalg.qr(down.double().T)
    left, singular, right = torch.linalg.svd(up_core @ down_core.T)
    root = singular[:rank].sqrt()
    new_up = up_basis @ (left[:, :rank] * root)
    new_down = (root[:, None] * right[:rank]) @ down_basis.T
    total = singular.square().sum()
    error = (singular[rank:].square().sum() / total).sqrt().item() if total > 0 else 0.0
    return new_down.to(down.dtype), new_up.to(up.dtype), error


def read_parts(path: str | Path) -> tuple[dict, dict, dict]:
    """(float32 tensors, {module: LoRA scale}, metadata) of a trained-parts file."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key).float() for key in handle.keys()}
    return tensors, json.loads(metadata.get(LORA_SCALES_KEY, "{}")), metadata
