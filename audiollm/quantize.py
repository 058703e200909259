"""Smaller decoder weights for CPU inference (`audiollm.load(..., quantize="int8")`).

Why: decoding one token reads every decoder weight once, so on a CPU it is bound by memory bandwidth.
The Gemma 3 270M decoder reads 1.07 GB per token in fp32, 63% of it the tied 262k x 640 LM head.

What "int8" does, and why this mix (measured in benchmarks/, see docs/performance.md):
- LM head: int8 weights, one scale per vocabulary row, through torch's dynamic-quantised Linear (fbgemm;
  8-bit activations where the CPU has VNNI, see `Int8Head`). Its input is the final-normed hidden state
  and, one token at a time, the on-the-fly activation scale is per token; 671 MB -> 168 MB per token,
  the single largest saving.
- Every other decoder Linear: fp16 weights through fbgemm's fp16 kernel (fp32 arithmetic). Two
  int8 alternatives were worse here: dynamic int8 (activations quantised to 7 bits, one scale per
  tensor) changed Gemma's next-token distribution ~100x more than int8 weights alone (KL 0.56 vs 0.005
  on a text passage: a few channels carry outlier activations); weight-only int8
  (`torch._weight_int8pack_mm`) kept the accuracy but decoded ~20% slower than fp16 on this CPU (the
  kernel, not the bytes, was the limit).
- A transcript reader's Whisper decoder (transcript_rows.py) gets the same mix: it decodes every window
  greedily before the LLM answers (10-minute transcription RTF 0.135 -> 0.126 with it, docs/runs/default-v18/).
- Speech encoder, adaptor, embeddings, norms: unchanged (fp32). The encoder is compute-bound (1500
  frames per window), where smaller weights do not help, and its output is what the decoder hears.
The input embeddings stay fp32 for the lookup, so a tied LM head gets its own int8 copy.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from audiollm.errors import ConfigError


class Int8Head(nn.Module):
    """The LM head as torch's dynamic int8 Linear, called with 8-bit activations where the CPU allows.

    torch's module always quantises activations to 7 bits (reduce_range), because AVX2's u8 x s8 multiply
    saturates 16-bit sums; CPUs with VNNI accumulate in 32 bits, and there 8 bits halve the change in
    the next-token distribution (KL 0.010 -> 0.0055 on a text passage) at the same speed.
    (..., D) -> (..., V), fp32.
    """

    def __init__(self, dynamic_linear: nn.Module, full_range: bool):
        super().__init__()
        self.linear, self.full_range = dynamic_linear, full_range

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        rows = hidden.reshape(-1, hidden.shape[-1])
        packed = self.linear._packed_params._packed_params
        out = torch.ops.quantized.linear_dynamic(rows, packed, not self.full_range)
        return out.reshape(*hidden.shape[:-1], out.shape[-1])


@functools.lru_cache(maxsize=None)
def cpu_has_vnni() -> bool:
    """True if the CPU multiplies int8 with 32-bit accumulation (AVX512-VNNI, AVX-VNNI or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _quantize_linears(module: nn.Module, int8_names: set[str]) -> None:
    """In place: the Linear layers named in `int8_names` -> int8 weights, one scale per output row; every
    other Linear of `module` -> fp16 weights (fbgemm dynamic-quantised Linear modules, fp32 in and out)."""
    try:
        from torch.ao.quantization import float16_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:
        raise ConfigError("this torch build has no dynamic quantisation (torch.ao.quantization); "
                          "load without quantize, or with dtype='bfloat16'") from None
    spec = {name: per_channel_dynamic_qconfig if name in int8_names else float16_dynamic_qconfig
            for name, child in module.named_modules() if isinstance(child, nn.Linear)}
    with warnings.catch_warnings():  # torch.ao's deprecation notices say nothing a user can act on
        warnings.simplefilter("ignore")
        quantize_dynamic(module, spec, inplace=True)


def quantize_decoder_int8(decoder: nn.Module) -> nn.Module:
    """In place: the causal LM's LM head -> int8 weights (`Int8Head`); its other Linear layers -> fp16
    weights (fbgemm dynamic-quantised Linear modules, fp32 in and out). Returns `decoder`."""
    head = decoder.get_output_embeddings()
    head_name = next(name for name, module in decoder.named_modules() if module is head)
    _quantize_linears(decoder, {head_name})
    parent, _, leaf = head_name.rpartition(".")
    owner = decoder.get_submodule(parent) if parent else decoder
    setattr(owner, leaf, Int8Head(getattr(owner, leaf), full_range=cpu_has_vnni()))
    if hasattr(decoder.config, "tie_word_embeddings"):
        decoder.config.tie_word_embeddings = False  # nothing may re-tie the fp32 embeddings to the int8 head
    return decoder


def quantize_reader_int8(reader: nn.Module) -> nn.Module:
    """In place: the transcript reader's Whisper decoder gets the same mix, since it decodes greedily for
    every window before the LLM answers (transcript_rows.py). Its Linear layers -> fp16 weights; its output
    layer over the text tokens, tied to its fp32 token embeddings (which the lookups keep), gets an int8
    copy (`reader.int8_text_head`). Returns `reader`."""
    _quantize_linears(reader.decoder, set())
    text_tokens = reader.decoder.embed_tokens.weight[: reader.end + 1].detach()
    holder = nn.Sequential(nn.Linear(text_tokens.shape[1], text_tokens.shape[0], bias=False))
    holder[0].weight = nn.Parameter(text_tokens.clone(), requires_grad=False)
    _quantize_linears(holder, {"0"})
    reader.int8_text_head = Int8Head(holder[0], full_range=cpu_has_vnni())
    return reader


def weight_bytes_per_token(decoder: nn.Module) -> int:
    """Bytes of weights one decoding step reads: every parameter and weight buffer of the causal LM,
    except the input embeddings (one row per token); a tied LM head is counted once, as the head."""
    embeddings = decoder.get_input_embeddings()
    head = decoder.get_output_embeddings()
    seen, total = set(), 0
    for module in decoder.modules():
        if module is embeddings and module is not head:
            continue
        tensors = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        if type(module).__name__ == "LinearPackedParams":  # where torch's dynamic Linear keeps its weight
            weight, bias = module._weight_bias()
            if weight.is_quantized:
                total += weight.numel()  # int8: one byte each (the per-row scales are negligible)
            else:
                total += weight.numel() * 2  # fp16 packing; _weight_bias unpacks it to fp32
            tensors += [bias] if bias is not None else []
        for tensor in tensors:
            if id(tensor) not in seen and tensor.dtype != torch.int64:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total
