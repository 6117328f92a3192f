"""Disk cache for embeddings, keyed by (pool hash, embedder, params).

Files are plain ``.npz`` (no pickle), written atomically, and carry a format version so that a file
from an older alviz is recomputed instead of being trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """ALVIZ_CACHE, else ~/.cache/alviz."""
    return Path(os.environ.get("ALVIZ_CACHE", Path.home() / ".cache" / "alviz"))


def cache_key(pool_hash: str, method: str, params: dict) -> str:
    blob = json.dumps({"pool": pool_hash, "method": method, "params": params}, sort_keys=True)
    return f"{method}-{hashlib.sha1(blob.encode()).hexdigest()[:20]}"


def load(cache_dir: Path, key: str) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent, unreadable or from another cache version."""
    path = Path(cache_dir) / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["cache_version"]) != CACHE_VERSION:
                return None
            return {k: f[k] for k in f.files if k != "cache_version"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # a truncated or foreign file: recompute rather than crash


def save(cache_dir: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, cache_version=np.int64(CACHE_VERSION), **arrays)
        os.replace(tmp, cache_dir / f"{key}.npz")
    except BaseException:  # a full disk, an interrupt: no half-written file is left behind
        tmp.unlink(missing_ok=True)
        raise
