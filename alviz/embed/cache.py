"""The embedders' cache keys, on alviz's one disk cache (``alviz.cache``): an embedding, or a network trained for
one, is keyed by (pool hash, method, params). The storage names are re-exported so ``alviz.embed.cache`` is all an
embedder needs."""

from __future__ import annotations

import json

from alviz.cache import CACHE_VERSION, default_cache_dir, entry_path, load, make_key, save

__all__ = ["CACHE_VERSION", "cache_key", "default_cache_dir", "entry_path", "load", "save"]


def cache_key(pool_hash: str, method: str, params: dict) -> str:
    return make_key(method, json.dumps({"pool": pool_hash, "method": method, "params": params}, sort_keys=True))
