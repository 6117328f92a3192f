"""2-D maps of embeddings: PCA at once, UMAP in a background process, both cached on disk.

PCA is the instant preview: above ``PCA_FIT_ROWS`` items it is fit on a seeded sample and projects every item
in chunks (1M x 256 in about 2 CPU-seconds). UMAP on a big pool is fit on a seeded sample of ``SAMPLE_SIZE`` items and
places the rest with ``transform``, chunk by chunk, so a map of the sample exists early and progress can be told.

umap-learn's numba JIT costs one to two CPU-minutes on the first fit in a process (most of its functions are not
cached on disk). The ``BackgroundProjector`` keeps one worker process per server process that compiles once (ahead
of need when started with ``start``), computes the maps, and builds the kNN graph of "find more like these"
(``alviz.neighbors``) so the server process never does. The worker watches its parent and exits when the parent
dies, even by ``kill -9``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state

from alviz import cache, neighbors

UMAP_DEFAULTS = {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}
EXACT_MAX = 20_000  # pools up to here get the exact UMAP of every item
SAMPLE_SIZE = 15_000  # above it, UMAP is fit on a sample this big
CHUNK = 50_000  # items placed by one ``transform`` call: one progress step
TRANSFORM_EPOCHS = 30  # what umap-learn gives transform on >10k rows; fixed so that chunk size does not change it
PCA_FIT_ROWS = 100_000  # PCA fit on a sample this big: the axes of 1M items barely differ from those of 100k
WATCH_INTERVAL_S = 0.5  # how often the worker checks that its parent lives

# progress(placed, total, partial map or None, message)
Progress = Callable[[int, int, "np.ndarray | None", str], None]


def data_key(X: np.ndarray, method: str, params: dict) -> str:
    """The cache key of X's map by ``method`` with ``params`` (the content digest is remembered per array: no
    rehash per rerun)."""
    return cache.make_key(f"proj-{method}", (neighbors.digest(X), f"{X.shape}{method}{sorted(params.items())}"))


def pca_2d(X: np.ndarray, seed: int = 0, fit_rows: int = PCA_FIT_ROWS) -> np.ndarray:
    """First two principal components, scaled to unit variance on the first axis.

    Above ``fit_rows`` items the axes come from a seeded sample of that many rows; every row is projected, in
    chunks, so no centered copy of a big pool is made."""
    if len(X) < 3 or X.shape[1] < 2:
        raise ValueError(f"A 2-D map needs at least 3 items and 2 dimensions; got shape {X.shape}.")
    if len(X) <= fit_rows:
        Z = PCA(n_components=2, random_state=seed).fit_transform(X)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), fit_rows, replace=False))
        pca = PCA(n_components=2, random_state=seed).fit(np.asarray(X[rows], dtype=np.float32))
        mean, axes = pca.mean_.astype(np.float32), pca.components_.T.astype(np.float32)
        Z = np.empty((len(X), 2), dtype=np.float32)
        for start in range(0, len(X), 65_536):
            part = np.asarray(X[start : start + 65_536], dtype=np.float32)
            Z[start : start + len(part)] = (part - mean) @ axes
    scale = Z[:, 0].std() or 1.0
    return (Z / scale).astype(np.float32)


def _umap(n_neighbors: int, min_dist: float, seed: int, n_epochs: int | None = None):
    import umap  # imported here: importing umap alone costs seconds of numba set-up

    return umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1, n_epochs=n_epochs)


def umap_2d(
    X: np.ndarray,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    sample: int = SAMPLE_SIZE,
    exact_max: int = EXACT_MAX,
    chunk: int = CHUNK,
    n_epochs: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """UMAP embedding into 2-D (slow on the first call in a process: numba compiles).

    Up to ``exact_max`` items: UMAP of every item. Above: fit on a seeded sample of ``sample`` items, then
    ``transform`` the rest ``chunk`` at a time; ``progress`` hears of each step with the partial map (NaN rows
    are not placed yet)."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) < 3:
        raise ValueError(f"A 2-D map needs at least 3 items; got {len(X)}.")
    if sample < 3 or chunk < 1:
        raise ValueError(f"sample must be at least 3 and chunk at least 1; got {sample} and {chunk}.")
    with warnings.catch_warnings():
        # seeded UMAP runs on one thread and says so; a sample graph may be disconnected and spectral init says so
        warnings.filterwarnings("ignore", message=".*n_jobs.*|.*not fully connected.*")
        if len(X) <= max(exact_max, sample):
            reducer = _umap(int(min(n_neighbors, len(X) - 1)), min_dist, seed, n_epochs)
            Z = reducer.fit_transform(X).astype(np.float32)
            if progress is not None:
                progress(len(X), len(X), Z, "done")
            return Z
        rows = np.sort(np.random.default_rng(seed).choice(len(X), sample, replace=False))
        if progress is not None:
            progress(0, len(X), None, f"fitting UMAP on a sample of {sample:,} items")
        reducer = _umap(int(min(n_neighbors, sample - 1)), min_dist, seed, n_epochs).fit(X[rows])
        Z = np.full((len(X), 2), np.nan, dtype=np.float32)
        Z[rows] = reducer.embedding_
        reducer.n_epochs = 3 * TRANSFORM_EPOCHS  # transform runs n_epochs // 3
        rest = np.setdiff1d(np.arange(len(X)), rows)
        for start in range(0, len(rest), chunk):
            if progress is not None:
                placed = sample + start
                progress(placed, len(X), Z, f"placing the other items: {placed:,} of {len(X):,} on the map")
            part = rest[start : start + chunk]
            Z[part] = _place(reducer, X[part])
    if progress is not None:
        progress(len(X), len(X), Z, "done")
    return Z


