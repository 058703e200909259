"""GPU throughput of a MERaLiON-sized AudioLLM with random weights, against the GPU's bandwidth bound.

    python benchmarks/gpu_meralion.py                     # on a GPU: about 3-5 minutes on one H100
    python benchmarks/gpu_meralion.py --smoke             # tiny shapes on the CPU (the test suite runs this)
    python benchmarks/gpu_meralion.py --json out.json     # also write the numbers as JSON

What it measures, each printed as a table row with the device name:
1. Inference of a MERaLiON-v1-sized model (Whisper-large-v2 encoder: 32 layers, d_model 1280, 80 mels;
   the v1 adaptor; a Gemma-2-9B-shaped decoder: 42 layers, d_model 3584, 256k vocabulary), bf16,
   weights random (built from configs, nothing downloaded): for batch 1 and 16, one 30 s window per
   request (100 speech tokens) plus a text prompt, greedy decoding of a fixed number of tokens:
   - encoder windows/s; prefill tokens/s (prompt tokens through the decoder, first token included);
   - decode tokens/s, and its share of the bound: batch x measured device copy bandwidth / weight bytes
     read per step (every decoder weight once, the LM head included; KV-cache reads are left out, so at
     batch 16 the bound is an upper limit that decoding can only approach).
2. Training throughput of the default recipe (configs/default-v7.yaml: Whisper-base + MERaLiON-v1 adaptor +
   Gemma-3-270M-shaped decoder; encoder frozen, adaptor trained, LoRA r=16 on all projections; global batch
   16 in 2 micro-batches of 8; real-length encoding), random data of 10-20 s clips and 30-token answers:
   samples/s, tokens/s, and the share of step time in the encoder, the rest of forward+backward, the
   optimiser. fp32 as the recipe says, and bf16 autocast.

Depends on torch and transformers only (the repository's model code is imported without its package
__init__, which pulls in audio I/O libraries); LoRA comes from peft when installed, else a minimal
equivalent defined here (the script says which). Timings use torch.cuda.synchronize around each
measured call, after warm-up, best of --repeats.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def import_audiollm_model():
    """The repository's AudioLLM and AudioLLMConfig, without running audiollm/__init__.py."""
    if "audiollm" not in sys.modules:
        package = types.ModuleType("audiollm")
        package.__path__ = [str(ROOT / "audiollm")]  # a bare namespace: submodules import on demand
        sys.modules["audiollm"] = package
    from audiollm.config import AudioLLMConfig
    from audiollm.model import AudioLLM

    return AudioLLM, AudioLLMConfig


# ---- model shapes ------------------------------------------------------------------------------------
WHISPER_LARGE = dict(num_mel_bins=80, d_model=1280, encoder_layers=32, encoder_attention_heads=20,
                     encoder_ffn_dim=5120, decoder_layers=1, decoder_attention_heads=20, decoder_ffn_dim=5120,
                     max_source_positions=1500)
GEMMA2_9B = dict(model_type="gemma2", vocab_size=256000, hidden_size=3584, intermediate_size=14336,
                 num_hidden_layers=42, num_attention_heads=16, num_key_value_heads=8, head_dim=256,
                 query_pre_attn_scalar=256, sliding_window=4096, final_logit_softcapping=30.0,
                 attn_logit_softcapping=50.0, max_position_embeddings=8192, pad_token_id=0, eos_token_id=1,
                 bos_token_id=2)
WHISPER_BASE = dict(num_mel_bins=80, d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048,
                    decoder_layers=1, decoder_attention_heads=8, decoder_ffn_dim=2048, max_source_positions=1500)
GEMMA3_270M = dict(model_type="gemma3_text", vocab_size=262145, hidden_size=640, intermediate_size=2048,
                   num_hidden_layers=18, num_attention_heads=4, num_key_value_heads=1, head_dim=256,
                   query_pre_attn_scalar=256, sliding_window=512, max_position_embeddings=32768,
                   layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 3,
                   rope_parameters={"full_attention": {"rope_theta": 1e6, "rope_type": "default"},
                                    "sliding_attention": {"rope_theta": 1e4, "rope_type": "default"}},
                   pad_token_id=0, eos_token_id=1, bos_token_id=2)
TINY_WHISPER = dict(num_mel_bins=80, d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
                    decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128, max_source_positions=1500)
