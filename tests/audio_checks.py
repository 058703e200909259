"""Measurements of rendered audio that several tests check against (not a test module)."""

from __future__ import annotations

import numpy as np


def median_f0(audio: np.ndarray, rate: int = 16000) -> float:
    """Median autocorrelation pitch (60-400 Hz) over the voiced 40 ms frames, 10 ms apart."""
    frame, hop, estimates = int(0.04 * rate), int(0.01 * rate), []
    for start in range(0, len(audio) - frame, hop):
        window = audio[start:start + frame] - audio[start:start + frame].mean()
        if np.sqrt(np.mean(window**2)) < 0.02:
            continue
        corr = np.correlate(window, window, "full")[frame - 1:]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.4 * corr[0]:
            estimates.append(rate / lag)
    return float(np.median(estimates))
