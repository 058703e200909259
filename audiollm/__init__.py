"""audiollm: speech-text large language models (MERaLiON-AudioLLM compatible).

    import audiollm
    assistant = audiollm.load()                  # the embedded default model
    print(assistant.transcribe("clip.wav"))

The public API is what this module exports; everything else is internal and may change. Names are
imported on first use, so `import audiollm` (and every CLI start) does not pay for torch and
transformers until a model is needed.
"""

import importlib

_EXPORTS = {
    "AudioAssistant": "audiollm.api", "GenerationSettings": "audiollm.api", "Segment": "audiollm.api",
    "load": "audiollm.api", "load_audio": "audiollm.audio", "AudioLLMConfig": "audiollm.config",
    "AudioError": "audiollm.errors", "AudioLLMError": "audiollm.errors", "ConfigError": "audiollm.errors",
    "ModelNotFoundError": "audiollm.errors", "PromptError": "audiollm.errors",
    "Responder": "audiollm.inference", "SpeechRequest": "audiollm.inference",
    "AudioLLM": "audiollm.model", "AudioLLMProcessor": "audiollm.processor", "Turn": "audiollm.processor",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'audiollm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
