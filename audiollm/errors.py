"""User-facing errors.

Every problem a user can cause (a bad file, a missing model, an empty prompt, audio longer than the
model's window cap) raises one of these with a message that names the problem and the fix. The CLI and
the server turn them into a one-line message or a 4xx response; anything else is a bug.
"""


class AudioLLMError(Exception):
    """Base class of every error meant to be shown to a user as it is."""


class AudioError(AudioLLMError):
    """Audio that cannot be used: unreadable, empty, silent where speech is required, or too long."""


class ModelNotFoundError(AudioLLMError):
    """A model folder, file, package or hub id that does not exist or cannot be read."""


class ConfigError(AudioLLMError):
    """An invalid configuration: unknown keys, wrong types, or settings that contradict each other."""


class PromptError(AudioLLMError):
    """A prompt that cannot be built: empty instruction, wrong number of speech placeholders."""
