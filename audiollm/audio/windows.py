"""Cut long audio into windows of at most 30 s (reference spec section 5.2), three ways.

Whisper hears at most 30 s, so longer audio is split into windows that are encoded independently and
whose speech embeddings are concatenated in time order. Strategies:

- "fixed": consecutive 30 s windows, as MERaLiON-2 does (the default; what MERaLiON checkpoints expect);
- "pause": each cut moves back to the quietest moment of the window's last PAUSE_SEARCH_SECONDS, so
  words are not cut in half at a boundary;
- either with `overlap_seconds` > 0: each window starts that long before the previous one ended, so a
  word cut at a boundary is heard whole at least once (transcripts are merged with `join_transcripts`).

MERaLiON-2 caps this at 10 windows (300 s) and silently drops the rest; here going over the cap is an
error by default, and dropping audio is an explicit choice that always warns.
"""

from __future__ import annotations

import warnings

import numpy as np

from audiollm.audio.io import SAMPLING_RATE
from audiollm.errors import AudioError

_OVERFLOW_CHOICES = ("error", "truncate")
WINDOW_STRATEGIES = ("fixed", "pause")
PAUSE_SEARCH_SECONDS = 5.0  # how far back from a window's end a pause cut may move
_PAUSE_FRAME_SECONDS = 0.1  # energy is measured over frames this long, 10 ms apart


def window_count(num_samples: int, window_seconds: float = 30.0, sampling_rate: int = SAMPLING_RATE) -> int:
    """Number of fixed, non-overlapping windows for `num_samples` (before any cap): at least 1.

    Empty audio still counts as one window, as MERaLiON-2's clip(ceil(len / 480000), 1, 10) does.
    """
    window = _window_samples(window_seconds, sampling_rate)
    return max(1, -(-int(num_samples) // window))


def window_bounds(audio: np.ndarray, window_seconds: float = 30.0, strategy: str = "fixed",
                  overlap_seconds: float = 0.0, sampling_rate: int = SAMPLING_RATE) -> list[tuple[int, int]]:
    """[(start, end)] sample bounds of every window of `audio` (T,), in time order, uncapped.

    Every window holds at most window_seconds; the windows cover all of the audio; consecutive windows
    share `overlap_seconds` (0: they touch). "pause" cuts at the quietest 100 ms of a window's last 5 s.
    """
    if strategy not in WINDOW_STRATEGIES:
        raise AudioError(f"unknown window strategy {strategy!r}; choose one of {WINDOW_STRATEGIES}")
    if not 0 <= overlap_seconds <= window_seconds / 4:
        raise AudioError(f"overlap_seconds must be between 0 and a quarter window ({window_seconds / 4:g} s), "
                         f"got {overlap_seconds}")
    window = _window_samples(window_seconds, sampling_rate)
    overlap = int(round(overlap_seconds * sampling_rate))
    total, bounds, start = len(audio), [], 0
    while True:
        if total - start <= window:
            bounds.append((start, total))
            return bounds
        cut = start + window
        if strategy == "pause":
            cut = _quietest_point(audio, max(start + 1, cut - int(PAUSE_SEARCH_SECONDS * sampling_rate)), cut,
                                  sampling_rate)
        bounds.append((start, cut))
        start = cut - overlap


def _quietest_point(audio: np.ndarray, low: int, high: int, sampling_rate: int) -> int:
    """The sample in [low, high] at the centre of the lowest-energy 100 ms frame (of the latest silence)."""
    frame = max(1, int(_PAUSE_FRAME_SECONDS * sampling_rate))
    hop = max(1, sampling_rate // 100)
    segment = np.asarray(audio[low:high], dtype=np.float64)
    if len(segment) < frame:
        return high
    energy = np.convolve(segment**2, np.ones(frame), mode="valid")[::hop]  # frame sums every 10 ms
    last = len(energy) - 1 - int(np.argmin(energy[::-1]))  # the latest quietest frame
    first = last
    while first > 0 and energy[first - 1] <= energy[last] + 1e-9:  # a silence: cut in its middle
        first -= 1
    return low + (first + last) // 2 * hop + frame // 2


def split_into_windows(
    audio: np.ndarray,
    window_seconds: float = 30.0,
    max_windows: int | None = 10,
    on_overflow: str = "error",
    sampling_rate: int = SAMPLING_RATE,
    strategy: str = "fixed",
    overlap_seconds: float = 0.0,
) -> list[np.ndarray]:
    """Split mono audio (T,) into windows of at most `window_seconds` (see `window_bounds`).

    max_windows: the most windows allowed (MERaLiON-2: 10, i.e. 300 s); None means no cap.
    on_overflow: what to do when the audio needs more than `max_windows` windows:
        "error" raises AudioError; "truncate" keeps the first `max_windows` windows and warns
        (warnings.warn, UserWarning) how many seconds were dropped.

    Returns views into `audio`, unpadded (the feature extractor pads). With no overlap and no
    truncation their concatenation equals `audio`.
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
    bounds = window_bounds(audio, window_seconds, strategy, overlap_seconds, sampling_rate)
    if max_windows is not None and len(bounds) > max_windows:
        _handle_overflow(audio.shape[0], len(bounds), max_windows, window_seconds, bounds[max_windows - 1][1],
                         sampling_rate, on_overflow)
        bounds = bounds[:max_windows]
    return [audio[start:end] for start, end in bounds]


def join_transcripts(texts: list[str], overlapping: bool, max_words: int = 12) -> str:
    """Join window transcripts in order; for overlapping windows, drop words repeated across a boundary.

    With overlap the same words are heard twice; the longest run (up to max_words) that ends one
    transcript and starts the next, compared case- and punctuation-blind, is kept once. Without
    overlap nothing is dropped (a speaker may well say the same word on both sides of a cut).
    """
    if not overlapping:
        return " ".join(text.strip() for text in texts if text.strip())
    joined: list[str] = []
    for text in texts:
        words = text.split()
        key = lambda word: "".join(ch for ch in word.lower() if ch.isalnum())  # noqa: E731
        repeated = 0
        for size in range(min(max_words, len(joined), len(words)), 0, -1):
            if [key(w) for w in joined[-size:]] == [key(w) for w in words[:size]]:
                repeated = size
                break
        joined.extend(words[repeated:])
    return " ".join(joined)


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


def _handle_overflow(num_samples: int, needed: int, max_windows: int, window_seconds: float, kept_until: int,
                     sampling_rate: int, on_overflow: str) -> None:
    """Raise (on_overflow="error") or warn (on_overflow="truncate") about audio beyond the window cap."""
    duration = num_samples / sampling_rate
    cap = max_windows * window_seconds
    if on_overflow == "error":
        raise AudioError(
            f"The audio is {duration:.1f} s long and needs {needed} windows of {window_seconds:g} s, but at "
            f"most {max_windows} windows ({cap:g} s) are allowed. Pass max_windows={needed} (or None for "
            f"no cap), or on_overflow='truncate' to keep only the first {cap:g} s."
        )
    dropped = (num_samples - kept_until) / sampling_rate
    warnings.warn(
        f"The audio is {duration:.1f} s long; keeping the first {max_windows} windows ({cap:g} s) and "
        f"dropping the last {dropped:.1f} s. Raise max_windows to keep all of it.",
        UserWarning,
        stacklevel=3,
    )
