"""Print the path of a short English speech clip for the demo, synthesising it on first use.

`python -m audiollm.resources.sample_clip` -> a 16 kHz FLAC made with espeak-ng (installed by
`make setup`), or the real recording from Debian's pocketsphinx-testdata if espeak-ng is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from audiollm.audio import load_audio
from audiollm.paths import cache_dir

SAMPLE_TEXT = "The next train to Tampines will arrive in three minutes. Please stand behind the yellow line."
REAL_FALLBACK = Path("/usr/share/pocketsphinx/test/data/goforward.raw")


def sample_clip() -> Path:
    """Return the demo clip's path, creating it if needed."""
    import soundfile

    target = cache_dir("samples") / "mrt_announcement.flac"
    if target.is_file():
        return target
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as scratch:
            wav = Path(scratch) / "clip.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), SAMPLE_TEXT], check=True)
            soundfile.write(target, load_audio(wav), 16000)
        return target
    if REAL_FALLBACK.is_file():  # raw 16 kHz s16le: "go forward ten meters"
        import numpy as np

        samples = np.frombuffer(REAL_FALLBACK.read_bytes(), dtype="<i2").astype("float32") / 32768
        soundfile.write(target, samples, 16000)
        return target
    sys.exit("no speech source: install espeak-ng (apt-get install espeak-ng)")


if __name__ == "__main__":
    print(sample_clip())