TINY_GEMMA2 = dict(GEMMA2_9B, vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16)
TINY_GEMMA3 = dict(GEMMA3_270M, vocab_size=1025, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   head_dim=16, query_pre_attn_scalar=16, layer_types=["sliding_attention", "full_attention"])


def build(speech: dict, text: dict, device: torch.device, dtype: torch.dtype, encoder_input: str = "fixed"):
    """A random-weight AudioLLM created directly on `device` in `dtype` (no CPU copy of 9B parameters)."""
    AudioLLM, AudioLLMConfig = import_audiollm_model()
    config = AudioLLMConfig(speech_config=dict(speech), text_config=dict(text), adaptor="meralion-v1",
                            speech_token_index=text["vocab_size"] - 1, encoder_input=encoder_input,
                            adaptor_dropout=0.0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = AudioLLM(config)
    finally:
        torch.set_default_dtype(previous)
    with torch.no_grad():  # small random weights: realistic magnitudes are not needed for timing
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02) if parameter.dim() > 1 else parameter.zero_()
    return model.eval(), config


# ---- timing ---------------------------------------------------------------------------------------------
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(function, device: torch.device, repeats: int) -> float:
    """Best-of-`repeats` seconds of `function()` after one warm-up call, synchronised on the device."""
    function()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        function()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth(device: torch.device, megabytes: int) -> float:
    """Device memory bandwidth of a large copy in GB/s, bytes read plus bytes written."""
    source = torch.ones(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    seconds = best_time(lambda: target.copy_(source), device, repeats=10)
    return 2 * source.numel() * 4 / seconds / 1e9


def decoder_weight_bytes(decoder: nn.Module) -> int:
    """Bytes a decoding step reads: all decoder parameters except the input-embedding lookup table,
    unless it is also the LM head (tied, as in Gemma), which reads all of it."""
    head = decoder.get_output_embeddings().weight
    embeddings = decoder.get_input_embeddings().weight
    total = sum(p.numel() * p.element_size() for p in decoder.parameters() if p is not embeddings)
    return total + (embeddings.numel() * embeddings.element_size() if head is embeddings else 0)


# ---- inference ------------------------------------------------------------------------------------------
def inference_inputs(config, batch: int, prompt_text: int, device: torch.device):
    """Input ids (B, L) with one window's placeholders per row, and (B, M, 3000) random log-mel windows."""
    speech = config.tokens_per_window
    text = torch.randint(10, 1000, (batch, prompt_text), device=device)
    placeholders = torch.full((batch, speech), config.speech_token_index, device=device)
    ids = torch.cat([text[:, :4], placeholders, text[:, 4:]], dim=1)
    features = torch.randn(batch, config.num_mel_bins, 3000, device=device)
    return ids, features


def measure_inference(model, config, batch: int, args, device: torch.device) -> dict:
    """Encoder, prefill and decode throughput at one batch size (greedy, exactly args.new_tokens tokens)."""
    ids, features = inference_inputs(config, batch, args.prompt_text, device)
    mask = torch.ones_like(ids)
    settings = dict(do_sample=False, pad_token_id=0, eos_token_id=None, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        embeds = model.embed_inputs(ids, features)
        encode = best_time(lambda: model.encode_speech(features), device, args.repeats)
        prefill = best_time(lambda: model.text_decoder.generate(
            inputs_embeds=embeds, attention_mask=mask, max_new_tokens=1, **settings), device, args.repeats)
        full = best_time(lambda: model.text_decoder.generate(
            inputs_embeds=embeds, attention_mask=mask, max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens, **settings), device, args.repeats)
    decode_seconds = max(full - prefill, 1e-9)
    return {"batch": batch, "prompt_tokens": ids.shape[1], "encoder_windows_per_s": batch / encode,
            "prefill_tokens_per_s": batch * ids.shape[1] / prefill,
            "decode_tokens_per_s": batch * (args.new_tokens - 1) / decode_seconds,
            "decode_ms_per_step": 1000 * decode_seconds / (args.new_tokens - 1)}


def run_inference(args, device: torch.device, dtype: torch.dtype) -> list[dict]:
    speech, text = (TINY_WHISPER, TINY_GEMMA2) if args.smoke else (WHISPER_LARGE, GEMMA2_9B)
    built = time.perf_counter()
    model, config = build(speech, text, device, dtype)
    print(f"built the MERaLiON-sized model in {time.perf_counter() - built:.1f} s "
          f"({sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, {dtype})")
    bandwidth = copy_bandwidth(device, 64 if args.smoke else 4096)
    weight_bytes = decoder_weight_bytes(model.text_decoder)
    print(f"device copy bandwidth {bandwidth:.0f} GB/s; decoder weights read per step {weight_bytes / 1e9:.2f} GB")
    rows = []
    for batch in args.batches:
        result = measure_inference(model, config, batch, args, device)
        bound = batch * bandwidth * 1e9 / weight_bytes
        result.update(bound_tokens_per_s=bound, share_of_bound=result["decode_tokens_per_s"] / bound,
                      bandwidth_gbs=bandwidth, weight_gb=weight_bytes / 1e9)
        rows.append(result)
        print(f"batch {batch:>2}: encoder {result['encoder_windows_per_s']:8.1f} windows/s | prefill "
              f"{result['prefill_tokens_per_s']:9.0f} tok/s | decode {result['decode_tokens_per_s']:8.1f} tok/s "
              f"({result['decode_ms_per_step']:.1f} ms/step) = {100 * result['share_of_bound']:.0f}% of the bound "
              f"{bound:.0f} tok/s")
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


# ---- training -------------------------------------------------------------------------------------------
class LoraLinear(nn.Module):
    """Fallback LoRA when peft is missing: y = base(x) + (alpha / r) * B(A(dropout(x))), B starts at zero."""

    def __init__(self, base: nn.Linear, r: int, alpha: int, dropout: float):
        super().__init__()
        self.base_layer, self.scaling, self.dropout = base, alpha / r, nn.Dropout(dropout)
        self.lora_A = nn.Linear(base.in_features, r, bias=False, device=base.weight.device)
        self.lora_B = nn.Linear(r, base.out_features, bias=False, device=base.weight.device)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        return self.base_layer(x) + self.scaling * self.lora_B(self.lora_A(self.dropout(x)))


RECIPE_LORA = dict(r=16, alpha=32, dropout=0.05,
                   targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))


def add_lora(decoder: nn.Module) -> str:
    """LoRA as in configs/default-v7.yaml; returns which implementation was used."""
    decoder.requires_grad_(False)
    try:
        from peft import LoraConfig, inject_adapter_in_model

        inject_adapter_in_model(LoraConfig(r=RECIPE_LORA["r"], lora_alpha=RECIPE_LORA["alpha"],
                                           lora_dropout=RECIPE_LORA["dropout"],
                                           target_modules=list(RECIPE_LORA["targets"])), decoder)
        implementation = "peft"
    except ImportError:
        for module in list(decoder.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.Linear) and name in RECIPE_LORA["targets"]:
                    setattr(module, name, LoraLinear(child, RECIPE_LORA["r"], RECIPE_LORA["alpha"],
                                                     RECIPE_LORA["dropout"]))
        implementation = "minimal LoRA defined in this script (peft not installed)"
    for name, parameter in decoder.named_parameters():
        parameter.requires_grad_("lora_" in name)
    return implementation


def training_batch(config, size: int, device: torch.device, generator: torch.Generator) -> dict:
    """Random 10-20 s clips (real-length features), a 20-token prompt and a 30-token labelled answer."""
    frames = torch.randint(1000, 2001, (size,), generator=generator)
    rows, labels = [], []
    for count in frames.tolist():
        speech = config.speech_tokens_for(count * 160)
        prompt = torch.randint(10, 1000, (20 + speech + 30,), generator=generator)
        prompt[10:10 + speech] = config.speech_token_index
        label = prompt.clone()
        label[:-30] = -100
        rows.append(prompt)
        labels.append(label)
    length = max(len(r) for r in rows)
    ids = torch.zeros(size, length, dtype=torch.long)
    target = torch.full((size, length), -100)
    attention = torch.zeros(size, length, dtype=torch.long)
    for index, (row, label) in enumerate(zip(rows, labels)):  # left padding, as the processor does
        ids[index, length - len(row):], target[index, length - len(row):] = row, label
        attention[index, length - len(row):] = 1
    features = torch.randn(size, config.num_mel_bins, int(frames.max()), generator=generator)
    feature_mask = (torch.arange(features.shape[-1])[None, :] < frames[:, None]).long()
    batch = dict(input_ids=ids, labels=target, attention_mask=attention, input_features=features,
                 feature_attention_mask=feature_mask)
    return {key: value.to(device) for key, value in batch.items()}


def run_training(args, device: torch.device) -> list[dict]:
    """Default-recipe steps at fp32 and bf16 autocast; shares from synchronised timers around the encoder."""
    speech, text = (TINY_WHISPER, TINY_GEMMA3) if args.smoke else (WHISPER_BASE, GEMMA3_270M)
    rows = []
    for precision in ("fp32", "bf16"):
        model, config = build(speech, text, device, torch.float32, encoder_input="real")
        model.requires_grad_(False)
        implementation = add_lora(model.text_decoder)
        for module in (model.ln_speech, model.speech_audio_adapter):
            module.requires_grad_(True)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.98))
        rows.append(_train_steps(model, config, optimiser, trainable, precision, args, device))
        rows[-1]["lora"] = implementation
        del model, optimiser
    return rows


