"""Real human speech for testing only: whatever the installed Debian and PyPI packages carry.

Sources (each used only if installed; none is ever put in train or dev):
- pocketsphinx-testdata (Debian, BSD-2): LibriVox, card-game and digit clips with transcripts.
- pyannote-audio (PyPI wheel, MIT; audio provenance not stated): a 30 s two-speaker telephone call,
  cut into its 13 transcribed turns.
- useful-moonshine-onnx (PyPI wheel, MIT): a 10 s read quotation (Beckett).
- uqm-voice + uqm-content (Debian non-free, CC BY-NC-SA 2.5, NON-COMMERCIAL): acted English dialogue
  from The Ur-Quan Masters; only the human-sounding characters. Flagged meta["non_commercial"] so no
  training recipe can pick it up by accident.
The audio is copied into the corpus folder (which git ignores); `audiollm synth` rebuilds it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiollm.data.augment import SAMPLE_RATE
from audiollm.data.render import example_row, paths_for, spec_hash, write_atomic
from audiollm.data.tts import encode_flac

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
UQM_VOICE = Path("/usr/share/games/uqm/content/addons/uqm-0.8.0-voice.uqm")
UQM_CONTENT = Path("/usr/share/games/uqm/content/packages/uqm-0.8.0-content.uqm")
UQM_CHARACTERS = ("starbase", "commander", "syreen", "melnorme")
BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."
_ZIPS: dict = {}


def _item(source: str, index: int, transcript: str, locator: dict, speaker: str, licence: str,
          non_commercial: bool = False) -> dict:
    return {"source": source, "index": index, "transcript": transcript, "locator": locator,
            "speaker": speaker, "licence": licence, "non_commercial": non_commercial}


def _pocketsphinx() -> list[dict]:
    if not POCKETSPHINX.is_dir():
        return []
    items = []
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        lines = (POCKETSPHINX / folder / listing).read_text().splitlines()
        for line in lines:
            match = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
            if match:
                path = POCKETSPHINX / folder / f"{match.group(2)}.wav"
                items.append(_item("pocketsphinx", len(items), match.group(1), {"path": str(path)},
                                   folder, "BSD-2-Clause"))
    extras = (("goforward.raw", "go forward ten meters", "goforward"),
              # TIDIGITS names a file by its digits: "2934z" is "two nine three four zero".
              ("tidigits/dhd.2934z.raw", "two nine three four zero", "tidigits"))
    for name, text, speaker in extras:
        if (POCKETSPHINX / name).exists():
            items.append(_item("pocketsphinx", len(items), text, {"path": str(POCKETSPHINX / name), "raw": True},
                               speaker, "BSD-2-Clause"))
    return items


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (its dependencies may be absent)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _pyannote() -> list[dict]:
    folder = _package_dir("pyannote.audio")
    sample = folder / "sample" if folder else None
    if sample is None or not (sample / "sample.stm").exists():
        return []
    items = []
    for line in (sample / "sample.stm").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            _, _, speaker, start, end, text = parts
            items.append(_item("pyannote", len(items), text, {"path": str(sample / "sample.wav"),
                               "start": float(start), "end": float(end)}, speaker.lower(),
                               "MIT (pyannote-audio package; audio provenance not stated)"))
    return items


def _moonshine() -> list[dict]:
    folder = _package_dir("moonshine_onnx")
    path = folder / "assets" / "beckett.wav" if folder else None
    if path is None or not path.exists():
        return []
    return [_item("moonshine", 0, BECKETT, {"path": str(path)}, "beckett", "MIT (useful-moonshine-onnx)")]


def _uqm_lines(text: str) -> dict[str, str]:
    """'#(ID) file.ogg' headers followed by the line's text -> {file.ogg: text}."""
    lines, current, buffer = {}, None, []
    for raw in text.splitlines() + ["#(END)"]:
        header = re.match(r"#\((\w+)\)\s*(\S+\.ogg)?", raw)
        if header:
            if current:
                lines[current] = " ".join(" ".join(buffer).split())
            current, buffer = header.group(2), []
        elif current:
            buffer.append(raw.strip())
    return lines


def _uqm() -> list[dict]:
    if not (UQM_VOICE.exists() and UQM_CONTENT.exists()):
        return []
    voice_members = set(zipfile.ZipFile(UQM_VOICE).namelist())
    content = zipfile.ZipFile(UQM_CONTENT)
    items = []
    for character in UQM_CHARACTERS:
        script = content.read(f"base/comm/{character}/{character}.txt").decode("latin-1")
        for clip, text in sorted(_uqm_lines(script).items()):
            member = f"3dovoice/{character}/{clip}"
            # Lines with game placeholders or no words are not verbatim transcripts.
            if member in voice_members and re.search(r"[A-Za-z]", text) and not re.search(r"[%<>$#]", text):
                items.append(_item("uqm", len(items), text, {"zip": str(UQM_VOICE), "member": member},
                                   character, "CC-BY-NC-SA-2.5", non_commercial=True))
    return items


SOURCES = {"pocketsphinx": _pocketsphinx, "pyannote": _pyannote, "moonshine": _moonshine, "uqm": _uqm}


def plan_real(limit: int | None = None, instruction: str = "Transcribe the audio.") -> list[dict]:
    """Specs for every installed real-speech clip (at most `limit` per source), split test_real."""
    specs = []
    for source, finder in SOURCES.items():
        for item in finder()[:limit]:
            spec = {"id": f"test_real-asr-{source}-{item['index']:05d}", "split": "test_real", "task": "asr",
                    "language": "en", "instruction": instruction, "answer": item["transcript"], "real": item}
            spec["hash"] = spec_hash(spec)
            specs.append(spec)
    return specs


def _load(locator: dict) -> np.ndarray:
    """Decode a real clip to float32 mono 16 kHz (cut to start/end when given)."""
    if "zip" in locator:
        archive = _ZIPS.setdefault(locator["zip"], zipfile.ZipFile(locator["zip"]))
        audio, rate = sf.read(io.BytesIO(archive.read(locator["member"])), dtype="float32", always_2d=True)
    elif locator.get("raw"):
        audio, rate = np.fromfile(locator["path"], dtype="<i2").astype(np.float32)[:, None] / 32768.0, 16000
    else:
        audio, rate = sf.read(locator["path"], dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if "start" in locator:
        audio = audio[int(locator["start"] * rate):int(locator["end"] * rate)]
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    return np.asarray(audio, dtype=np.float32)


def render_real(spec: dict, out: Path) -> dict:
    """Copy one real clip into the corpus as 16 kHz FLAC; returns its manifest row."""
    item = spec["real"]
    audio = _load(item["locator"])
    speaker = {"engine": "human", "voice": item["source"], "speaker": f"{item['source']}-{item['speaker']}",
               "gender": None, "accent": None, "language": "en", "seen": False}
    full = dict(spec, speakers=[speaker], meta={"transcript": item["transcript"], "source": item["source"],
                                                 "licence": item["licence"],
                                                 "non_commercial": item["non_commercial"],
                                                 "original": item["locator"]})
    row = example_row(full, round(len(audio) / SAMPLE_RATE, 4))
    audio_path, sidecar = paths_for(out, spec)
    write_atomic(audio_path, encode_flac(audio))
    write_atomic(sidecar, json.dumps({"hash": spec["hash"], "row": row}, ensure_ascii=False).encode("utf-8"))
    return row
