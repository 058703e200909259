"""Text-to-speech through the command-line engines: espeak-ng (and MBROLA through it), flite, festival,
SVOX Pico and RHVoice, and through the Python APIs of Piper and hibari for the neural voices.

`synthesize(voice, text, language, speed, pitch)` returns float32 mono audio at 16 kHz with the
engine's leading and trailing silence trimmed. `speed` is a factor on the engine's default rate
(espeak-ng: 175 words per minute x speed); `pitch` is espeak-ng's -p (0-99), used by espeak-ng and
MBROLA voices only; for the neural voices (Piper, hibari) it is a shift of pitch and formants in percent (100 = the voice as
recorded), which makes one recorded speaker several plausible ones. Mandarin goes to espeak-ng as tone-numbered pinyin (pypinyin TONE3) with the
`cmn-latn-pinyin` voice: Debian's espeak-ng 1.51 misreads many hanzi.
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tempfile

import numpy as np
import soundfile as sf
import soxr

from audiollm.data.voices import NEURAL_PACKAGES, Voice
from audiollm.errors import AudioError

SAMPLE_RATE = 16000
ESPEAK_DEFAULT_WPM = 175
_PUNCTUATION = {"，": ",", "、": ",", "；": ",", "：": ",", "。": ".", "！": ".", "？": "?", "“": "", "”": ""}


def pinyin_for_espeak(text: str) -> str:
    """'下一班' -> 'xia4 yi1 ban1', keeping sentence punctuation as ASCII for espeak-ng's pauses."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(_PUNCTUATION.get(s, s) for s in syllables).replace(" ,", ",").replace(" .", ".")


def _run(command: list[str], voice: Voice, stdin: bytes | None = None) -> bytes:
    try:
        result = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AudioError(f"TTS voice {voice.id} failed to run ({error}); check that the engine is installed") from None
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip()[-300:]
        raise AudioError(f"TTS voice {voice.id} exited with {result.returncode}: {tail}")
    return result.stdout


