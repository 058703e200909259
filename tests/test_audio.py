"""The audio layer: decoding, resampling, log-mel features (vs WhisperFeatureExtractor), windows."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

from audiollm.audio import (
    SAMPLING_RATE,
    load_audio,
    log_mel_spectrogram,
    split_into_windows,
    window_count,
)
from audiollm.errors import AudioError

SR = SAMPLING_RATE


# --------------------------------------------------------------------------- helpers / fixtures


def _sine(freq: float, seconds: float, rate: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(samples: np.ndarray, rate: int = SR) -> float:
    """Frequency of the largest FFT bin (Hann-windowed to keep leakage from moving the peak)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def _synthetic_speech(seconds: float, seed: int) -> np.ndarray:
    """Deterministic speech-like signal: a gliding harmonic voice with syllable envelope and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None)  # ~3 syllables/s with silent gaps
    return (0.2 * voice * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """A few seconds of 16 kHz speech: espeak-ng when installed (deterministic), else synthetic."""
    if shutil.which("espeak-ng"):
        path = tmp_path_factory.mktemp("speech") / "speech.wav"
        text = "The quick brown fox jumps over the lazy dog. Speech models need clean features."
        subprocess.run(["espeak-ng", "-v", "en", "-w", str(path), text], check=True, capture_output=True)
        return load_audio(path)
    return _synthetic_speech(4.0, seed=0)


@pytest.fixture(scope="module")
def feature_batch(speech) -> list[np.ndarray]:
    """Clips of different lengths: short speech, a 12 s mix, a 35 s clip (truncated), 0.3 s odd length."""
    rng = np.random.default_rng(1)
    long_mix = np.tile(speech, int(np.ceil(12 * SR / speech.size)))[: 12 * SR + 7]
    long_mix = long_mix + 0.005 * rng.standard_normal(long_mix.size).astype(np.float32)
    over_30s = np.concatenate([_synthetic_speech(35.0, seed=2)[: 20 * SR], np.resize(speech, 15 * SR)])
    return [speech, long_mix.astype(np.float32), over_30s, speech[: int(0.3 * SR) + 3]]


@pytest.fixture(scope="module")
def extractors() -> dict[int, WhisperFeatureExtractor]:
    return {n: WhisperFeatureExtractor(feature_size=n) for n in (80, 128)}


# --------------------------------------------------------------------------- log-mel features


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("do_normalize", [False, True])
def test_features_match_whisper_feature_extractor(feature_batch, extractors, n_mels, do_normalize):
    reference = extractors[n_mels](
        feature_batch, sampling_rate=SR, padding="max_length", return_attention_mask=True,
        do_normalize=do_normalize, return_tensors="pt",
    )
    features, mask = log_mel_spectrogram(feature_batch, n_mels=n_mels, do_normalize=do_normalize)
    assert features.shape == (4, n_mels, 3000) and features.dtype == torch.float32
    # The contract is 1e-4; on the CPU we use the reference's own float32 normalisation, so ~1e-7.
    assert (features - reference["input_features"]).abs().max().item() < 1e-5
    assert mask.dtype == torch.int64
    assert torch.equal(mask, reference["attention_mask"].to(torch.int64))
    # Real lengths: ceil(len / 160) frames are valid; the 35 s clip fills all 3000.
    expected = [min(3000, -(-clip.size // 160)) for clip in feature_batch]
    assert mask.sum(dim=1).tolist() == expected


def test_truncation_keeps_first_30_seconds(feature_batch):
    over_30s = feature_batch[2]
    assert over_30s.size == 35 * SR
    features, mask = log_mel_spectrogram([over_30s], do_normalize=True)
    first_30s, _ = log_mel_spectrogram([over_30s[: 30 * SR]], do_normalize=True)
    assert torch.equal(features, first_30s)
    assert mask.all()


def test_batched_equals_one_by_one_and_input_forms(feature_batch):
    batched, _ = log_mel_spectrogram(feature_batch, do_normalize=True)
    for index, clip in enumerate(feature_batch):
        alone, _ = log_mel_spectrogram(clip, do_normalize=True)  # a single 1-D clip is a batch of one
        assert torch.allclose(batched[index], alone[0], rtol=0, atol=1e-6)
    same_length = torch.from_numpy(np.stack([clip[: 2 * SR] for clip in feature_batch[:3]]))
    from_tensor, _ = log_mel_spectrogram(same_length)
    from_list, _ = log_mel_spectrogram([clip[: 2 * SR] for clip in feature_batch[:3]])
    assert torch.equal(from_tensor, from_list)


def test_longest_padding_frame_count(feature_batch, extractors):
    short = [feature_batch[0], feature_batch[3]]
    features, mask = log_mel_spectrogram(short, padding="longest", do_normalize=True)
    frames = -(-feature_batch[0].size // 160)  # the longest clip, rounded up to whole hops
    assert features.shape == (2, 80, frames) and mask.shape == (2, frames)
    assert mask.sum(dim=1).tolist() == [frames, -(-feature_batch[3].size // 160)]
    # Same numbers as the extractor padding to the longest clip rounded to a multiple of 160.
    reference = extractors[80](
        short, sampling_rate=SR, padding="longest", pad_to_multiple_of=160, return_attention_mask=True,
        do_normalize=True, return_tensors="pt",
    )
    assert (features - reference["input_features"]).abs().max().item() < 1e-4
    assert torch.equal(mask, reference["attention_mask"].to(torch.int64))
    # A 35 s clip is still cut to 30 s: 3000 frames at most.
    long_features, _ = log_mel_spectrogram(feature_batch, padding="longest")
    assert long_features.shape[-1] == 3000


def test_features_reject_empty_and_bad_padding():
    with pytest.raises(AudioError, match="empty"):
        log_mel_spectrogram([np.zeros(16000, np.float32), np.zeros(0, np.float32)])
    with pytest.raises(ValueError, match="padding"):
        log_mel_spectrogram([np.zeros(16000, np.float32)], padding="do_not_pad")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_features_on_cuda_match_cpu(feature_batch):
    cpu, cpu_mask = log_mel_spectrogram(feature_batch, n_mels=128, do_normalize=True)
    gpu, gpu_mask = log_mel_spectrogram(feature_batch, n_mels=128, do_normalize=True, device="cuda")
    assert gpu.device.type == "cuda" and gpu_mask.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max().item() < 1e-4
    assert torch.equal(gpu_mask.cpu(), cpu_mask)


# --------------------------------------------------------------------------- decoding


def _write(path, samples, rate, **kwargs):
    try:
        sf.write(path, samples, rate, **kwargs)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize(
    "suffix, options, exact",
    [
        ("wav", {"subtype": "FLOAT"}, 0.0),
        ("wav", {"subtype": "PCM_16"}, 1 / 32768),
        ("flac", {"subtype": "PCM_16"}, 1 / 32768),
        ("ogg", {"format": "OGG", "subtype": "VORBIS"}, None),
        ("mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}, None),
    ],
)
def test_load_each_format(tmp_path, suffix, options, exact):
    original = _sine(440.0, 1.0)
    path = tmp_path / f"clip.{suffix}"
    if not _write(path, original, SR, **options):
        if suffix != "mp3" or not shutil.which("ffmpeg"):
            pytest.skip(f"cannot write {suffix} here")
        raw = tmp_path / "clip.wav"
        sf.write(raw, original, SR)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), str(path)], check=True)
    loaded = load_audio(path)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    if exact is not None:
        assert loaded.size == original.size
        assert np.abs(loaded - original).max() <= exact + 1e-7
    else:  # lossy codecs: same pitch, loudness and duration (encoder delay aside)
        assert abs(loaded.size - original.size) < 0.1 * SR
        assert abs(_peak_hz(loaded) - 440.0) < 3.0
        assert abs(_rms(loaded) - _rms(original)) < 0.05 * _rms(original)


def test_bytes_equal_path(tmp_path):
    path = tmp_path / "clip.flac"
    sf.write(path, _sine(300.0, 0.5, rate=22050), 22050)
    from_path = load_audio(path)
    data = path.read_bytes()
    for source in (data, bytearray(data), memoryview(data)):
        np.testing.assert_array_equal(load_audio(source), from_path)


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_ffmpeg_fallback_for_formats_soundfile_cannot_read(tmp_path):
    raw, m4a = tmp_path / "clip.wav", tmp_path / "clip.m4a"
    sf.write(raw, _sine(440.0, 1.0), SR)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-c:a", "aac", str(m4a)], check=True)
    loaded = load_audio(m4a)
    assert abs(_peak_hz(loaded) - 440.0) < 3.0
    np.testing.assert_array_equal(load_audio(m4a.read_bytes()), loaded)


def test_stereo_is_averaged(tmp_path):
    left, right = _sine(440.0, 0.5), _sine(1000.0, 0.5, amplitude=0.25)
    expected = (left + right) / 2
    stereo = np.stack([left, right], axis=1)  # (T, 2)
    np.testing.assert_allclose(load_audio(stereo, sampling_rate=SR), expected, atol=1e-7)
    np.testing.assert_allclose(load_audio(stereo.T.copy(), sampling_rate=SR), expected, atol=1e-7)  # (2, T)
    np.testing.assert_allclose(load_audio(torch.from_numpy(stereo), sampling_rate=SR), expected, atol=1e-7)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), expected, atol=1e-7)


def test_integer_pcm_is_scaled():
    pcm16 = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    np.testing.assert_allclose(load_audio(pcm16, sampling_rate=SR), [0.0, 0.5, -1.0, 32767 / 32768])
    pcm32 = pcm16.astype(np.int32) << 16
    np.testing.assert_allclose(load_audio(pcm32, sampling_rate=SR), load_audio(pcm16, sampling_rate=SR))


@pytest.mark.parametrize("rate, freq", [(8000, 440.0), (44100, 1000.0)])
def test_resampling_keeps_frequency_and_duration(rate, freq):
    loaded = load_audio(_sine(freq, 2.0, rate=rate), sampling_rate=rate)
    assert loaded.size == 2 * SR
    assert abs(_peak_hz(loaded) - freq) < 1.0
    assert abs(_rms(loaded[SR // 4 : -SR // 4]) - 0.5 / np.sqrt(2)) < 0.01  # no loss of level


def test_target_rate():
    assert load_audio(_sine(440.0, 1.0), sampling_rate=SR, target_rate=8000).size == 8000


def test_load_errors(tmp_path):
    cases = [
        (tmp_path / "missing.wav", {}, "not found"),
        (tmp_path, {}, "directory"),
        (b"", {}, "empty"),
        (b"definitely not an audio file" * 10, {}, "not audio"),  # with or without ffmpeg
        (np.zeros(0, np.float32), {"sampling_rate": SR}, "empty"),
        (np.array([0.1, np.nan, 0.2], np.float32), {"sampling_rate": SR}, "NaN"),
        (np.array([0.1, np.inf], np.float32), {"sampling_rate": SR}, "infinite"),
        (np.zeros(100, np.float32), {}, "sampling_rate is required"),
        (np.zeros(100, np.float32), {"sampling_rate": 0}, "positive"),
        (np.zeros(100, np.float32), {"sampling_rate": -16000}, "positive"),
        (np.zeros((2, 3, 100), np.float32), {"sampling_rate": SR}, "shape"),
        (12345, {}, "Cannot load audio"),
    ]
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    empty_wav = tmp_path / "silence.wav"
    sf.write(empty_wav, np.zeros(0, np.float32), SR)
    cases += [(corrupt, {}, "not audio"), (empty_wav, {}, "empty")]
    for source, kwargs, keyword in cases:
        with pytest.raises(AudioError, match=keyword):
            load_audio(source, **kwargs)


def test_unreadable_without_ffmpeg_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setattr("audiollm.audio.io.shutil.which", lambda name: None)
    with pytest.raises(AudioError, match="Format not recognised") as error:
        load_audio(b"definitely not an audio file" * 10)
    assert "not audio" in str(error.value) and "Install ffmpeg" in str(error.value)
    assert "BytesIO" not in str(error.value)  # no Python object reprs in a user-facing message


# --------------------------------------------------------------------------- windows


def test_split_65_seconds_into_30_30_5():
    audio = np.random.default_rng(3).standard_normal(65 * SR).astype(np.float32)
    windows = split_into_windows(audio)
    assert [w.size / SR for w in windows] == [30.0, 30.0, 5.0]
    np.testing.assert_array_equal(np.concatenate(windows), audio)
    assert len(split_into_windows(audio[: 60 * SR])) == 2  # exact multiple: no empty tail


def test_window_count():
    assert window_count(0) == 1
    assert window_count(1) == 1
    assert window_count(480_000) == 1
    assert window_count(480_001) == 2
    assert window_count(65 * SR) == 3
    assert window_count(10 * 8000, window_seconds=5.0, sampling_rate=8000) == 2


def test_window_overflow_error_and_truncate():
    audio = np.zeros(310 * SR, np.float32)
    with pytest.raises(AudioError) as error:
        split_into_windows(audio)
    message = str(error.value)
    assert "310.0 s" in message and "300 s" in message
    assert "max_windows" in message and "truncate" in message
    with pytest.warns(UserWarning, match=r"dropping the last 10\.0 s"):
        kept = split_into_windows(audio, on_overflow="truncate")
    assert len(kept) == 10 and sum(w.size for w in kept) == 300 * SR
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at the cap or without a cap nothing is dropped: no warning
        assert len(split_into_windows(audio[: 300 * SR])) == 10
        assert len(split_into_windows(audio, max_windows=None)) == 11
        assert len(split_into_windows(audio, max_windows=11)) == 11


def test_split_rejects_bad_input():
    with pytest.raises(AudioError, match="empty"):
        split_into_windows(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="mono"):
        split_into_windows(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="on_overflow"):
        split_into_windows(np.zeros(100, np.float32), on_overflow="drop")
