"""What every endpoint shares: the assistant, the settings, the scheduler, the audio reader, the metrics."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from audiollm.serve.audio_input import AudioReader
from audiollm.serve.errors import bad_request
from audiollm.serve.metrics import Metrics
from audiollm.serve.scheduler import Scheduler
from audiollm.serve.settings import ServerSettings


@dataclass
class ServerState:
    """Built once by `create_app`; the routers close over it."""

    assistant: object  # an audiollm.api.AudioAssistant (chat, stream, processor, name, notice)
    settings: ServerSettings
    scheduler: Scheduler
    reader: AudioReader
    metrics: Metrics
    model_id: str
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def processor(self):
        return self.assistant.processor

    def count_tokens(self, text: str) -> int:
        """Tokens of an answer, for `usage` and /metrics (the model's own tokenizer)."""
        return len(self.processor.tokenizer(text, add_special_tokens=False).input_ids) if text else 0


def parse_json(raw: bytes) -> object:
    """Request body bytes -> JSON value; malformed JSON is a 400 that says where it broke."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise bad_request(f"the request body is not valid JSON: {error.msg} at line {error.lineno} column "
                          f"{error.colno}", None, "invalid_json") from None
    except (UnicodeDecodeError, RecursionError):
        raise bad_request("the request body is not valid UTF-8 JSON (or is nested too deeply)", None,
                          "invalid_json") from None
