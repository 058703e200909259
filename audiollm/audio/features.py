"""Whisper log-mel features in torch, batched, on any device.

The numbers are those of transformers' `WhisperFeatureExtractor` (reference spec section 5.1): pad or
truncate to 30 s, optional zero-mean unit-variance normalisation over the unpadded samples, STFT
(n_fft 400, Hann, hop 160, power 2), Slaney mel filterbank over 0-8 kHz, log10 with a 1e-10 floor,
the last frame dropped, a dynamic-range floor of max - 8 per clip, then (x + 4) / 4.

Why not call the extractor: it normalises and pads in numpy one clip at a time and always returns
3000 frames on the CPU. Here the whole batch is one tensor on the caller's device (so features for a
GPU model are computed on the GPU), and `padding="longest"` gives short clips short features for
encoders that accept real lengths.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank

from audiollm.audio.io import SAMPLING_RATE
from audiollm.errors import AudioError

N_FFT = 400
HOP_LENGTH = 160
N_SAMPLES = 30 * SAMPLING_RATE  # 480,000: Whisper's fixed 30 s input

_Waveforms = Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor


def log_mel_spectrogram(
    waveforms: _Waveforms,
    n_mels: int = 80,
    do_normalize: bool = False,
    padding: str = "max_length",
    n_samples: int | None = N_SAMPLES,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compute Whisper log-mel features for a batch of 16 kHz mono waveforms.

    waveforms: a list of N 1-D arrays/tensors (lengths may differ), an (N, T) array/tensor, or one
        1-D waveform (treated as N = 1). Samples are float at 16 kHz (see `load_audio`).
    n_mels: mel bins, 80 (Whisper up to large-v2, MERaLiON v1) or 128 (large-v3, MERaLiON-2).
    do_normalize: normalise each waveform to zero mean, unit variance over its own unpadded samples,
        (x - mean) / sqrt(var + 1e-7), before padding (MERaLiON processors pass True).
    padding: "max_length" pads every waveform to `n_samples` (Whisper's fixed 30 s input);
        "longest" pads only to the longest waveform in the batch, rounded up to a multiple of 160.
    n_samples: waveforms longer than this are cut to their first `n_samples` samples (in both padding
        modes, like the extractor); None keeps everything (only meaningful with "longest").
    device: where to compute and return the result; default: the device of the first waveform if it
        is a tensor, else the CPU.

    Returns (features, mask):
      features: (N, n_mels, F) float32, F = padded_samples // 160, i.e. 3000 for "max_length" with
        the default n_samples, and ceil(min(longest, n_samples) / 160) for "longest".
      mask: (N, F) int64 frame attention mask, mask[i, f] = 1 iff f * 160 < len_i, i.e. ceil(len_i / 160)
        leading ones - the extractor's sample mask taken with stride 160.
    With padding="max_length" both equal `WhisperFeatureExtractor(feature_size=n_mels)(...,
    padding="max_length", return_attention_mask=True, do_normalize=...)`: the mask exactly, the features
    to ~1e-7 on the CPU and ~3e-5 on a GPU (float32 rounding); "longest" equals the extractor with padding="longest",
    pad_to_multiple_of=160. A clip's features never depend on the rest of its batch (per-clip
    normalisation and dynamic-range floor), so batched == one by one.
    """
    if padding not in ("max_length", "longest"):
        raise ValueError(f"padding must be 'max_length' or 'longest', got {padding!r}.")
    if padding == "max_length" and n_samples is None:
        raise ValueError("padding='max_length' needs n_samples (the length to pad to).")
    device = _resolve_device(waveforms, device)
    clips = _as_clips(waveforms)
    if n_samples is not None:
        clips = [clip[:n_samples] for clip in clips]
    sizes = [clip.shape[0] for clip in clips]
    lengths = torch.tensor(sizes, dtype=torch.int64, device=device)
    if padding == "max_length":
        total = n_samples
    else:
        total = -(-max(sizes) // HOP_LENGTH) * HOP_LENGTH  # round up to whole hops: no sample is left out
    with torch.no_grad():  # features are data; no graph (not inference_mode: they may feed training)
        features = _log_mel(_pad_batch(clips, lengths, total, do_normalize), n_mels)
    frames = features.shape[-1]
    mask = torch.arange(frames, device=device)[None, :] * HOP_LENGTH < lengths[:, None]
    return features, mask.to(torch.int64)


def _resolve_device(waveforms: _Waveforms, device: str | torch.device | None) -> torch.device:
    """The explicit device, else the first tensor's device, else the CPU."""
    if device is not None:
        return torch.device(device)
    first = waveforms if isinstance(waveforms, (torch.Tensor, np.ndarray)) else next(iter(waveforms), None)
    return first.device if isinstance(first, torch.Tensor) else torch.device("cpu")


def _as_clips(waveforms: _Waveforms) -> list[torch.Tensor]:
    """Any accepted batch form -> a list of 1-D float32 tensors (still on their own devices)."""
    if isinstance(waveforms, (np.ndarray, torch.Tensor)):
        if waveforms.ndim not in (1, 2):
            raise AudioError(
                f"Expected waveforms of shape (T,) or (N, T), got {tuple(waveforms.shape)}: "
                "downmix to mono with load_audio first."
            )
        waveforms = [waveforms] if waveforms.ndim == 1 else list(waveforms)
    if len(waveforms) == 0:
        raise AudioError("No waveforms given: pass at least one clip.")
    clips = []
    for index, waveform in enumerate(waveforms):
        if isinstance(waveform, torch.Tensor):
            clip = waveform.detach().to(torch.float32)
        else:
            # float64 is cast to float32 first, as the extractor does, so normalisation matches.
            clip = torch.from_numpy(np.asarray(waveform, dtype=np.float32))
        if clip.ndim != 1:
            raise AudioError(
                f"Waveform {index} has shape {tuple(clip.shape)}; each must be 1-D mono samples: "
                "downmix with load_audio first."
            )
        if clip.shape[0] == 0:
            raise AudioError(f"Waveform {index} is empty (0 samples): drop it or pass a clip with sound.")
        clips.append(clip)
    return clips


def _pad_batch(clips: list[torch.Tensor], lengths: torch.Tensor, total: int, normalize: bool) -> torch.Tensor:
    """Right-pad with zeros (silence) into one new (N, total) float32 tensor on `lengths.device`.

    normalize: scale each clip to zero mean, unit variance over its own samples first (padding stays 0).
    """
    if lengths.device.type != "cpu":
        batch = torch.zeros(len(clips), total, dtype=torch.float32, device=lengths.device)
        for row, clip in zip(batch, clips):
            row[: clip.shape[0]] = clip  # copy_ also moves CPU samples to the device
        return _normalize_(batch, lengths) if normalize else batch
    # On the CPU the batch is built in numpy: numpy backs big arrays with huge pages, so filling a fresh
    # 16 x 30 s buffer costs ~4 ms against ~120 ms for a fresh torch buffer (page faults) on our machines.
    padded = np.zeros((len(clips), total), dtype=np.float32)
    for row, clip in zip(padded, clips):
        samples = clip.cpu().numpy()
        if normalize:
            # The reference's own float32 numpy arithmetic, so CPU features match it bit for bit here.
            samples = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
        row[: samples.shape[0]] = samples
    return torch.from_numpy(padded)


def _normalize_(batch: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """In place, on an accelerator: zero mean, unit variance per row over its first `lengths[i]`
    samples; padding stays 0. batch: (N, L) with zeros after each length; lengths: (N,).

    Population variance and the same float32 steps as the reference, (x - mean) / sqrt(var + 1e-7).
    The sums accumulate in float64: a float32 sum's rounding depends on how the reduction is split
    (batch size), which would make a clip's features depend on its batch; float64 sums round to the
    same float32 mean and variance whatever the split. (MPS has no float64; it keeps float32.)
    """
    accumulate = torch.float32 if batch.device.type == "mps" else torch.float64
    count = lengths[:, None].to(accumulate)
    # Padding is zero, so the plain row sum is the sum over valid samples.
    mean = (batch.sum(dim=1, keepdim=True, dtype=accumulate) / count).to(batch.dtype)
    batch.sub_(mean)
    for row, length in zip(batch, lengths.tolist()):
        row[length:] = 0.0  # the padding is silence again, and out of the variance
    squares = torch.linalg.vector_norm(batch, dim=1, keepdim=True, dtype=accumulate).square()
    return batch.div_(torch.sqrt((squares / count).to(batch.dtype) + 1e-7))


def _log_mel(batch: torch.Tensor, n_mels: int) -> torch.Tensor:
    """(N, L) padded waveforms -> (N, n_mels, L // 160) Whisper log-mel features.

    Large intermediates are updated in place: for 16 x 30 s each one is 40-80 MB.
    """
    stft = torch.stft(batch, N_FFT, HOP_LENGTH, window=_hann_window(batch.device), return_complex=True)
    power = stft.real.square().addcmul_(stft.imag, stft.imag)  # |X|^2: (N, 201, L // 160 + 1)
    del stft
    mel = _mel_filters(n_mels, batch.device) @ power  # (n_mels, 201) @ (N, 201, F + 1) -> (N, n_mels, F + 1)
    # Whisper drops the last frame; clamp() copies the slice into a contiguous tensor, the rest is in place.
    log_spec = mel[..., :-1].clamp(min=1e-10).log10_()
    # Dynamic-range floor per clip (not per batch): each clip's features don't depend on its neighbours.
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    return log_spec.clamp_(min=peak - 8.0).add_(4.0).div_(4.0)


@functools.lru_cache(maxsize=None)
def _mel_filters(n_mels: int, device: torch.device) -> torch.Tensor:
    """Slaney mel filterbank over 0-8 kHz, (n_mels, 201) float32, built once per (n_mels, device)."""
    filters = mel_filter_bank(
        num_frequency_bins=1 + N_FFT // 2,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=SAMPLING_RATE,
        norm="slaney",
        mel_scale="slaney",
    )  # (201, n_mels) float64
    return torch.from_numpy(filters.T.astype(np.float32)).contiguous().to(device)


@functools.lru_cache(maxsize=None)
def _hann_window(device: torch.device) -> torch.Tensor:
    """Periodic Hann window of 400 samples (torch.stft's and Whisper's convention), once per device."""
    return torch.hann_window(N_FFT, device=device)
