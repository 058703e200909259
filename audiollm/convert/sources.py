"""One import point for every model source: Whisper encoders and causal-LM decoders.

The work lives in `whisper_sources` (Whisper from aliases, CTranslate2 folders, HF folders, hub ids)
and `decoder_sources` (causal LMs from aliases, GGUF files, HF folders, hub ids); this module only
re-exports their public names so callers need not know the split.
"""

from audiollm.convert.decoder_sources import DECODER_ALIASES, load_causal_lm
from audiollm.convert.whisper_sources import ENCODER_ALIASES, WhisperBundle, load_whisper, whisper_ct2_folder

__all__ = [
    "DECODER_ALIASES",
    "ENCODER_ALIASES",
    "WhisperBundle",
    "load_causal_lm",
    "load_whisper",
    "whisper_ct2_folder",
]
