"""Prometheus text-format metrics without a dependency: counters, gauges and histograms.

    audiollm_requests_total{endpoint,status}          requests answered, by HTTP status
    audiollm_request_duration_seconds{endpoint}       latency histogram (a stream: until its last byte)
    audiollm_requests_in_progress                     requests being handled now
    audiollm_queue_depth                              requests waiting for the model
    audiollm_batch_size                               conversations per model call (histogram)
    audiollm_prompt_tokens_total / _completion_tokens_total   tokens in and out
    audiollm_audio_seconds_total                      seconds of audio received
"""

from __future__ import annotations

import math
import threading
from typing import Callable

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

_FAMILIES = {  # name -> (type, help)
    "audiollm_requests_total": ("counter", "HTTP requests answered, by endpoint and status."),
    "audiollm_request_duration_seconds": ("histogram", "Time from request to last response byte."),
    "audiollm_requests_in_progress": ("gauge", "Requests being handled now."),
    "audiollm_queue_depth": ("gauge", "Requests waiting for the model."),
    "audiollm_batch_size": ("histogram", "Conversations per model call."),
    "audiollm_prompt_tokens_total": ("counter", "Prompt tokens (speech placeholders included)."),
    "audiollm_completion_tokens_total": ("counter", "Generated tokens."),
    "audiollm_audio_seconds_total": ("counter", "Seconds of audio received."),
}
_BUCKETS = {"audiollm_request_duration_seconds": _LATENCY_BUCKETS, "audiollm_batch_size": _BATCH_BUCKETS}


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items())) + "}"


def _number(value: float) -> str:
    return "+Inf" if value == math.inf else repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    """Thread-safe: the worker thread and the event loop both record into it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], float] = {}
        self._histograms: dict[tuple[str, str], list[float]] = {}  # bucket counts + [sum, count]
        self._gauges: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, _labels(labels))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value

    def add(self, name: str, value: float, **labels: str) -> None:
        """A gauge that goes up and down (e.g. in-progress requests)."""
        self.inc(name, value, **labels)

    def observe(self, name: str, value: float, **labels: str) -> None:
        buckets = _BUCKETS[name]
        key = (name, _labels(labels))
        with self._lock:
            counts = self._histograms.setdefault(key, [0.0] * (len(buckets) + 2))
            for index, bound in enumerate(buckets):
                if value <= bound:
                    counts[index] += 1
            counts[-2] += value
            counts[-1] += 1

    def gauge_from(self, name: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time (queue depth lives in the scheduler, not here)."""
        self._gauges[name] = read

    def render(self) -> str:
        """The text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            values, histograms = dict(self._values), {k: list(v) for k, v in self._histograms.items()}
        for name, (kind, help_text) in _FAMILIES.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            if name in self._gauges:
                lines.append(f"{name} {_number(self._gauges[name]())}")
            for (metric, labels), value in sorted(values.items()):
                if metric == name:
                    lines.append(f"{name}{labels} {_number(value)}")
            for (metric, labels), counts in sorted(histograms.items()):
                if metric == name:
                    lines += self._histogram_lines(name, labels, counts)
        return "\n".join(lines) + "\n"

    @staticmethod
    def _histogram_lines(name: str, labels: str, counts: list[float]) -> list[str]:
        inner = labels[1:-1] + "," if labels else ""
        lines = [f'{name}_bucket{{{inner}le="{_number(bound)}"}} {_number(count)}'
                 for bound, count in zip(_BUCKETS[name], counts)]
        lines.append(f'{name}_bucket{{{inner}le="+Inf"}} {_number(counts[-1])}')
        lines += [f"{name}_sum{labels} {_number(counts[-2])}", f"{name}_count{labels} {_number(counts[-1])}"]
        return lines
