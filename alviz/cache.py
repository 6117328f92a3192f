"""The disk cache of everything alviz derives and may compute again: embeddings, trained networks, decoded image
folders, 2-D maps, neighbour graphs.

One folder (``ALVIZ_CACHE``, else ``~/.cache/alviz``); one ``.npz`` per entry, named by a key that digests what the
entry depends on. Files are plain numpy (no pickle), written atomically (a reader never sees half a file), and
stamped with a format version so that a file from an older alviz is recomputed instead of being trusted.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """ALVIZ_CACHE, else ~/.cache/alviz."""
    return Path(os.environ.get("ALVIZ_CACHE", Path.home() / ".cache" / "alviz"))


def make_key(prefix: str, parts: str | Iterable[str], length: int = 20) -> str:
    """``prefix-<hex digest>``: the digest of ``parts`` (one string, or strings hashed one after another, so a
    key over a million file names never joins them in memory), cut to ``length`` hex digits."""
    h = hashlib.sha1()
    for part in [parts] if isinstance(parts, str) else parts:
        h.update(part.encode())
    return f"{prefix}-{h.hexdigest()[:length]}"


def entry_path(cache_dir: str | os.PathLike, key: str) -> Path:
    """Where the entry ``key`` lives in ``cache_dir``."""
    return Path(cache_dir) / f"{key}.npz"


def load(cache_dir: str | os.PathLike, key: str) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent, unreadable or from another cache version."""
    path = entry_path(cache_dir, key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["cache_version"]) != CACHE_VERSION:
                return None
            return {k: f[k] for k in f.files if k != "cache_version"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # a truncated or foreign file: recompute rather than crash


def save(cache_dir: str | os.PathLike, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store ``arrays`` as the entry ``key``: written to a temporary file, then renamed over the old entry."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, cache_version=np.int64(CACHE_VERSION), **arrays)
        os.replace(tmp, entry_path(cache_dir, key))
    except BaseException:  # a full disk, an interrupt: no half-written file is left behind
        tmp.unlink(missing_ok=True)
        raise
