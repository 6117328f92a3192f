"""Embedders: pool in, float32 (N, d) out, cached on disk.

Each embedder is a module with ``embed(pool, **params, progress=None) -> (X, X_test)`` and a ``DEFAULTS``
dict. ``progress`` is a callable ``(fraction, message)``; the app passes one that drives ``st.progress``
and the CLI one that drives ``tqdm``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alviz.embed import cache, pixels_pca
from alviz.pool import Pool

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Embedding:
    X: np.ndarray  # (N, d) float32, row i = pool item i
    X_test: np.ndarray | None  # (N_test, d) for pool.test, when the pool has one
    method: str
    from_cache: bool = False


def _precomputed(pool: Pool, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    if pool.vectors is None:
        raise ValueError(f"'precomputed' needs a pool with vectors; {pool.name!r} holds {pool.kind}.")
    X_test = pool.test.vectors if pool.test is not None else None
    return pool.vectors, X_test


EMBEDDERS: dict[str, tuple[Callable, dict]] = {
    "pixels_pca": (pixels_pca.embed, pixels_pca.DEFAULTS),
    "precomputed": (_precomputed, {}),
}


def available_for(pool: Pool) -> list[str]:
    """Embedder names that can run on this pool."""
    if pool.kind == "images":
        return ["pixels_pca"]
    if pool.kind == "vectors":
        return ["precomputed"]
    return []


def embed(
    pool: Pool,
    method: str = "pixels_pca",
    params: dict | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Embedding:
    """Embed the pool (and its test part), reusing the disk cache when the same work was done before."""
    if method not in EMBEDDERS:
        raise ValueError(f"Unknown embedder {method!r}; choose one of {sorted(EMBEDDERS)}.")
    fn, defaults = EMBEDDERS[method]
    unknown = set(params or {}) - set(defaults)
    if unknown:
        raise ValueError(f"{method} takes parameters {sorted(defaults)}; got unknown {sorted(unknown)}.")
    full = {**defaults, **(params or {})}
    if method == "precomputed":  # nothing to compute, nothing to cache
        X, X_test = fn(pool)
        return Embedding(X, X_test, method)
    cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    key = cache.cache_key(pool.content_hash(), method, full)
    hit = cache.load(cache_dir, key)
    if hit is not None and len(hit.get("X", ())) == len(pool):
        if progress:
            progress(1.0, "loaded from cache")
        return Embedding(hit["X"], hit.get("X_test"), method, from_cache=True)
    X, X_test = fn(pool, **full, progress=progress)
    X = np.asarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{method} produced NaN or inf embeddings; refusing to use them.")
    arrays = {"X": X} if X_test is None else {"X": X, "X_test": np.asarray(X_test, dtype=np.float32)}
    cache.save(cache_dir, key, arrays)
    return Embedding(X, arrays.get("X_test"), method)
