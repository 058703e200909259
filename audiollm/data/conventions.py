"""Corpus conventions shared with training and evaluation: split names, labels, fixed answers.

Evaluation imports these instead of repeating the strings:

    from audiollm.data.conventions import NO_SPEECH_ANSWER, SPLITS, PARA_CHOICES
"""

from __future__ import annotations

# Split names, one manifest per split: <out>/<split>.jsonl
SYNTHETIC_SPLITS = ("train", "dev", "test_seen", "test_unseen_voice", "test_unseen_template")
# test_open_text: held-out free English sentences read by unseen voices (only with --open-text-hours).
# train_open_passages, test_open_passages: 2-4 free sentences in one reading (only with --open-passage-hours).
# train_neural_voice: free sentences and passages read by Piper's neural voices (only with --neural-voice-hours).
# train_long: recordings of 35-120 s joined from train clips (only with --long-hours; see longform.py).
# train_full_window: one voice's ASR clips joined to 20-29.5 s (only with --full-window-hours; full_window.py).
SPLITS = SYNTHETIC_SPLITS + ("test_real", "test_open_text", "train_open_passages", "test_open_passages",
                           "train_neural_voice", "train_long", "train_full_window")
# The training splits `audiollm synth --full-window-hours` may join into train_full_window, and its default:
# the neural voice, which Whisper base reads at about 6% WER. On the formant and diphone voices it misreads
# about 45% of words, and long targets there would teach a decoder to rewrite Whisper's reading, not copy it.
FULL_WINDOW_SPLIT = "train_full_window"
FULL_WINDOW_SOURCES = ("train", "train_open_passages", "train_neural_voice")
FULL_WINDOW_DEFAULT_SOURCES = ("train_neural_voice",)
# Splits that must never contain an unseen speaker.
SEEN_VOICE_SPLITS = ("train", "dev", "test_seen", "test_unseen_template")

# The answer to an ASR request on audio with no speech (silence or pure noise): meta["no_speech"] is True.
NO_SPEECH_ANSWER = "[no speech]"

LANGUAGES = ("en", "zh", "ms", "ta")
LANGUAGE_LABELS = {"en": "English", "zh": "Mandarin", "ms": "Malay", "ta": "Tamil"}

# Paralinguistic attributes and their closed label sets (PARA answers are always one of these).
PARA_ATTRIBUTES = ("gender", "rate", "pitch", "accent", "language", "num_speakers")
PARA_CHOICES = {
    "gender": ("male", "female"),
    "rate": ("slow", "normal", "fast"),
    "pitch": ("low", "medium", "high"),
    "language": tuple(LANGUAGE_LABELS[l] for l in LANGUAGES),
    "num_speakers": ("1", "2", "3", "4"),
    # Accent choices are the true accent plus three others drawn from this list.
    "accent": ("American", "British", "Scottish", "Caribbean", "Afrikaans-accented", "Dutch-accented",
               "French-accented", "German-accented", "Greek-accented", "Polish-accented",
               "Swedish-accented", "Hungarian-accented", "Romanian-accented"),
}
# How each PARA label is built: speaking rate in espeak-ng words per minute, median F0 in Hz.
RATE_WPM = {"slow": (100, 125), "normal": (160, 185), "fast": (240, 280)}
PITCH_F0 = {"low": (82, 100), "medium": (140, 165), "high": (240, 285)}
