"""Benchmark audio: a 5 s spoken question and a 10-minute recording, synthesised with espeak-ng, cached.

Both are real speech (a TTS voice), so the cascade's Whisper produces real transcripts of realistic
length (about 75 tokens per 30 s) and the fused model hears speech-shaped audio. Files are cached under
the audiollm cache (samples/) so repeated benchmark runs use the same audio.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from audiollm.audio import SAMPLING_RATE, load_audio
from audiollm.paths import cache_dir

QUESTION_TEXT = "Hi, this is Mei Ling. Could you send me the meeting notes by Friday afternoon?"
SENTENCES = [
    "Good morning everyone, thank you for joining the weekly planning meeting.",
    "The first item is the new bus route between Tampines and the airport.",
    "Ridership on the downtown line grew by twelve percent since January.",
    "We still need volunteers for the community clean up on Saturday morning.",
    "Please submit your travel claims before the end of the month.",
    "The hawker centre near the station will close for renovation in March.",
    "Our budget for the next quarter is about four hundred thousand dollars.",
    "Can someone from the design team present the new signage for the platforms?",
    "The trial of contactless payment on buses ended with very positive feedback.",
    "Let us take a short break and continue with the safety report afterwards.",
    "The safety report shows fewer incidents at the platform doors this year.",
    "Next week we will visit the depot to look at the new trains.",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp"]


def espeak(text: str, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """One utterance from espeak-ng as 16 kHz mono float32."""
    if not shutil.which("espeak-ng"):
        raise SystemExit("espeak-ng is needed for the benchmark audio: apt-get install espeak-ng (make setup does)")
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "utterance.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
        return load_audio(wav)


def _cached(name: str, make) -> np.ndarray:
    import soundfile

    path = cache_dir("samples") / name
    if not path.is_file():
        soundfile.write(path, make(), SAMPLING_RATE)
    return load_audio(path)


def question_clip() -> np.ndarray:
    """A spoken question of about 5 s."""
    return _cached("bench_question.flac", lambda: espeak(QUESTION_TEXT, "en-us", 165))


def ten_minute_recording(seconds: float = 600.0) -> np.ndarray:
    """`seconds` of meeting-like speech: the sentences in rotating voices with short pauses, looped."""

    def make() -> np.ndarray:
        pause = np.zeros(int(0.4 * SAMPLING_RATE), dtype=np.float32)
        pieces = []
        for index, sentence in enumerate(SENTENCES):
            pieces += [espeak(sentence, VOICES[index % len(VOICES)]), pause]
        loop = np.concatenate(pieces)
        repeats = int(np.ceil(seconds * SAMPLING_RATE / loop.size))
        return np.tile(loop, repeats)[: int(seconds * SAMPLING_RATE)]

    return _cached(f"bench_meeting_{int(seconds)}s.flac", make)
