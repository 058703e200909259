"""Acoustic augmentation in numpy: speed perturbation, reverberation, noise, babble, telephone band, padding.

`choose_augment(rng, policy)` draws the settings for one example at planning time (so they are in the
plan and seeded); `apply_augment(x, settings, babble_bank)` applies them to 16 kHz float32 speech
when rendering. Every random draw at render time comes from `settings["seed"]`, so rendering is
deterministic too. `no_speech_audio` makes the speech-free clips (silence, noise, mains hum).
"""

from __future__ import annotations

import random

import numpy as np
import soxr

SAMPLE_RATE = 16000
NOISE_KINDS = ("white", "pink", "brown", "hum", "room")
# Several SNRs, weighted towards the moderate ones: below 5 dB even a human misses words of TTS speech.
SNR_CHOICES = (5, 10, 15, 20, 30)
SNR_WEIGHTS = (0.05, 0.2, 0.3, 0.27, 0.18)


def choose_augment(rng: random.Random, policy: dict) -> dict:
    """Augmentation settings for one example; `policy` may switch off speed changes and babble.

    Rates: speed 30%, reverberation 20%, noise 30% (SNR 5-30 dB), babble 12% (10-25 dB), telephone 8%;
    about 40% of examples get neither noise, babble, reverberation nor the telephone band.
    """
    settings: dict = {"seed": rng.randrange(2**31)}
    if policy.get("speed", True) and rng.random() < 0.3:
        settings["speed"] = round(rng.uniform(0.9, 1.1), 3)
    if rng.random() < 0.2:
        settings["reverb"] = {"rt60": round(rng.uniform(0.2, 0.8), 2), "wet": round(rng.uniform(0.2, 0.6), 2)}
    draw = rng.random()
    if draw < 0.3:
        snr = rng.choices(SNR_CHOICES, SNR_WEIGHTS)[0]
        settings["noise"] = {"kind": rng.choice(NOISE_KINDS), "snr": snr}
    elif draw < 0.42 and policy.get("babble", True):
        settings["babble"] = {"talkers": rng.randint(3, 6), "snr": rng.choice((10, 15, 20, 25))}
    if rng.random() < 0.08:
        settings["telephone"] = True
    settings["pad"] = [round(rng.uniform(0.05, 0.8), 2), round(rng.uniform(0.05, 0.8), 2)]
    settings["level_db"] = round(rng.uniform(-32.0, -16.0), 1)
    return settings


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch rises with it), as Kaldi-style speed perturbation does."""
    return soxr.resample(x, int(round(SAMPLE_RATE * factor)), SAMPLE_RATE).astype(np.float32)


def _fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


def reverberate(x: np.ndarray, rng: np.random.Generator, rt60: float, wet: float) -> np.ndarray:
    """Convolve with a synthetic room response (exponentially decaying noise) and keep a 0.3 s tail."""
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    rir = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)  # -60 dB after rt60 seconds
    rir[0] = 0.0
    rir /= np.sqrt(np.sum(rir**2)) + 1e-9
    tail = int(0.3 * SAMPLE_RATE)
    reverberant = _fft_convolve(x, rir)[: len(x) + tail]
    dry = np.pad(x, (0, len(reverberant) - len(x)))
    return ((1 - wet) * dry + wet * reverberant).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Unit-RMS noise of `kind`: white, pink (1/f), brown (1/f^2), hum (50 Hz mains) or room tone."""
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3, 5))
        noise = hum + 0.05 * rng.standard_normal(n)
    else:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
        exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0, "room": 0.75}[kind]
        shaped = spectrum / freqs**exponent
        if kind == "room":
            shaped[freqs > 4000] *= 0.1  # room tone: mostly low-frequency ventilation rumble
        noise = np.fft.irfft(shaped, n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def _active_power(x: np.ndarray) -> float:
    """Mean power over the louder frames, so padding and pauses do not inflate the SNR."""
    frame = 400
    usable = len(x) // frame * frame
    if usable == 0:
        return float(np.mean(x**2) + 1e-12)
    powers = np.mean(x[:usable].reshape(-1, frame) ** 2, axis=1)
    active = powers[powers > 0.05 * powers.max()]
    return float(np.mean(active) + 1e-12)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that active-speech power / noise power = snr_db."""
    noise_power = float(np.mean(noise**2) + 1e-12)
    scale = np.sqrt(_active_power(speech) / (noise_power * 10 ** (snr_db / 10)))
    return (speech + scale * noise).astype(np.float32)


def babble(rng: np.random.Generator, bank: np.ndarray, n: int, talkers: int) -> np.ndarray:
    """Sum of `talkers` random stretches of other utterances (the babble bank)."""
    out = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        start = int(rng.integers(0, max(1, len(bank) - n)))
        piece = bank[start:start + n]
        out[: len(piece)] += piece
    return out


def telephone(x: np.ndarray) -> np.ndarray:
    """Narrow-band telephone channel: 8 kHz, 300-3400 Hz, 8-bit mu-law, back to 16 kHz."""
    narrow = soxr.resample(x, SAMPLE_RATE, 8000)
    spectrum = np.fft.rfft(narrow)
    freqs = np.fft.rfftfreq(len(narrow), 1 / 8000)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    narrow = np.fft.irfft(spectrum, len(narrow))
    peak = np.max(np.abs(narrow)) + 1e-9
    mu = 255.0
    companded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    quantised = np.round(companded * 127) / 127
    expanded = np.sign(quantised) * ((1 + mu) ** np.abs(quantised) - 1) / mu * peak
    return soxr.resample(expanded, 8000, SAMPLE_RATE).astype(np.float32)


def set_level(x: np.ndarray, level_db: float) -> np.ndarray:
    """Scale to an RMS of `level_db` dBFS, then lower it if the peak would clip."""
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    y = x * (10 ** (level_db / 20) / rms)
    peak = np.max(np.abs(y)) if len(y) else 0.0
    return (y * (0.95 / peak) if peak > 0.95 else y).astype(np.float32)


def apply_augment(x: np.ndarray, settings: dict, babble_bank: np.ndarray | None) -> np.ndarray:
    """Apply the settings from `choose_augment` to 16 kHz float32 speech."""
    rng = np.random.default_rng(settings["seed"])
    if "speed" in settings:
        x = speed_perturb(x, settings["speed"])
    if "reverb" in settings:
        x = reverberate(x, rng, **settings["reverb"])
    lead, trail = settings.get("pad", (0.0, 0.0))
    x = np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.float32), x,
                        np.zeros(int(trail * SAMPLE_RATE), np.float32)])
    if "noise" in settings:
        x = mix_at_snr(x, coloured_noise(rng, len(x), settings["noise"]["kind"]), settings["noise"]["snr"])
    elif "babble" in settings and babble_bank is not None and len(babble_bank):
        noise = babble(rng, babble_bank, len(x), settings["babble"]["talkers"])
        x = mix_at_snr(x, noise, settings["babble"]["snr"])
    else:
        # A faint noise floor: real recordings are never digitally silent between words.
        x = x + 10 ** (-75 / 20) * rng.standard_normal(len(x)).astype(np.float32)
    if settings.get("telephone"):
        x = telephone(x)
    return set_level(x, settings.get("level_db", -23.0))


def no_speech_audio(kind: str, seconds: float, seed: int) -> np.ndarray:
    """A clip with no speech: near-silence, or noise/hum at a quiet-to-moderate level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    if kind == "silence":
        return (10 ** (rng.uniform(-80, -60) / 20) * rng.standard_normal(n)).astype(np.float32)
    noise = coloured_noise(rng, n, kind)
    return set_level(noise, float(rng.uniform(-50, -25)))
