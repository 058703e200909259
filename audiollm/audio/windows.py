"""Cut long audio into consecutive 30 s windows, MERaLiON-2 style (reference spec section 5.2).

Whisper hears at most 30 s, so longer audio is split into non-overlapping windows that are encoded
independently and whose speech embeddings are concatenated in time order. MERaLiON-2 caps this at 10
windows (300 s) and silently drops the rest; here going over the cap is an error by default, and
dropping audio is an explicit choice that always warns.
"""

from __future__ import annotations

import warnings

import numpy as np

from audiollm.audio.io import SAMPLING_RATE
from audiollm.errors import AudioError

_OVERFLOW_CHOICES = ("error", "truncate")


def window_count(num_samples: int, window_seconds: float = 30.0, sampling_rate: int = SAMPLING_RATE) -> int:
    """Number of windows `split_into_windows` makes (before any cap): ceil(samples / window), at least 1.

    num_samples: length of the audio in samples. Returns an int >= 1 (empty audio still counts as one
    window, as MERaLiON-2's clip(ceil(len / 480000), 1, 10) does).
    """
    window = _window_samples(window_seconds, sampling_rate)
    return max(1, -(-int(num_samples) // window))


def split_into_windows(
    audio: np.ndarray,
    window_seconds: float = 30.0,
    max_windows: int | None = 10,
    on_overflow: str = "error",
    sampling_rate: int = SAMPLING_RATE,
) -> list[np.ndarray]:
    """Split mono audio into consecutive non-overlapping windows.

    audio: (T,) samples at `sampling_rate`.
    window_seconds: window length; each window has round(window_seconds * sampling_rate) samples.
    max_windows: the most windows allowed (MERaLiON-2: 10, i.e. 300 s); None means no cap.
    on_overflow: what to do when the audio needs more than `max_windows` windows:
        "error" raises AudioError; "truncate" keeps the first `max_windows` windows and warns
        (warnings.warn, UserWarning) how many seconds were dropped.

    Returns a list of K = min(window_count(T), max_windows) arrays of shape (W,), W = window
    samples, except the last, which holds the remainder (1..W samples) and is NOT padded here (the
    feature extractor pads it). They are views into `audio`; without truncation their concatenation
    equals `audio`.
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"Expected mono audio of shape (T,), got {audio.shape}: load it with load_audio first.")
    if audio.shape[0] == 0:
        raise AudioError("The audio is empty (0 samples): there is nothing to split into windows.")
    if on_overflow not in _OVERFLOW_CHOICES:
        raise ValueError(f"on_overflow must be one of {_OVERFLOW_CHOICES}, got {on_overflow!r}.")
    if max_windows is not None and max_windows < 1:
        raise ValueError(f"max_windows must be at least 1 or None, got {max_windows}.")
    window = _window_samples(window_seconds, sampling_rate)
    needed = window_count(audio.shape[0], window_seconds, sampling_rate)
    if max_windows is not None and needed > max_windows:
        _handle_overflow(audio.shape[0], needed, max_windows, window_seconds, sampling_rate, on_overflow)
        audio = audio[: max_windows * window]
    return [audio[start : start + window] for start in range(0, audio.shape[0], window)]


def _window_samples(window_seconds: float, sampling_rate: int) -> int:
    """Samples per window; rejects windows that round to nothing."""
    if not window_seconds > 0 or not sampling_rate > 0:
        raise ValueError(
            f"window_seconds and sampling_rate must be positive, got {window_seconds} and {sampling_rate}."
        )
    window = int(round(window_seconds * sampling_rate))
    if window < 1:
        raise ValueError(f"A window of {window_seconds} s at {sampling_rate} Hz holds no samples.")
    return window


def _handle_overflow(
    num_samples: int, needed: int, max_windows: int, window_seconds: float, sampling_rate: int, on_overflow: str
) -> None:
    """Raise (on_overflow="error") or warn (on_overflow="truncate") about audio beyond the window cap."""
    duration = num_samples / sampling_rate
    cap = max_windows * window_seconds
    if on_overflow == "error":
        raise AudioError(
            f"The audio is {duration:.1f} s long and needs {needed} windows of {window_seconds:g} s, but at "
            f"most {max_windows} windows ({cap:g} s) are allowed. Pass max_windows={needed} (or None for "
            f"no cap), or on_overflow='truncate' to keep only the first {cap:g} s."
        )
    dropped = (num_samples - max_windows * _window_samples(window_seconds, sampling_rate)) / sampling_rate
    warnings.warn(
        f"The audio is {duration:.1f} s long; keeping the first {max_windows} windows ({cap:g} s) and "
        f"dropping the last {dropped:.1f} s. Raise max_windows to keep all of it.",
        UserWarning,
        stacklevel=3,
    )
