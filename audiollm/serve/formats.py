"""Transcript response formats of /v1/audio/*: json, text, srt, vtt, verbose_json.

Segments are the model's 30 s windows (one answer per window), so timestamps are window boundaries.
verbose_json carries Whisper's per-segment fields for client compatibility; the model does not score
its answers, so avg_logprob and no_speech_prob are 0.0, and compression_ratio is computed from the text
as Whisper does (UTF-8 length / zlib-compressed length).
"""

from __future__ import annotations

import zlib

from audiollm.api import Segment

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


def _clock(seconds: float, separator: str) -> str:
    """12.345 -> 00:00:12,345 (srt) or 00:00:12.345 (vtt)."""
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: list[Segment]) -> str:
    cues = [segment for segment in segments if segment.text]
    return "".join(f"{index}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n\n"
                   for index, s in enumerate(cues, start=1))


def vtt(segments: list[Segment]) -> str:
    cues = "".join(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n\n" for s in segments if s.text)
    return "WEBVTT\n\n" + cues


def _compression_ratio(text: str) -> float:
    raw = text.encode()
    return round(len(raw) / len(zlib.compress(raw)), 4) if raw else 0.0


def verbose_json(segments: list[Segment], text: str, duration: float, task: str, language: str, temperature: float,
                 tokenize) -> dict:
    """OpenAI's verbose transcription object; `tokenize(text) -> list[int]` fills `tokens`."""
    items = [
        {"id": index, "seek": int(round(s.start * 100)), "start": round(s.start, 3), "end": round(s.end, 3),
         "text": s.text, "tokens": tokenize(s.text), "temperature": temperature, "avg_logprob": 0.0,
         "compression_ratio": _compression_ratio(s.text), "no_speech_prob": 0.0}
        for index, s in enumerate(segments)
    ]
    return {"task": task, "language": language, "duration": round(duration, 3), "text": text,
            "segments": items, "usage": {"type": "duration", "seconds": round(duration, 3)}}
