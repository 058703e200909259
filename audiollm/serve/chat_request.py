"""A /v1/chat/completions JSON body -> a validated conversation and decoding settings.

Accepted message content (MERaLiON's vLLM request shape and vLLM's generic one):
    "content": "text"
    "content": [{"type": "text", "text": "... <SpeechHere> ..."},
                {"type": "audio_url", "audio_url": {"url": "data:audio/wav;base64,..."}},
                {"type": "input_audio", "input_audio": {"data": "<base64>", "format": "wav"}}]
A text part may carry one `<SpeechHere>` marker per audio of its message to place the audio; without
markers the model's prompt template places it. System (and developer) text is put in front of the first
user message, because Gemma-style chat templates have no system role.

Everything is checked here, before the request joins a batch, so one bad request can never fail the
batch it would have been run with.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiollm.api import GenerationSettings
from audiollm.errors import AudioLLMError
from audiollm.processor import AudioLLMProcessor, Turn
from audiollm.serve.audio_input import AudioReader
from audiollm.serve.errors import APIError, bad_request, from_library_error

_ROLES = ("system", "developer", "user", "assistant")
# Options we accept only at their neutral value: clients (and MERaLiON's examples) send them anyway.
_NEUTRAL = {"repetition_penalty": 1.0, "length_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0,
            "n": 1, "logprobs": False, "parallel_tool_calls": None}
_UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "modalities", "prediction")


@dataclass
class ChatSpec:
    """A validated chat request: what to run and how to answer."""

    conversation: list[Turn]
    settings: GenerationSettings
    stream: bool = False
    include_usage: bool = False
    prompt_tokens: int = 0


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(body: dict, name: str, default, low: float, high: float, integer: bool = False):
    """body[name] checked for type and range; `default` when absent or null."""
    value = body.get(name)
    if value is None:
        return default
    if not _is_number(value) or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise bad_request(f"{name} must be {kind}, got {type(value).__name__} {value!r}", name, "invalid_type")
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low:g} and {high:g}, got {value}", name, "invalid_value")
    return int(value) if integer else float(value)


def _stop_strings(value: object) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise bad_request("stop must be a non-empty string or a list of at most 4 of them", "stop", "invalid_type")
    return list(stops)


def parse_settings(body: dict, default_max_tokens: int, max_tokens_limit: int) -> GenerationSettings:
    """Decoding fields of a chat body -> GenerationSettings (temperature 0 = greedy)."""
    for name, neutral in _NEUTRAL.items():
        if body.get(name) is not None and body[name] != neutral:
            raise bad_request(f"{name}={body[name]!r} is not supported by this server (use {neutral!r} or omit it)",
                              name, "unsupported_parameter")
    for name in _UNSUPPORTED:
        if body.get(name):
            raise bad_request(f"{name} is not supported by this server", name, "unsupported_parameter")
    limit_name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    return GenerationSettings(
        max_new_tokens=_number(body, limit_name, default_max_tokens, 1, max_tokens_limit, integer=True),
        temperature=_number(body, "temperature", 0.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-9, 1.0),
        top_k=_number(body, "top_k", 0, 0, 1_000_000, integer=True),
        seed=_number(body, "seed", None, -(2**63), 2**63 - 1, integer=True),
        stop=_stop_strings(body.get("stop")),
        no_repeat_ngram_size=_number(body, "no_repeat_ngram_size", None, 0, 64, integer=True),
        reader_copy_bias=_number(body, "reader_copy_bias", None, 0.0, 100.0),
    )


def _audio_part(part: dict, where: str, reader: AudioReader):
    kind = part["type"]
    payload = part.get(kind)
    if kind == "input_audio":
        if not isinstance(payload, dict):
            raise bad_request(f"{where}.input_audio must be an object {{data, format}}", where, "invalid_type")
        if payload.get("format") is not None and not isinstance(payload["format"], str):
            raise bad_request(f"{where}.input_audio.format must be a string", where, "invalid_type")
        return reader.from_base64(payload.get("data"), f"{where}.input_audio.data")
    url = payload.get("url") if isinstance(payload, dict) else payload  # vLLM also accepts a bare string
    return reader.from_url(url, f"{where}.audio_url.url")


def _parse_content(content: object, where: str, reader: AudioReader, audio_allowed: bool) -> tuple[str, list]:
    """A message's content -> (text, audios). Text parts are joined with newlines."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or a list of parts", where, "invalid_type")
    texts, audios = [], []
    for index, part in enumerate(content):
        here = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise bad_request(f"{here}.text must be a string", here, "invalid_type")
            texts.append(part["text"])
        elif kind in ("input_audio", "audio_url") and audio_allowed:
            audios.append(_audio_part(part, here, reader))
        elif kind in ("input_audio", "audio_url"):
            raise bad_request(f"{here}: audio is only accepted in user messages", here, "invalid_value")
        else:
            raise bad_request(f"{here}: unsupported content part type {kind!r}; use text, input_audio or "
                              "audio_url", here, "unsupported_content")
    return "\n".join(texts), audios


def parse_messages(messages: object, reader: AudioReader) -> list[Turn]:
    """The messages array -> turns ending with the user's (system text folded into the first user turn)."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list", "messages", "invalid_type")
    system, turns = [], []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise bad_request(f"{where} must be an object with role one of {', '.join(_ROLES)}", where, "invalid_value")
        role = message["role"]
        text, audios = _parse_content(message.get("content"), where, reader, audio_allowed=role == "user")
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append(Turn(role, text, audios))
    if not turns or turns[-1].role != "user":
        raise bad_request("the last message must be the user's: the model answers it", "messages", "invalid_value")
    first_user = next(turn for turn in turns if turn.role == "user")
    if system:
        first_user.text = "\n".join(system + [first_user.text]) if first_user.text else "\n".join(system)
    return turns


def parse_chat(body: object, reader: AudioReader, processor: AudioLLMProcessor, default_max_tokens: int,
               max_tokens_limit: int) -> ChatSpec:
    """Validate a whole chat body. Raises APIError (4xx) for anything a client got wrong."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", None, "invalid_type")
    stream = body.get("stream") or False
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise bad_request("stream must be a boolean and stream_options an object", "stream", "invalid_type")
    settings = parse_settings(body, default_max_tokens, max_tokens_limit)
    conversation = parse_messages(body.get("messages"), reader)
    try:
        # Building the prompt checks the markers against the audios and each audio against the
        # model's window cap, and gives the prompt's token count for `usage`.
        ids, _, _ = processor.encode(conversation)
    except AudioLLMError as error:
        raise from_library_error(error, "messages") from None
    context = processor.config.text_config.get("max_position_embeddings")
    if context and len(ids) + settings.max_new_tokens > context:
        raise bad_request(f"the prompt is {len(ids)} tokens (audio included) and max_tokens is "
                          f"{settings.max_new_tokens}: together over the model's context of {context} tokens; "
                          "send less audio or text, or ask for fewer tokens", "messages", "context_length_exceeded")
    return ChatSpec(conversation, settings, stream, bool(options.get("include_usage")), len(ids))


def check_model(body: dict, served: str) -> None:
    """A request may omit `model`; naming another model is a 404, as with OpenAI."""
    model = body.get("model") if isinstance(body, dict) else None
    if model is not None and not isinstance(model, str):
        raise bad_request(f"model must be a string, got {type(model).__name__}", "model", "invalid_type")
    if model is not None and model != served:
        raise APIError(404, f"model {model!r} is not served here; this server serves {served!r} (GET /v1/models)",
                       param="model", code="model_not_found")
