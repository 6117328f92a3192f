"""2-D maps of embeddings: PCA at once, UMAP in a background process, both cached on disk.

umap-learn's numba JIT costs 20-80 s on the first fit in a process. The ``BackgroundProjector`` keeps one
worker process per server process, so that cost is paid once, never on a click, and PCA is shown meanwhile.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import sys
import types
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from alviz.embed import cache

UMAP_DEFAULTS = {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}


def data_key(X: np.ndarray, method: str, params: dict) -> str:
    h = hashlib.sha1(np.ascontiguousarray(X, dtype=np.float32).tobytes())
    h.update(f"{X.shape}{method}{sorted(params.items())}".encode())
    return f"proj-{method}-{h.hexdigest()[:20]}"


def pca_2d(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """First two principal components, scaled to unit variance on the first axis."""
    if len(X) < 3 or X.shape[1] < 2:
        raise ValueError(f"A 2-D map needs at least 3 items and 2 dimensions; got shape {X.shape}.")
    Z = PCA(n_components=2, random_state=seed).fit_transform(X)
    scale = Z[:, 0].std() or 1.0
    return (Z / scale).astype(np.float32)


def umap_2d(X: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> np.ndarray:
    """UMAP embedding into 2-D (slow on the first call in a process: numba compiles)."""
    import umap  # imported here: importing umap alone costs seconds of numba set-up

    n_neighbors = int(min(n_neighbors, len(X) - 1))
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1)
    return reducer.fit_transform(X).astype(np.float32)


def _umap_job(X: np.ndarray, params: dict, cache_dir: str, key: str) -> np.ndarray:
    Z = umap_2d(X, **params)
    cache.save(Path(cache_dir), key, {"Z": Z})
    return Z


def cached_projection(X: np.ndarray, method: str, cache_dir: Path, params: dict | None = None) -> np.ndarray | None:
    """A projection computed before for exactly this X, or None."""
    params = {**UMAP_DEFAULTS, **(params or {})} if method == "umap" else (params or {})
    hit = cache.load(cache_dir, data_key(X, method, params))
    return None if hit is None else hit["Z"]


class BackgroundProjector:
    """Computes UMAP maps in one long-lived worker process; results land in the disk cache too."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
        self._executor: ProcessPoolExecutor | None = None
        self._jobs: dict[str, Future] = {}

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: the server process has threads, and forking those is unsafe
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
        return self._executor

    def request(self, X: np.ndarray, params: dict | None = None) -> str:
        """Start (or find) the UMAP job for X; returns its key. Never blocks."""
        params = {**UMAP_DEFAULTS, **(params or {})}
        key = data_key(X, "umap", params)
        if key in self._jobs or cache.load(self.cache_dir, key) is not None:
            self._jobs.setdefault(key, _done_future(None))
            return key
        with _plain_main_module():
            fut = self._pool().submit(_umap_job, np.asarray(X, np.float32), params, str(self.cache_dir), key)
        self._jobs[key] = fut
        return key

    def status(self, key: str) -> str:
        """'running', 'done' or 'failed: <reason>'."""
        fut = self._jobs.get(key)
        if fut is None:
            return "failed: never requested"
        if not fut.done():
            return "running"
        exc = fut.exception()
        return "done" if exc is None else f"failed: {exc}"

    def result(self, key: str) -> np.ndarray | None:
        """The map if it is ready, else None."""
        if self.status(key) != "done":
            return None
        hit = cache.load(self.cache_dir, key)
        return None if hit is None else hit["Z"]

    def wait(self, key: str, timeout: float | None = None) -> np.ndarray | None:
        fut = self._jobs.get(key)
        if fut is not None:
            fut.result(timeout=timeout)
        return self.result(key)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


@contextmanager
def _plain_main_module():
    """Hide the running script from a spawned worker while it starts.

    spawn re-imports the parent's ``__main__`` by path in the child; under Streamlit that is the app script,
    so the worker would run the whole app (load, embed, open the store) before its first job.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _done_future(value) -> Future:
    fut: Future = Future()
    fut.set_result(value)
    return fut
