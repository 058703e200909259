"""The gender row: one row per window that names the speaker's likely gender in the LLM's own words.

Why: experiments/para_probe.py reads gender at 93-95% from a window's pooled encoder frames with a linear
probe, yet default-v18 answers the corpus's gender questions at chance (46.7%, docs/runs/default-v18/).
The frame rows carry the voice, but 200 steps of LoRA never taught the decoder to turn them into the
word. The transcript rows showed the way round that: hand the decoder a row it already understands. So:

    pooled   = mean and standard deviation of the window's real encoder frames (VoiceSummary.pool)
    p        = softmax(classifier((pooled - centre) / spread))          over ("male", "female")
    row      = p[male] * words[male] + p[female] * words[female]

`words` start as the LLM's own input embeddings of " male" and " female"; `centre`, `spread` and the
classifier are fitted (`fit`, a logistic regression on training clips whose speaker's gender is known)
when a recipe adds the row (train.config: model.gender_row), then train with the adaptor. The row comes
first in its window. Not a released layout: a model with it saves as flavour 'audiollm'.
"""

from __future__ import annotations

import torch
from torch import nn

from audiollm.adaptors import VoiceSummary

LABELS = ("male", "female")  # the classifier's outputs, in order; the corpus's speaker "gender" values


class GenderRow(nn.Module):
    """Pooled encoder frames -> one decoder-width row per window (module docstring)."""

    def __init__(self, encoder_width: int, decoder_width: int):
        super().__init__()
        self.centre = nn.Parameter(torch.zeros(2 * encoder_width))
        self.spread = nn.Parameter(torch.ones(2 * encoder_width))
        self.classifier = nn.Linear(2 * encoder_width, len(LABELS))
        nn.init.zeros_(self.classifier.weight)  # unfitted: even odds
        nn.init.zeros_(self.classifier.bias)
        self.words = nn.Parameter(torch.zeros(len(LABELS), decoder_width))

    def probabilities(self, pooled: torch.Tensor) -> torch.Tensor:
        """(W, 2C) pooled windows (VoiceSummary.pool) -> (W, len(LABELS)) probabilities."""
        return self.classifier((pooled - self.centre) / self.spread).softmax(-1)

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(W, T, C) frames (+ (W, T) mask of real ones) -> (W, 1, D) rows."""
        return (self.probabilities(VoiceSummary.pool(frames, frame_mask)) @ self.words).unsqueeze(1)

    @torch.no_grad()
    def fit(self, pooled: torch.Tensor, labels: torch.Tensor, words: torch.Tensor, l2: float = 1e-2,
            steps: int = 200) -> float:
        """Fit the row to (N, 2C) pooled windows with (N,) label indices into LABELS, and set `words`
        to the (len(LABELS), D) embeddings of the label words. Full-batch L-BFGS on the mean cross-entropy
        plus l2 x the squared weights (the standardised inputs outnumber the clips). Returns the accuracy
        on the clips it was fitted to (held-out accuracy is the caller's to measure)."""
        pooled = pooled.float()
        self.centre.copy_(pooled.mean(dim=0))
        self.spread.copy_(pooled.std(dim=0, unbiased=False).clamp_min(1e-3))
        standardised = (pooled - self.centre) / self.spread
        weight = torch.zeros_like(self.classifier.weight, dtype=torch.float32).requires_grad_(True)
        bias = torch.zeros_like(self.classifier.bias, dtype=torch.float32).requires_grad_(True)
        optimiser = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(standardised @ weight.T + bias, labels) + l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimiser.step(objective)
        self.classifier.weight.copy_(weight.detach())
        self.classifier.bias.copy_(bias.detach())
        self.words.copy_(words)
        return float(((standardised @ weight.T + bias).argmax(-1) == labels).float().mean())
