"""audiollm: speech-text large language models (MERaLiON-AudioLLM compatible)."""
