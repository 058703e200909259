"""Run a Responder over test sets, resumably, then judge and score the answers.

Output folder layout (all JSON written atomically, JSONL appended and fsynced per batch):

    run.json            model identity, decoding settings, data, normaliser, versions
    predictions.jsonl   one record per example: fields, exact instruction, decoding, prediction
    judgements.jsonl    judge prompts' replies, cached by (key, rubric, judge model)
    items.jsonl         per-item metrics (per-utterance WER, ROUGE-L, matched label, judge)
    report.json         every score with its provenance; report.md; plots/*.png

A second run with the same model and settings skips every example already in predictions.jsonl (a
half-written last line from an interrupted run is dropped), and every judgement already made.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

from audiollm.errors import AudioLLMError, ConfigError
from audiollm.evaluate.data import EvalSet, load_audio, subsets_of, target_language
from audiollm.inference import Responder, SpeechRequest

SAMPLE_RATE = 16000
WINDOW_SECONDS = 30  # Whisper's window, and AudioBench's chunk length for long ASR audio.


@dataclass
class Decoding:
    """Decoding settings sent with every request and recorded with every score.

    max_new_tokens: answer budget; ASR gets at least `asr_tokens_per_second` x duration so long
    transcripts are not cut. long_audio: "pass" hands whole clips to the model; "audiobench" cuts ASR
    audio into 30 s pieces decoded separately and joined, keeps the first 30 s of other audio, and
    pads clips under 1 s with 1 s of silence (AudioBench's harness).
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    asr_tokens_per_second: float = 5.0
    long_audio: str = "pass"
    no_repeat_ngram_size: int | None = None  # None: the model's default; 0: off; see SpeechRequest
    reader_copy_bias: float | None = None  # None: the model's default; 0: off; see SpeechRequest

    def __post_init__(self) -> None:
        if self.long_audio not in ("pass", "audiobench"):
            raise ConfigError(f"long_audio must be 'pass' or 'audiobench', not {self.long_audio!r}")
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        if self.no_repeat_ngram_size is not None and self.no_repeat_ngram_size < 0:
            raise ConfigError("no_repeat_ngram_size must be 0 (off) or more")
        if self.reader_copy_bias is not None and self.reader_copy_bias < 0:
            raise ConfigError("reader_copy_bias must be 0 (off) or more")

    def recorded(self) -> dict:
        """The settings as reports record them; an option left to the model is not written, so the reports
        made before it existed still match a rerun with the same settings (the model's own default is in
        its identity)."""
        settings = asdict(self)
        for name in ("no_repeat_ngram_size", "reader_copy_bias"):
            if settings[name] is None:
                del settings[name]
        return settings

    def budget(self, task: str, seconds: float) -> int:
        """max_new_tokens for one example."""
        if task == "asr":
            return max(self.max_new_tokens, int(seconds * self.asr_tokens_per_second) + 16)
        return self.max_new_tokens


def _introspect(responder) -> dict:
    """What an AudioLLM-like responder reveals without a hook: its prompt template and config hash.

    The local model (`audiollm.api.AudioAssistant`) keeps a `processor` with the prompt template and
    tokenizer (chat template) and a `model` with a config; hashes pin them without copying them.
    """
    import hashlib

    found: dict = {}
    processor = getattr(responder, "processor", None)
    template = getattr(getattr(processor, "config", None), "prompt_template", None)
    if isinstance(template, str):
        found["prompt_template"] = template
    chat = getattr(getattr(processor, "tokenizer", None), "chat_template", None)
    if isinstance(chat, str):
        found["chat_template_sha256"] = hashlib.sha256(chat.encode()).hexdigest()[:16]
    config = getattr(getattr(responder, "model", None), "config", None)
    to_json = getattr(config, "to_json_string", None)
    if callable(to_json):
        try:
            found["config_sha256"] = hashlib.sha256(to_json().encode()).hexdigest()[:16]
        except (TypeError, ValueError):
            pass
    return found


def model_identity(responder: Responder) -> dict:
    """Name, class, what introspection finds, and what the responder says about itself.

    A responder may define `identity() -> dict` (the cascade and the HTTP client do). The hook is not
    called `describe`: the local model's `describe(audio)` is the speaker-description task.
    """
    hook = getattr(responder, "identity", None)
    details = hook() if callable(hook) else {}  # first: it may settle the name (HTTP model id)
    identity = {"name": responder.name, "class": f"{type(responder).__module__}.{type(responder).__qualname__}"}
    identity.update(_introspect(responder))
    identity.update(details)
    return identity


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically: a temporary file renamed over the target."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_json(path: Path, data) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Complete lines of a JSONL file; a torn last line (interrupted write) is cut off the file."""
    if not path.exists():
        return []
    rows, good_bytes = [], 0
    with path.open("rb") as handle:
        for line in handle:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
            if not line.endswith(b"\n"):
                rows.pop()
                break
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return rows


def append_jsonl(path: Path, rows: Sequence[dict]) -> None:
    """Append rows and fsync, so a crash loses at most the batch being written."""
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _record(eval_set: EvalSet, example, decoding: Decoding) -> dict:
    """The record of one example before inference (everything but the prediction)."""
    return {
        "key": f"{eval_set.name}/{example.id}", "source": eval_set.name, "id": example.id,
        "task": example.task, "language": example.language, "split": example.split,
        "duration": float(example.duration), "instruction": example.instruction,
        "reference": example.answer, "meta": example.meta, "speakers": example.speakers,
        "subsets": subsets_of(example, eval_set.name),
        "decoding": {**decoding.recorded(), "max_new_tokens": decoding.budget(example.task, example.duration)},
    }


def _pieces(audio, task: str, decoding: Decoding) -> list:
    """The audio(s) to send for one example under the long-audio policy."""
    if audio is None or decoding.long_audio == "pass":
        return [audio]
    import numpy as np

    window = WINDOW_SECONDS * SAMPLE_RATE
    if len(audio) < SAMPLE_RATE:
        audio = np.concatenate([audio, np.zeros(SAMPLE_RATE, dtype=audio.dtype)])
    if task != "asr":
        return [audio[:window]]
    return [audio[start:start + window] for start in range(0, len(audio), window)]


def _respond_group(responder: Responder, group: list[tuple[dict, object]], decoding: Decoding,
                   batch_size: int) -> None:
    """Fill `prediction` of each record in `group` (record, example) pairs; errors per record."""
    requests, owners = [], []
    for record, example in group:
        try:
            audio = load_audio(example)
        except AudioLLMError as error:  # an unreadable clip scores as an empty answer, reported
            record.update(prediction="", error=str(error))
            continue
        if audio is not None and not record["duration"]:
            record["duration"] = len(audio) / SAMPLE_RATE
        extra = {"task": record["task"], "language": record["language"], "id": record["id"],
                 "target_language": target_language(example)}
        for piece in _pieces(audio, record["task"], decoding):
            requests.append(SpeechRequest(record["instruction"], piece, record["decoding"]["max_new_tokens"],
                                          decoding.temperature, dict(extra), decoding.no_repeat_ngram_size,
                                          decoding.reader_copy_bias))
            owners.append(record)
    answers: list[str] = []
    for start in range(0, len(requests), batch_size):
        answers.extend(_answer_chunk(responder, requests[start:start + batch_size], owners[start:start + batch_size]))
    for record, answer in zip(owners, answers):
        answer = (answer or "").strip()
        # AudioBench joins the transcripts of 30 s pieces with a space.
        record["prediction"] = f"{record['prediction']} {answer}".strip() if "prediction" in record else answer


def _answer_chunk(responder: Responder, chunk: list[SpeechRequest], owners: list[dict]) -> list[str]:
    """Answers to one batch. If the model refuses the batch (say, a clip past its window cap), each
    request is retried alone; one it still refuses scores as an empty answer with its error recorded."""
    try:
        replies = responder.respond(chunk)
    except AudioLLMError as error:
        if len(chunk) > 1:
            return [answer for i in range(len(chunk))
                    for answer in _answer_chunk(responder, chunk[i:i + 1], owners[i:i + 1])]
        owners[0]["error"] = str(error)
        return [""]
    if len(replies) != len(chunk):
        raise ConfigError(f"model {responder.name!r} returned {len(replies)} answers for {len(chunk)} requests")
    return replies


def _groups(pending: list[tuple[dict, object]], batch_size: int) -> Iterator[list[tuple[dict, object]]]:
    """Batches of examples, longest first (the slowest batch runs first; lengths in a batch match)."""
    pending = sorted(pending, key=lambda pair: -pair[0]["duration"])
    for start in range(0, len(pending), batch_size):
        yield pending[start:start + batch_size]


def run_inference(responder: Responder, sets: Sequence[EvalSet], out_dir: Path, decoding: Decoding,
                  batch_size: int = 8, progress: bool = True) -> list[dict]:
    """Answer every example not yet in `out_dir/predictions.jsonl`; return all records in data order."""
    from tqdm import tqdm

    records = [(_record(s, e, decoding), e) for s in sets for e in s.examples]
    keys = [r["key"] for r, _ in records]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(f"example key {duplicate!r} appears twice; ids must be unique within a test set")
    path = out_dir / "predictions.jsonl"
    done = {row["key"]: row for row in read_jsonl(path)}
    pending = [(r, e) for r, e in records if r["key"] not in done]
    with tqdm(total=len(records), initial=len(records) - len(pending), desc=f"eval {responder.name}",
              unit="ex", disable=not progress) as bar:
        for group in _groups(pending, batch_size):
            started = time.perf_counter()
            _respond_group(responder, group, decoding, batch_size)
            seconds = (time.perf_counter() - started) / len(group)
            rows = [{**record, "seconds": seconds} for record, _ in group]
            append_jsonl(path, rows)
            done.update((row["key"], row) for row in rows)
            bar.update(len(group))
    return [done[key] for key in keys]


def run_judge(judge, records: list[dict], out_dir: Path, progress: bool = True) -> None:
    """Attach a `judge` dict to every record that has a rubric, asking only for uncached ones."""
    from tqdm import tqdm

    from audiollm.evaluate.judge import parse_rating, render_prompt
    from audiollm.evaluate.tasks import judge_question, rubric_for

    path = out_dir / "judgements.jsonl"
    model = judge.model
    cache = {(row["key"], row["rubric"], row["model"]): row for row in read_jsonl(path)}
    todo = []
    for record in records:
        rubric = rubric_for(record)
        if rubric is None:
            continue
        cached = cache.get((record["key"], rubric, model))
        if cached is not None and cached["prediction"] == record["prediction"]:
            record["judge"] = cached
        else:
            todo.append((record, rubric))
    step = max(1, judge.workers * 2)
    for start in tqdm(range(0, len(todo), step), desc="judge", unit="batch", disable=not progress or not todo):
        chunk = todo[start:start + step]
        prompts = [render_prompt(rubric, judge_question(r), r["reference"], r["prediction"]) for r, rubric in chunk]
        rows = []
        for (record, rubric), reply in zip(chunk, judge.rate(prompts)):
            rating = parse_rating(reply, rubric)
            record["judge"] = {"key": record["key"], "rubric": rubric, "model": model, "reply": reply,
                               "rating": rating.score, "method": rating.method, "prediction": record["prediction"]}
            rows.append(record["judge"])
        append_jsonl(path, rows)
