"""audiollm.serve: an OpenAI-compatible HTTP server for AudioLLMs, with batching and hard input limits.

    from audiollm.serve import ServerSettings, create_app
    app = create_app(audiollm.load("default"), ServerSettings(max_batch_size=8))

`audiollm serve` runs it under uvicorn; `AudioLLMClient` is a small client for it. See docs/serving.md.
"""

from audiollm.serve.app import create_app
from audiollm.serve.client import AudioLLMClient
from audiollm.serve.runner import BackgroundServer, serve
from audiollm.serve.settings import ServerSettings

__all__ = ["AudioLLMClient", "BackgroundServer", "ServerSettings", "create_app", "serve"]
