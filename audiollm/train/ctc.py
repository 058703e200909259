"""CTC alignment of the adaptor's speech rows to the decoder's own token embeddings (stage 2, align.ctc_steps).

The decoder reads speech rows where it otherwise reads token embeddings. Trained only through the
decoder's loss, the adaptor finds rows the decoder can use slowly (docs/training.md). This loss asks for
something cheaper and more direct: each speech row should *be* a token embedding, in the transcript's
order, with CTC choosing where each token falls and a blank (the decoder's pad embedding) in between.
No decoder forward is needed, so a step costs the frozen encoder and the adaptor only.

A row is scored against every token of the training transcripts (the inventory: 2,878 for the corpus,
not the 262k vocabulary) by cosine similarity over a temperature. Cosine leaves the row's
length free, so a second term holds it at the length of the decoder's token rows (log-ratio squared).
Rows and embeddings are compared as the decoder sees them: with its embedding scale applied to both.

CTC needs at least as many rows as tokens (plus one between repeated tokens): 5 encoder frames per row
(10 rows per second) gives that for every training clip; MERaLiON's 15 (3.3 per second) does not
(experiments/ctc_probe.py's token rates). Examples with too few rows contribute no loss (zero_infinity).
"""

from __future__ import annotations

import torch
from torch import nn

from audiollm.train.data import as_asr_example

IGNORE_INDEX = -100
TEMPERATURE = 0.05  # cosine 1 vs 0 is then a logit gap of 20: confident over ~10^4 tokens
NORM_WEIGHT = 1.0  # per row, against the summed CTC loss per token


class TokenInventory:
    """The decoder token ids the transcripts use, with index 0 kept for CTC's blank."""

    def __init__(self, token_ids: set[int], vocab_size: int, blank_id: int):
        self.ids = torch.tensor(sorted(token_ids - {blank_id}), dtype=torch.long)
        self.blank_id = blank_id
        # vocabulary id -> class index (1..K), -1 for ids outside the inventory
        self.class_of = torch.full((vocab_size,), -1, dtype=torch.long)
        self.class_of[self.ids] = torch.arange(1, len(self.ids) + 1)

    @classmethod
    def from_transcripts(cls, tokenizer, transcripts, vocab_size: int) -> "TokenInventory":
        seen: set[int] = set()
        for text in transcripts:
            seen.update(tokenizer(text, add_special_tokens=False)["input_ids"])
        blank = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return cls(seen, vocab_size, blank)

    @classmethod
    def heard_in(cls, tokenizer, examples, vocab_size: int) -> "TokenInventory":
        """The tokens of every transcript in `examples` that an alignment phase can hear: ASR answers and
        the other tasks' transcribed clips (train/data.py's as_asr_example)."""
        heard = [e if e.task == "asr" else as_asr_example(e) for e in examples]
        return cls.from_transcripts(tokenizer, [e.answer for e in heard if e is not None], vocab_size)

    def __len__(self) -> int:
        return len(self.ids) + 1

    def class_embeddings(self, embedding: nn.Module) -> torch.Tensor:
        """(K + 1, D) rows as the decoder reads them, blank first; frozen."""
        device = next(embedding.parameters()).device
        with torch.no_grad():
            return embedding(torch.cat([torch.tensor([self.blank_id]), self.ids]).to(device)).float()

    def targets(self, labels: torch.Tensor, stop_ids: list[int]) -> list[torch.Tensor]:
        """Each row's answer tokens (labels up to the first stop token) as class indices."""
        rows = []
        for row in labels:
            answer = row[row != IGNORE_INDEX].cpu()
            stops = torch.isin(answer, torch.tensor(stop_ids, dtype=answer.dtype)).nonzero()
            if len(stops):
                answer = answer[: int(stops[0])]
            classes = self.class_of[answer]
            if (classes < 0).any():
                missing = answer[classes < 0].tolist()
                raise ValueError(f"answer tokens {missing[:5]} are not in the CTC inventory built from the "
                                 "training transcripts (the inventory and the labels tokenised differently)")
            rows.append(classes)
        return rows


def ctc_alignment_loss(speech_rows: torch.Tensor, rows_per_example: list[int], targets: list[torch.Tensor],
                       class_embeddings: torch.Tensor) -> torch.Tensor:
    """Summed CTC loss over the examples plus the row-length term, summed over rows.

    speech_rows: (S, D) every example's rows in order, as the decoder reads them.
    class_embeddings: (K + 1, D) blank, then the inventory's tokens.
    """
    rows = speech_rows.float()
    log_probs = (_cosine(rows, class_embeddings) / TEMPERATURE).log_softmax(-1)
    per_example = torch.split(log_probs, rows_per_example)
    longest = max(rows_per_example)
    padded = torch.stack([nn.functional.pad(p, (0, 0, 0, longest - len(p))) for p in per_example], dim=1)  # (T, B, C)
    target_lengths = torch.tensor([len(t) for t in targets])
    flat_targets = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
    ctc = nn.functional.ctc_loss(padded, flat_targets.to(padded.device), torch.tensor(rows_per_example),
                                 target_lengths, blank=0, reduction="sum", zero_infinity=True)
    target_norm = class_embeddings.norm(dim=-1).median()
    norm = (rows.norm(dim=-1) / target_norm).clamp_min(1e-6).log().pow(2).sum()
    return ctc + NORM_WEIGHT * norm


@torch.no_grad()
def greedy_read(speech_rows: torch.Tensor, class_embeddings: torch.Tensor, inventory: TokenInventory) -> list[int]:
    """The token ids one example's rows spell under greedy CTC decoding (best class per row, repeats
    merged, blanks dropped): what the rows say if read as tokens."""
    best = _cosine(speech_rows.float(), class_embeddings).argmax(-1).tolist()
    spelled, previous = [], 0
    for index in best:
        if index != previous and index != 0:
            spelled.append(int(inventory.ids[index - 1]))
        previous = index
    return spelled


def _cosine(rows: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """(S, K + 1) cosine similarity of every row to every class."""
    return nn.functional.normalize(rows, dim=-1) @ nn.functional.normalize(class_embeddings, dim=-1).T
