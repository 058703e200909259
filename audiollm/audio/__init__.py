"""The audio layer: decode + resample to 16 kHz mono, cut into 30 s windows, Whisper log-mel features.

    load_audio(path | bytes | array)            -> (T,) float32 at 16 kHz
    split_into_windows(audio)                   -> K arrays of <= 30 s (fixed or cut at pauses, optional overlap)
    log_mel_spectrogram([clip, ...], n_mels)    -> (N, n_mels, frames) features, (N, frames) mask

`io` decodes, `windows` chunks, `features` computes the log-mel (WhisperFeatureExtractor numbers in torch).
"""

from audiollm.audio.features import HOP_LENGTH, N_FFT, N_SAMPLES, log_mel_spectrogram
from audiollm.audio.io import SAMPLING_RATE, load_audio
from audiollm.audio.windows import WINDOW_STRATEGIES, join_transcripts, split_into_windows, window_bounds, window_count

__all__ = [
    "HOP_LENGTH",
    "N_FFT",
    "N_SAMPLES",
    "SAMPLING_RATE",
    "WINDOW_STRATEGIES",
    "join_transcripts",
    "load_audio",
    "log_mel_spectrogram",
    "split_into_windows",
    "window_bounds",
    "window_count",
]
