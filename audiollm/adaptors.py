"""Adaptors: turn stacked Whisper frames into decoder-width speech embeddings.

Every adaptor takes Z (B, N, k*C) — k consecutive encoder frames of width C concatenated, frame-major —
and returns S (B, N, D) in the decoder's hidden width D. Stacking happens in the model (`stack_frames`)
so every adaptor sees the same input. Module and parameter names follow the released MERaLiON
checkpoints, so their `speech_audio_adapter.*` keys load one to one.
"""

from __future__ import annotations

import torch
from torch import nn

from audiollm.errors import ConfigError


def stack_frames(frames: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, T, C) encoder frames -> (B, T // factor, factor * C) by a row-major reshape.

    Token j is [frame kj, frame kj+1, ..., frame kj+k-1] concatenated, frame kj's features first —
    the released layout. A ragged tail (T not divisible by k) is dropped, as the MLX port does; with
    30 s windows (T = 1500) and k = 15 there is none.
    """
    batch, time, width = frames.shape
    usable = (time // factor) * factor
    # Row-major reshape: consecutive frames become one token, no permutation.
    return frames[:, :usable].reshape(batch, usable // factor, factor * width)


class MERaLiONV1Adaptor(nn.Module):
    """MERaLiON-AudioLLM v1: Linear-SiLU-Dropout to C, then Linear-SiLU-Dropout-Linear via 4C to D.

    Keys: mlp_adapter.0, speech_llm_proj.0, speech_llm_proj.3 (index 3 because Dropout sits at 2).
    """

    def __init__(self, encoder_width: int, decoder_width: int, factor: int, dropout: float = 0.1):
        super().__init__()
        self.mlp_adapter = nn.Sequential(
            nn.Linear(encoder_width * factor, encoder_width), nn.SiLU(), nn.Dropout(dropout)
        )
        self.speech_llm_proj = nn.Sequential(
            nn.Linear(encoder_width, 4 * encoder_width), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(4 * encoder_width, decoder_width),
        )

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        """(B, N, k*C) -> (B, N, D)."""
        return self.speech_llm_proj(self.mlp_adapter(stacked))


class MERaLiONV2Adaptor(nn.Module):
    """MERaLiON-2 "Large" adaptor: Linear-SiLU to 5C, a SwiGLU-style gate, then Linear to D.

    g = SiLU(gate_proj(a)) * pool_proj(a); keys mlp_adapter.0, gate_proj, pool_proj, out_proj.
    """

    def __init__(self, encoder_width: int, decoder_width: int, factor: int, dropout: float = 0.01):
        super().__init__()
        hidden = 5 * encoder_width
        self.mlp_adapter = nn.Sequential(nn.Linear(encoder_width * factor, hidden), nn.SiLU(), nn.Dropout(dropout))
        self.gate_proj = nn.Linear(hidden, hidden)
        self.pool_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, decoder_width)
        self.act_fn = nn.SiLU()

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        """(B, N, k*C) -> (B, N, D)."""
        hidden = self.mlp_adapter(stacked)
        return self.out_proj(self.act_fn(self.gate_proj(hidden)) * self.pool_proj(hidden))


_ADAPTORS = {"meralion-v1": MERaLiONV1Adaptor, "meralion-v2": MERaLiONV2Adaptor}


def build_adaptor(name: str, encoder_width: int, decoder_width: int, factor: int, dropout: float) -> nn.Module:
    """Create the adaptor called `name` (see ADAPTORS in config.py)."""
    if name not in _ADAPTORS:
        raise ConfigError(f"unknown adaptor {name!r}; choose one of {sorted(_ADAPTORS)}")
    return _ADAPTORS[name](encoder_width, decoder_width, factor, dropout)
