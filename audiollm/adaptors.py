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


def pool_rows(rows: torch.Tensor, counts: torch.Tensor | None, pool: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W, N, D) rows, of which the first counts[w] are real (None: all), -> each group of `pool` consecutive
    rows averaged into one: (W, ceil(N / pool), D) and the (W,) real pooled counts ceil(counts / pool).

    A window's last group averages only its real rows, so padding never changes a window's rows.
    """
    if pool == 1:
        return rows, counts
    windows, length, width = rows.shape
    real = (torch.ones(windows, length, device=rows.device, dtype=torch.bool) if counts is None
            else torch.arange(length, device=rows.device)[None, :] < counts[:, None])
    padding = (-length) % pool
    rows = nn.functional.pad(rows * real.unsqueeze(-1).to(rows.dtype), (0, 0, 0, padding))
    real = nn.functional.pad(real, (0, padding)).to(rows.dtype)
    sums = rows.reshape(windows, -1, pool, width).sum(2)
    weights = real.reshape(windows, -1, pool).sum(2)
    pooled = sums / weights.clamp(min=1).unsqueeze(-1)
    return pooled, None if counts is None else (counts + pool - 1) // pool


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


def unstack_frames(stacked: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, N, k*C) -> (B*N, k, C): each speech token's k frames again, in time order."""
    batch, tokens, width = stacked.shape
    return stacked.reshape(batch * tokens, factor, width // factor)


class WindowQFormerAdaptor(nn.Module):
    """A window-level Q-Former (SALMONN-style): one learned query per window of k frames.

    The query cross-attends to its window's k encoder frames (with learned in-window positions) through
    a few small transformer layers, then a Linear maps it to D. One query per k-frame window keeps the
    token rate of the MLP adaptors (k = 15: 100 tokens per 30 s; SALMONN used 1 query per 17 frames).
    Not a released layout: keys are this project's own.
    """

    def __init__(self, encoder_width: int, decoder_width: int, factor: int, dropout: float = 0.1,
                 layers: int = 2, heads: int = 8):
        super().__init__()
        if encoder_width % heads:
            heads = 1  # tiny test encoders: one head always divides the width
        self.factor = factor
        self.query = nn.Parameter(torch.zeros(1, 1, encoder_width))
        self.frame_positions = nn.Parameter(torch.zeros(1, factor, encoder_width))
        self.layers = nn.ModuleList(
            nn.TransformerDecoderLayer(encoder_width, heads, dim_feedforward=2 * encoder_width,
                                       dropout=dropout, activation="gelu", batch_first=True, norm_first=True)
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(encoder_width)
        self.out_proj = nn.Linear(encoder_width, decoder_width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Zero-initialised queries would make every window's query identical forever; small noise breaks it.
        nn.init.normal_(self.query, std=0.02)
        nn.init.normal_(self.frame_positions, std=0.02)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        """(B, N, k*C) -> (B, N, D)."""
        batch, tokens, _ = stacked.shape
        frames = unstack_frames(stacked, self.factor) + self.frame_positions  # (B*N, k, C)
        query = self.query.expand(frames.shape[0], -1, -1)  # (B*N, 1, C)
        for layer in self.layers:
            query = layer(query, frames)
        return self.out_proj(self.norm(query)).reshape(batch, tokens, -1)


def _stride_factors(factor: int) -> list[int]:
    """Split the stack factor into two strides whose product is k (15 -> [3, 5]; a prime k -> [k])."""
    for stride in range(2, int(factor**0.5) + 1):
        if factor % stride == 0:
            return [stride, factor // stride]
    return [factor]


class ConvMLPAdaptor(nn.Module):
    """Strided 1-D convolutions over the k frames of each token (15 = stride 3, then stride 5), then an MLP.

    Kernels equal their strides and stay inside a token's k frames, so a token never sees its neighbours
    or padding: batched and single results are identical. Weight sharing across time makes it far
    smaller than the v1 MLP's first Linear (k*C x C).
    """

    def __init__(self, encoder_width: int, decoder_width: int, factor: int, dropout: float = 0.1):
        super().__init__()
        self.factor = factor
        convs = []
        for stride in _stride_factors(factor):
            convs += [nn.Conv1d(encoder_width, encoder_width, kernel_size=stride, stride=stride), nn.GELU()]
        self.convs = nn.Sequential(*convs)
        self.mlp = nn.Sequential(
            nn.Linear(encoder_width, 4 * encoder_width), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(4 * encoder_width, decoder_width),
        )

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        """(B, N, k*C) -> (B, N, D)."""
        batch, tokens, _ = stacked.shape
        frames = unstack_frames(stacked, self.factor).transpose(1, 2)  # (B*N, C, k)
        pooled = self.convs(frames).squeeze(-1)  # (B*N, C): the strides multiply to k, one position left
        return self.mlp(pooled).reshape(batch, tokens, -1)


class VoiceSummary(nn.Module):
    """Rows that summarise a whole window: the mean and standard deviation of its real encoder frames,
    standardised, through an MLP, as `rows` decoder-width rows that the model places before the window's
    speech rows.

    Why: the per-token adaptor is taught to spell the transcript (CTC, then the ASR loss) and throws away
    what a transcript does not need. experiments/para_probe.py found gender at 93% in pooled encoder
    states, standardised over training clips, and at the majority class in default-v7's speech rows.
    Standardising matters: raw pooled states are nearly the same vector for every clip (a first voice-row
    leg gave rows with cosine 1.00 between clips), and what tells voices apart is small beside it.
    `centre` and `spread` start as the pooled statistics of training clips (`calibrate`) and then train
    with the rest, so they ship in a model's trained parts. Not a released layout: a model with voice rows
    saves as flavour 'audiollm'.
    """

    def __init__(self, encoder_width: int, decoder_width: int, rows: int, dropout: float = 0.1):
        super().__init__()
        self.rows = rows
        self.centre = nn.Parameter(torch.zeros(2 * encoder_width))
        self.spread = nn.Parameter(torch.ones(2 * encoder_width))
        self.proj = nn.Sequential(
            nn.Linear(2 * encoder_width, encoder_width), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(encoder_width, rows * decoder_width),
        )

    @staticmethod
    def pool(frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(W, T, C) frames (+ (W, T) 1 for real frames) -> (W, 2C) mean and standard deviation over the
        real frames; padding never enters."""
        weight = torch.ones_like(frames[..., :1]) if frame_mask is None else frame_mask.unsqueeze(-1).to(frames.dtype)
        count = weight.sum(dim=1).clamp_min(1.0)
        mean = (frames * weight).sum(dim=1) / count
        variance = ((frames - mean[:, None]) ** 2 * weight).sum(dim=1) / count
        return torch.cat([mean, (variance + 1e-5).sqrt()], dim=-1)

    @torch.no_grad()
    def calibrate(self, pooled: torch.Tensor) -> None:
        """Set `centre` and `spread` to the mean and standard deviation of (N, 2C) pooled windows."""
        self.centre.copy_(pooled.mean(dim=0))
        self.spread.copy_(pooled.std(dim=0, unbiased=False).clamp_min(1e-3))

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(W, T, C) frames (+ (W, T) mask) -> (W, rows, D)."""
        standardised = (self.pool(frames, frame_mask) - self.centre) / self.spread
        return self.proj(standardised).reshape(frames.shape[0], self.rows, -1)


_ADAPTORS = {"meralion-v1": MERaLiONV1Adaptor, "meralion-v2": MERaLiONV2Adaptor,
             "qformer": WindowQFormerAdaptor, "conv-mlp": ConvMLPAdaptor}


def build_adaptor(name: str, encoder_width: int, decoder_width: int, factor: int, dropout: float) -> nn.Module:
    """Create the adaptor called `name` (see ADAPTORS in config.py)."""
    if name not in _ADAPTORS:
        raise ConfigError(f"unknown adaptor {name!r}; choose one of {sorted(_ADAPTORS)}")
    return _ADAPTORS[name](encoder_width, decoder_width, factor, dropout)