def _place(reducer, X: np.ndarray) -> np.ndarray:
    """``reducer.transform(X)``, with umap-learn's per-row Python loop that starts each new point at the weighted
    mean of its neighbours (half of transform's time) done as one sparse product; the same result otherwise.
    Falls back to ``transform`` where umap-learn's internals differ from 0.5's."""
    try:
        from umap.layouts import optimize_layout_euclidean
        from umap.umap_ import INT32_MAX, INT32_MIN, make_epochs_per_sample

        a, b, alpha, seed = reducer._a, reducer._b, reducer._initial_alpha, reducer.transform_seed
    except (ImportError, AttributeError):
        return reducer.transform(X).astype(np.float32)
    if reducer.output_metric != "euclidean":
        return reducer.transform(X).astype(np.float32)
    reducer.transform_mode = "graph"  # the membership graph of the new points to the fitted ones
    try:
        graph = reducer.transform(X)  # COO, in umap-learn's edge order: the SGD below samples edges in it
    finally:
        reducer.transform_mode = "embedding"
    rows = graph.tocsr()
    rows.eliminate_zeros()
    sums = np.asarray(rows.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        init = (rows @ reducer.embedding_) / sums[:, None]  # no neighbour: NaN, as umap-learn does
    exact = rows.multiply(rows == 1).tocsr()  # a duplicate of a fitted point sits on it
    for row in np.flatnonzero(np.diff(exact.indptr)):
        init[row] = reducer.embedding_[exact.indices[exact.indptr[row]]]
    init = np.ascontiguousarray(init, dtype=np.float32)
    graph.data[graph.data < graph.data.max() / float(TRANSFORM_EPOCHS)] = 0.0
    graph.eliminate_zeros()
    rng_state = check_random_state(seed).randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    return optimize_layout_euclidean(
        init,
        reducer.embedding_.astype(np.float32, copy=True),
        graph.row,
        graph.col,
        TRANSFORM_EPOCHS,
        graph.shape[1],
        make_epochs_per_sample(graph.data, TRANSFORM_EPOCHS),
        a,
        b,
        rng_state,
        reducer.repulsion_strength,
        alpha / 4.0,
        reducer.negative_sample_rate,
    ).astype(np.float32)


def warm_numba() -> None:
    """Compile what a sample fit and transform compile (one to two CPU-minutes, once per process), on a small
    synthetic set taking the same code paths (more than 4,096 items: the approximate-neighbour path)."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(5_200, 8)) + 6.0 * rng.integers(0, 4, (5_200, 1))).astype(np.float32)
    umap_2d(X, sample=4_200, exact_max=0, chunk=1_000, n_epochs=20)
    neighbors.knn_graph(X, method="nndescent")


# ------------------------------------------------------------------------------------------------ the worker

_held: dict[str, np.ndarray] = {}  # in the worker: the last pool mapped, so its graph job need not resend it


def _watch_parent(parent_pid: int) -> None:
    # a parent killed outright (kill -9) runs no clean-up: the orphan notices its new parent and ends itself,
    # which also lets multiprocessing's resource tracker (kept alive by our end of its pipe) exit
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(0)


def _worker_start(parent_pid: int, warm: bool) -> None:
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="alviz-watch-parent").start()
    if warm:
        try:
            warm_numba()
        except Exception:  # a failed warm-up only costs the first job its compile time
            pass


def _progress_key(key: str) -> str:
    return f"{key}-progress"


def _partial_key(key: str) -> str:
    return f"{key}-partial"


def _umap_job(X: np.ndarray, params: dict, cache_dir: str, key: str, digest: str) -> None:
    _held.clear()
    _held[digest] = X
    where = Path(cache_dir)
    last_saved = [0.0]

    def report(placed: int, total: int, Z: np.ndarray | None, message: str) -> None:
        if Z is not None and placed < total and time.monotonic() - last_saved[0] > 2.0:
            cache.save(where, _partial_key(key), {"Z": Z})  # the map so far, at most every 2 s
            last_saved[0] = time.monotonic()
        cache.save(where, _progress_key(key), {"placed": np.int64(placed), "total": np.int64(total), "stage": message})

    Z = umap_2d(X, **params, progress=report)
    cache.save(where, key, {"Z": Z})
    for name in (_partial_key(key), _progress_key(key)):
        (where / f"{name}.npz").unlink(missing_ok=True)


def _graph_job(X: np.ndarray | None, digest: str, cache_dir: str, seed: int) -> bool:
    """Build and store the neighbour graph; False when X was not sent and the worker no longer holds it."""
    if X is None:
        X = _held.get(digest)
        if X is None:
            return False
    neighbors.save_graph(Path(cache_dir), digest, neighbors.knn_graph(X, seed=seed))
    return True


def cached_projection(X: np.ndarray, method: str, cache_dir: Path, params: dict | None = None) -> np.ndarray | None:
    """A projection computed before for exactly this X, or None."""
    params = {**UMAP_DEFAULTS, **(params or {})} if method == "umap" else (params or {})
    hit = cache.load(cache_dir, data_key(X, method, params))
    return None if hit is None else hit["Z"]


class BackgroundProjector:
    """Computes UMAP maps (and neighbour graphs) in one long-lived worker process; results land in the disk
    cache too. ``warm``: ``start`` compiles numba in the worker as it starts. ``graphs``: build the kNN graphs that
    ``alviz.neighbors`` needs in the worker rather than on a thread of this process."""

    def __init__(self, cache_dir: Path | None = None, warm: bool = True, graphs: bool = True) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
        self.warm = warm
        self._executor: ProcessPoolExecutor | None = None
        self._jobs: dict[str, Future] = {}
        self._results: dict[str, np.ndarray] = {}
        self._worker_holds: str | None = None  # digest of the pool the current worker keeps from its last map
        self._lock = threading.Lock()
        self._request_lock = threading.Lock()
        self._graphs = graphs
        if graphs:
            neighbors.build_with(self.build_graph)

    def _pool(self, warm: bool = False) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn, not fork: the server process has threads, and forking those is unsafe
                self._executor = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=mp.get_context("spawn"),
                    initializer=_worker_start,
                    initargs=(os.getpid(), warm),
                )
                self._worker_holds = None
            return self._executor

    def _submit(self, fn, *args, warm: bool = False) -> Future:
        for attempt in (0, 1):
            try:
                fresh = self._executor is None  # only a new pool spawns its worker (on its first submit)
                with _plain_main_module() if fresh else nullcontext():
                    return self._pool(warm).submit(fn, *args)
            except BrokenProcessPool:  # the worker died (killed, out of memory): start a new one, once
                with self._lock:
                    self._executor = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def start(self) -> None:
        """Start the worker now and, with ``warm``, compile numba there, so that the first map does not pay for it
        (call it when a pool loads). Never blocks. A worker started by ``request`` does not warm up: its first
        job compiles what it needs anyway, and a small pool's job needs less than the warm-up compiles."""
        self._submit(os.getpid, warm=self.warm)

    def worker_pid(self, timeout: float | None = None) -> int:
        """The worker's process id (starting it if needed; waits for it to be ready)."""
        return self._submit(os.getpid).result(timeout)

    def request(self, X: np.ndarray, params: dict | None = None) -> str:
        """Start (or find) the UMAP job for X; returns its key. Never blocks (the content digest is remembered
        per array, so repeated calls with the same array cost nothing)."""
        params = {**UMAP_DEFAULTS, **(params or {})}
        key = data_key(X, "umap", params)
        with self._request_lock:  # several browser sessions may ask at once: one job per key
            job = self._jobs.get(key)
            if job is not None and not (job.done() and isinstance(job.exception(), BrokenProcessPool)):
                return key  # running, done, or failed for a reason a retry would not change
            if cache.load(self.cache_dir, key) is not None:
                self._jobs[key] = _done_future(None)
                return key
            for name in (_partial_key(key), _progress_key(key)):  # left by a worker that died mid-job
                cache.entry_path(self.cache_dir, name).unlink(missing_ok=True)
            digest = neighbors.digest(X)
            X32 = np.asarray(X, np.float32)
            self._jobs[key] = self._submit(_umap_job, X32, params, str(self.cache_dir), key, digest)
            self._worker_holds = digest
        return key

    def status(self, key: str) -> str:
        """'running', 'done' or 'failed: <reason>'."""
        fut = self._jobs.get(key)
        if fut is None:
            return "failed: never requested"
        if not fut.done():
            return "running"
        exc = fut.exception()
        return "done" if exc is None else f"failed: {exc or type(exc).__name__}"

    def progress(self, key: str) -> tuple[float, str]:
        """(share of the items placed on the map, what the worker is doing): cheap enough to poll."""
        status = self.status(key)
        if status != "running":
            return (1.0, "done") if status == "done" else (0.0, status)
        hit = cache.load(self.cache_dir, _progress_key(key))
        if hit is None:
            return 0.0, "starting the UMAP worker (compiles once per server)"
        return float(hit["placed"]) / max(int(hit["total"]), 1), str(hit["stage"])

    def partial(self, key: str) -> np.ndarray | None:
        """The map so far: (N, 2) float32 with NaN rows for items not placed yet (the sample is placed first);
        the whole map once done; None before the sample is fit."""
        done = self.result(key)
        if done is not None:
            return done
        if self.status(key) != "running":
            return None
        hit = cache.load(self.cache_dir, _partial_key(key))
        return None if hit is None else hit["Z"]

    def result(self, key: str) -> np.ndarray | None:
        """The map if it is ready, else None."""
        if key in self._results:
            return self._results[key]
        if self.status(key) != "done":
            return None
        hit = cache.load(self.cache_dir, key)
        if hit is None:
            return None
        if len(self._results) >= 4:
            self._results.pop(next(iter(self._results)))
        self._results[key] = hit["Z"]
        return hit["Z"]

    def wait(self, key: str, timeout: float | None = None) -> np.ndarray | None:
        fut = self._jobs.get(key)
        if fut is not None:
            fut.result(timeout=timeout)
        return self.result(key)

    def build_graph(self, X: np.ndarray, digest: str, cache_dir: Path, seed: int = 0) -> None:
        """Build the neighbour graph of X in the worker and store it in ``cache_dir``; blocks until stored (the
        hook ``alviz.neighbors.build_with`` calls it on its background thread)."""
        if self._worker_holds == digest and self._submit(_graph_job, None, digest, str(cache_dir), seed).result():
            return  # the worker kept this pool from its map: nothing had to be sent
        self._submit(_graph_job, np.asarray(X, np.float32), digest, str(cache_dir), seed).result()

    def shutdown(self) -> None:
        """Stop the worker now (a running fit is abandoned) and stop routing graph builds to it."""
        if self._graphs:
            neighbors.build_with(None, only_if=self.build_graph)
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            processes = list((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                proc.terminate()
            for proc in processes:
                proc.join(timeout=5)


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