def _wav_from_stdout(data: bytes, voice: Voice) -> tuple[np.ndarray, int]:
    """espeak-ng --stdout writes a WAV header with unknown sizes; read the PCM after 'data' directly."""
    marker = data.find(b"data")
    if data[:4] != b"RIFF" or marker < 0:
        raise AudioError(f"TTS voice {voice.id} produced no audio")
    rate = int.from_bytes(data[24:28], "little")
    pcm = np.frombuffer(data[marker + 8:len(data) - (len(data) - marker - 8) % 2], dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def _espeak(voice: Voice, text: str, language: str, speed: float, pitch: int | None):
    if language == "zh":
        text = pinyin_for_espeak(text)
    wpm = int(round(ESPEAK_DEFAULT_WPM * speed))
    command = ["espeak-ng", "-v", voice.name, "-s", str(wpm), "-p", str(50 if pitch is None else pitch),
               "-b", "1", "--stdout", "--stdin"]
    return _wav_from_stdout(_run(command, voice, text.encode("utf-8")), voice)


def _with_temp_wav(voice: Voice, build_command, stdin: bytes | None = None):
    """Run an engine that can only write a file; read the file back."""
    with tempfile.TemporaryDirectory(prefix="audiollm-tts-", dir=_temp_root()) as folder:
        path = os.path.join(folder, "out.wav")
        _run(build_command(path, folder), voice, stdin)
        if not os.path.exists(path) or os.path.getsize(path) <= 44:
            raise AudioError(f"TTS voice {voice.id} produced no audio")
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        return audio.mean(axis=1), rate


def _temp_root() -> str | None:
    # RAM-backed temporary files where available: thousands of small WAVs per minute.
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _flite(voice: Voice, text: str, speed: float):
    return _with_temp_wav(voice, lambda path, _: ["flite", "-voice", voice.name, "--setf",
                                                  f"duration_stretch={1 / speed:.3f}", "-t", text, "-o", path])


def _festival(voice: Voice, text: str, speed: float):
    def command(path, folder):
        """text2wave reads its text from a file."""
        text_path = os.path.join(folder, "in.txt")
        with open(text_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return ["text2wave", "-eval", f"(voice_{voice.name})", "-eval",
                f"(Parameter.set 'Duration_Stretch {1 / speed:.3f})", text_path, "-o", path]
    return _with_temp_wav(voice, command)


def _pico(voice: Voice, text: str, speed: float):
    markup = f'<speed level="{int(round(100 * speed))}">{text}</speed>'
    return _with_temp_wav(voice, lambda path, _: ["pico2wave", "-l", voice.name, "-w", path, markup])


def _rhvoice(voice: Voice, text: str, speed: float):
    return _with_temp_wav(voice, lambda path, _: ["RHVoice-test", "-p", voice.name, "-r", str(int(round(100 * speed))),
                                                  "-o", path], stdin=text.encode("utf-8"))


@functools.lru_cache(maxsize=None)
def piper_model(name: str):
    """A loaded Piper voice (once per process: loading takes about a second)."""
    import importlib

    from piper import PiperVoice

    package = importlib.import_module(NEURAL_PACKAGES[name])
    return PiperVoice.load(os.path.join(os.path.dirname(package.__file__), "data", f"{name}.onnx"))


def _piper(voice: Voice, text: str, speed: float, shift_percent: int | None):
    """Piper with its sampling noise off (noise_scale = noise_w = 0): its ONNX graph draws that noise from an
    unseeded generator, so with noise the same plan would not give the same audio twice. The shift plays the
    audio back `shift` times faster (pitch and formants up), with the phoneme lengths stretched to match."""
    from piper import SynthesisConfig

    model = piper_model(voice.name)
    shift = (shift_percent or 100) / 100
    settings = SynthesisConfig(length_scale=shift / speed, noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(model.synthesize(text, syn_config=settings))
    if not chunks:
        raise AudioError(f"TTS voice {voice.id} produced no audio for {text[:40]!r}")
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
    return audio, int(round(chunks[0].sample_rate * shift))


@functools.lru_cache(maxsize=None)
def hibari_model(name: str):
    """A loaded hibari voice (once per process), on one onnxruntime thread: the corpus renders in a pool."""
    from hibari import Hibari

    return Hibari(voice=name, threads=1)


def _hibari(voice: Voice, text: str, speed: float, shift_percent: int | None):
    """hibari with its noise seeded (the same plan gives the same audio) and the same pitch-and-formant shift
    as Piper's: rendered `shift` times slower, then played back `shift` times faster. Its voice is quieter than
    the others (peak about 0.4), so it is brought to a peak of 0.9 like the engines that fill their range."""
    model = hibari_model(voice.name)
    shift = (shift_percent or 100) / 100
    audio = np.asarray(model(text, speed=speed / shift, seed=0), dtype=np.float32)
    if not audio.size or not np.any(audio):
        raise AudioError(f"TTS voice {voice.id} produced no audio for {text[:40]!r}")
    audio *= 0.9 / float(np.max(np.abs(audio)))
    return audio, int(round(model.sample_rate * shift))


def trim_silence(x: np.ndarray, threshold_db: float = -45.0, keep: float = 0.05) -> np.ndarray:
    """Cut leading/trailing stretches quieter than `threshold_db` below the peak, keeping `keep` s."""
    if len(x) == 0:
        return x
    frame = 160
    usable = len(x) // frame * frame
    if usable == 0:
        return x
    energy = np.sqrt(np.mean(x[:usable].reshape(-1, frame) ** 2, axis=1))
    loud = np.nonzero(energy > np.max(energy) * 10 ** (threshold_db / 20))[0]
    if len(loud) == 0:
        return x
    margin = int(keep * SAMPLE_RATE)
    start = max(0, loud[0] * frame - margin)
    end = min(len(x), (loud[-1] + 1) * frame + margin)
    return x[start:end]


def synthesize(voice: Voice, text: str, language: str, speed: float = 1.0, pitch: int | None = None) -> np.ndarray:
    """Speak `text` with `voice`; float32 mono 16 kHz, edge silence trimmed. Raises AudioError."""
    if voice.engine in ("espeak", "mbrola"):
        audio, rate = _espeak(voice, text, language, speed, pitch)
    elif voice.engine == "flite":
        audio, rate = _flite(voice, text, speed)
    elif voice.engine == "festival":
        audio, rate = _festival(voice, text, speed)
    elif voice.engine == "pico":
        audio, rate = _pico(voice, text, speed)
    elif voice.engine == "rhvoice":
        audio, rate = _rhvoice(voice, text, speed)
    elif voice.engine == "piper":
        audio, rate = _piper(voice, text, speed, pitch)
    elif voice.engine == "hibari":
        audio, rate = _hibari(voice, text, speed, pitch)
    else:
        raise AudioError(f"unknown TTS engine {voice.engine!r}")
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    audio = trim_silence(np.asarray(audio, dtype=np.float32))
    if len(audio) < SAMPLE_RATE // 20:
        raise AudioError(f"TTS voice {voice.id} produced {len(audio)} samples for {text[:40]!r}")
    return audio


def encode_flac(audio: np.ndarray) -> bytes:
    """16-bit FLAC bytes of 16 kHz mono float audio."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()
