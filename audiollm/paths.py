"""Where audiollm keeps files it builds at run time (assembled models, converted weights).

The cache root is `$AUDIOLLM_CACHE` if set, else `~/.cache/audiollm`. Nothing is created at import.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the cache root, e.g. cache_dir("whisper-base")."""
    root = Path(os.environ.get("AUDIOLLM_CACHE", Path.home() / ".cache" / "audiollm"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def exclusive(path: Path):
    """Hold an exclusive lock on `path` + ".lock" (blocking): one process at a time builds a cached folder."""
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