def _train_steps(model, config, optimiser, trainable, precision: str, args, device: torch.device) -> dict:
    """args.train_steps timed optimiser steps (after one warm-up step) of 2 micro-batches each."""
    generator = torch.Generator().manual_seed(0)
    micro = args.train_batch // 2
    encoder_seconds = [0.0]
    encode_speech = model.encode_speech

    def timed_encode(*inputs, **options):  # real-length encoding calls the encoder's layers, not its forward
        synchronize(device)
        start = time.perf_counter()
        speech = encode_speech(*inputs, **options)
        synchronize(device)
        encoder_seconds[0] += time.perf_counter() - start
        return speech

    model.encode_speech = timed_encode  # this instance only: a timer around encoder + ln_speech + adaptor
    totals = {"step": 0.0, "optimiser": 0.0, "encoder": 0.0, "samples": 0, "tokens": 0}
    for step in range(args.train_steps + 1):
        batches = [training_batch(config, micro, device, generator) for _ in range(2)]
        synchronize(device)
        began, encoder_seconds[0] = time.perf_counter(), 0.0
        for batch in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model(**batch, loss_reduction="sum", labelled_logits_only=True).loss
            (loss / 60).backward()
        synchronize(device)
        computed = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        synchronize(device)
        finished = time.perf_counter()
        if step:  # step 0 is the warm-up
            totals["step"] += finished - began
            totals["optimiser"] += finished - computed
            totals["encoder"] += encoder_seconds[0]
            totals["samples"] += args.train_batch
            totals["tokens"] += sum(int((b["labels"] != -100).sum() + b["attention_mask"].sum()) for b in batches)
    step_seconds = totals["step"]
    row = {"precision": precision, "samples_per_s": totals["samples"] / step_seconds,
           "tokens_per_s": totals["tokens"] / step_seconds, "seconds_per_step": step_seconds / args.train_steps,
           "share_encoder": totals["encoder"] / step_seconds, "share_optimiser": totals["optimiser"] / step_seconds}
    row["share_decoder_and_rest"] = 1 - row["share_encoder"] - row["share_optimiser"]
    print(f"training {precision}: {row['samples_per_s']:.1f} samples/s, {row['tokens_per_s']:.0f} tokens/s "
          f"(prompt+answer tokens), {row['seconds_per_step']:.3f} s/step; "
          f"encoder+adaptor fwd {100 * row['share_encoder']:.0f}% "
          f"| decoder fwd/bwd and the rest {100 * row['share_decoder_and_rest']:.0f}% | optimiser "
          f"{100 * row['share_optimiser']:.0f}%")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, CPU allowed: checks the script runs")
    parser.add_argument("--device", default=None, help="default: cuda if available (else cpu with --smoke)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--prompt-text", type=int, default=40, help="text tokens per prompt besides the audio")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--train-batch", type=int, default=16, help="global batch (2 micro-batches)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda" and not args.smoke:
        sys.exit("no GPU: this benchmark needs CUDA (use --smoke to check it on the CPU)")
    if args.smoke:
        args.new_tokens, args.repeats, args.train_steps, args.train_batch = 4, 1, 1, 4
        args.batches = [1, 2]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run)"
    print(f"device: {name}; torch {torch.__version__}")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    started = time.perf_counter()
    result = {"device": name, "torch": torch.__version__, "inference": run_inference(args, device, dtype)}
    if not args.skip_training:
        result["training"] = run_training(args, device)
    result["seconds"] = time.perf_counter() - started
    print(f"done in {result['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
