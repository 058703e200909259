"""Decode audio from a file, file bytes or an array into float32 mono samples at 16 kHz.

Every way audio reaches the toolkit (CLI path, HTTP upload, Python array, manifest entry) goes through
`load_audio`, so a bad input fails here, once, with an `AudioError` that says what is wrong and what to
do, instead of as a shape or NaN error deep inside the model.

Decoding tries soundfile (libsndfile: wav, flac, ogg/vorbis/opus, mp3, ...) first because it is
in-process and exact; containers libsndfile does not know (m4a/aac, webm, ...) fall back to an `ffmpeg`
subprocess when ffmpeg is on PATH. Channels are averaged and the rate is changed with soxr in both
cases, so the two decoders produce the same kind of output.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from audiollm.errors import AudioError

SAMPLING_RATE = 16000
"""The rate every Whisper encoder expects, in Hz; the default `target_rate` of `load_audio`."""

# A 2-D array (a, b) is read as channels-first (C, T) only when a <= _MAX_CHANNELS_FIRST < b:
# nobody stores 9+ channels first, and a clip of 8 samples or fewer is not speech.
_MAX_CHANNELS_FIRST = 8

_AudioSource = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | torch.Tensor


def load_audio(
    source: _AudioSource,
    sampling_rate: int | None = None,
    target_rate: int = SAMPLING_RATE,
) -> np.ndarray:
    """Decode, downmix and resample audio to float32 mono.

    source: one of
      - a path (str or PathLike) to an audio file (wav, flac, ogg, mp3; anything ffmpeg reads as a
        fallback). The rate stored in the file is used; `sampling_rate` is ignored.
      - the raw bytes of such a file (bytes, bytearray, memoryview), e.g. an HTTP upload.
      - a numpy array or torch tensor of samples, shape (T,), (T, C) channels-last, or (C, T) when
        C <= 8 < T. `sampling_rate` is then required. Integer arrays (int16, int32, uint8) are scaled
        to [-1, 1]; float arrays are taken as they are.
    sampling_rate: the rate of an array source, in Hz.
    target_rate: the rate of the result, in Hz.

    Returns an array of shape (T',) float32 at `target_rate`, channels averaged, resampled with soxr
    (high quality), T' = round(T * target_rate / rate).
    Raises AudioError for a missing or unreadable file, non-audio bytes, zero samples, NaN or infinite
    samples, an array without `sampling_rate`, or a non-positive rate.
    """
    _check_rate(target_rate, "target_rate")
    if isinstance(source, (str, os.PathLike)):
        samples, rate = _read_path(Path(source))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        samples, rate = _read_bytes(bytes(source))
    elif isinstance(source, (np.ndarray, torch.Tensor)):
        if sampling_rate is None:
            raise AudioError(
                "sampling_rate is required for an array of samples: pass load_audio(array, "
                "sampling_rate=<rate of the array in Hz>)."
            )
        _check_rate(sampling_rate, "sampling_rate")
        samples, rate = _array_to_channels_last(source), sampling_rate
    else:
        raise AudioError(
            f"Cannot load audio from a {type(source).__name__}: pass a file path, the file's bytes, "
            "or a numpy array / torch tensor of samples with sampling_rate."
        )
    mono = _downmix(samples)
    _check_samples(mono)
    if rate != target_rate:
        # soxr's HQ preset is band-limited well below Nyquist (no audible aliasing) and fast.
        mono = soxr.resample(mono, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _check_rate(rate: float, name: str) -> None:
    """Raise AudioError unless `rate` is a finite positive number."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise AudioError(f"{name} must be a number of Hz such as 16000, got {rate!r}.")
    if not math.isfinite(rate) or rate <= 0:
        raise AudioError(f"{name} must be a positive number of Hz such as 16000, got {rate!r}.")


def _read_path(path: Path) -> tuple[np.ndarray, int]:
    """Read an audio file into ((T, C) float32, rate), trying soundfile then ffmpeg."""
    if not path.exists():
        raise AudioError(f"Audio file not found: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise AudioError(f"Expected an audio file but {path} is a directory: pass the path of a file inside it.")
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as error:
        samples, rate = _decode_with_ffmpeg(path, str(path), _reason(error))
    return samples, rate


def _read_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Read the bytes of an audio file into ((T, C) float32, rate), trying soundfile then ffmpeg."""
    if not data:
        raise AudioError("The audio data is empty (0 bytes): send the content of an audio file.")
    try:
        return sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as error:
        # ffmpeg needs a seekable input for some containers (m4a with the index at the end),
        # so hand it a temporary file rather than a pipe.
        with tempfile.TemporaryDirectory(prefix="audiollm-") as folder:
            path = Path(folder) / "upload"
            path.write_bytes(data)
            return _decode_with_ffmpeg(path, f"the given {len(data)} bytes", _reason(error))


def _reason(error: Exception) -> str:
    """libsndfile's own words ("Format not recognised"), without soundfile's "Error opening <obj>:"."""
    return str(getattr(error, "error_string", error)).strip().rstrip(".")


def _decode_with_ffmpeg(path: Path, what: str, soundfile_error: str) -> tuple[np.ndarray, int]:
    """Decode `path` with an ffmpeg subprocess into ((T, C) float32, rate).

    ffmpeg keeps the file's own rate and channels (we downmix and resample ourselves, the same way
    as for soundfile input) and writes a float WAV to stdout, which soundfile then parses.
    """
    fix = "Convert it to WAV or FLAC, or check that it really is audio."
    if shutil.which("ffmpeg") is None:
        raise AudioError(
            f"Cannot decode {what}: soundfile cannot read it ({soundfile_error}) and ffmpeg, which reads more "
            "formats, is not installed; it may also be corrupt or not audio. Install ffmpeg, or convert the "
            "audio to WAV or FLAC."
        )
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn", "-f", "wav", "-c:a", "pcm_f32le", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    reason = result.stderr.decode(errors="replace").strip().splitlines()
    if result.returncode != 0 or not result.stdout:
        # ffmpeg prefixes its message with the input path, which for bytes is our temporary file.
        detail = reason[-1].replace(f"{path}: ", "") if reason else "no audio stream"
        raise AudioError(f"Cannot decode {what}: it is corrupt or not audio (ffmpeg: {detail}). {fix}")
    try:
        return sf.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as error:
        raise AudioError(f"Cannot decode {what}: ffmpeg produced no readable audio ({error}). {fix}") from None


def _array_to_channels_last(array: np.ndarray | torch.Tensor) -> np.ndarray:
    """Turn an array of samples into (T, C) float, scaling integer PCM to [-1, 1]."""
    if isinstance(array, torch.Tensor):
        # bfloat16 has no numpy equivalent; float32 holds every value of the smaller float types.
        array = array.detach().cpu()
        array = array.float().numpy() if array.is_floating_point() else array.numpy()
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim == 2:
        rows, cols = array.shape
        if rows <= _MAX_CHANNELS_FIRST < cols:
            array = array.T
    else:
        raise AudioError(
            f"Expected samples of shape (T,), (T, C) or (C, T), got an array of shape {array.shape}. "
            "Pass one clip at a time."
        )
    return _to_float(array)


def _to_float(array: np.ndarray) -> np.ndarray:
    """Float arrays pass through; integer PCM is divided by its full scale (int16: 32768)."""
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    if array.dtype == np.uint8:
        # 8-bit PCM is unsigned with silence at 128 (WAV convention).
        return (array.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(array.dtype, np.signedinteger):
        return (array.astype(np.float64) / float(-np.iinfo(array.dtype).min)).astype(np.float32)
    raise AudioError(
        f"Samples of dtype {array.dtype} are not audio: pass float32/float64 samples in [-1, 1] "
        "or int16/int32 PCM."
    )


def _downmix(samples: np.ndarray) -> np.ndarray:
    """(T, C) -> (T,) by averaging channels (equal weights, so no channel is favoured)."""
    if samples.shape[1] == 1:
        return samples[:, 0]
    return samples.mean(axis=1, dtype=np.float32)


def _check_samples(mono: np.ndarray) -> None:
    """Reject audio that would silently break feature extraction: nothing in it, or NaN/inf."""
    if mono.size == 0:
        raise AudioError("The audio is empty (0 samples): pass a clip that contains sound.")
    if not np.isfinite(mono).all():
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise AudioError(
            f"The audio contains {bad} NaN or infinite samples: clean the signal (e.g. np.nan_to_num) "
            "before passing it."
        )
