"""audiollm: speech-text large language models (MERaLiON-AudioLLM compatible).

    import audiollm
    assistant = audiollm.load()                  # the embedded default model
    print(assistant.transcribe("clip.wav"))

The public API is what this module exports; everything else is internal and may change.
"""

from audiollm.api import AudioAssistant, GenerationSettings, Segment, load
from audiollm.audio import load_audio
from audiollm.config import AudioLLMConfig
from audiollm.errors import AudioError, AudioLLMError, ConfigError, ModelNotFoundError, PromptError
from audiollm.inference import Responder, SpeechRequest
from audiollm.model import AudioLLM
from audiollm.processor import AudioLLMProcessor, Turn

__all__ = [
    "AudioAssistant", "AudioError", "AudioLLM", "AudioLLMConfig", "AudioLLMError", "AudioLLMProcessor",
    "ConfigError", "GenerationSettings", "ModelNotFoundError", "PromptError", "Responder", "Segment",
    "SpeechRequest", "Turn", "load", "load_audio",
]
