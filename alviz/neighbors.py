"""'Find more like these': the items nearest to a selection, found by one of two searches.

``exact_search`` compares every item with the selection (in blocks); ``graph_search`` walks an approximate
k-nearest-neighbour graph from the selection. ``more_like`` picks one: the exact search for pools of at most
``INDEX_THRESHOLD`` items and for selections whose exact search costs at most ``EXACT_BUDGET``, the graph
otherwise, once it is built.

The graph of an embedding (pynndescent's NN-descent; exact brute force on small pools) is built once per
embedding on a background thread (or, in the app, in the background worker process of ``alviz.projection``: see
``build_with``), kept in memory per process and on disk as a plain ``.npz`` of integers (no pickle; validated
when read), keyed by a digest of the embedding's bytes. Until the graph is ready the exact search answers, so a
click never waits for the build.

``graph_search`` is a best-first walk that starts at the selected items: every item reached carries its distance
to the selected item it was reached from; the walk expands items while they are among the closest ``beam`` found
so far, and the final candidates are ranked by their exact distance to the selection.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alviz import cache, geometry

INDEX_THRESHOLD = 20_000  # pools above this many items use the index (once it is built)
MAX_QUERY_ROWS = 1000  # a larger selection is represented by a seeded sample of this many items
GRAPH_K = 30  # neighbours per item in the graph
BRUTE_FORCE_MAX = 5_000  # the exact graph is cheap up to here; NN-descent above
GRAPH_VERSION = 1
MEMORY_ENTRIES = 4  # graphs kept in memory per process
# A selection whose exact search costs at most this many multiply-adds (rows x pool x dims) is searched exactly
# even when an index exists: as fast as the walk, and never misses a neighbour.
EXACT_BUDGET = 20_000_000

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alviz-neighbors")
_lock = threading.Lock()
_graphs: dict[str, np.ndarray] = {}  # digest -> graph, most recent last
_indexes: dict[int, tuple[weakref.ref, NeighborIndex]] = {}  # id(X) -> (X, its index)
_digests: dict[int, tuple[weakref.ref, str]] = {}  # id(X) -> (X, its digest)
Builder = Callable[[np.ndarray, str, Path, int], None]
_builder: Builder | None = None  # where graphs are built when not here (see build_with)


def knn_graph(X: np.ndarray, k: int = GRAPH_K, seed: int = 0, method: str = "auto") -> np.ndarray:
    """(N, k) int32: each item's k nearest other items, nearest first. ``method``: "exact" (chunked brute
    force, O(N² d)), "nndescent" (pynndescent, approximate) or "auto" (exact up to BRUTE_FORCE_MAX items)."""
    X = np.asarray(X, dtype=np.float32)
    k = min(k, len(X) - 1)
    if k < 1:
        raise ValueError(f"A neighbour graph needs at least 2 items; got {len(X)}.")
    if method == "auto":
        method = "exact" if len(X) <= BRUTE_FORCE_MAX else "nndescent"
    if method == "exact":
        idx, _ = geometry.nearest(X, np.arange(len(X)), np.arange(len(X)), k=k + 1)
        out = np.empty((len(X), k), dtype=np.int32)
        for i, row in enumerate(idx):  # drop the item itself (usually first; not always, with duplicates)
            out[i] = row[row != i][:k]
        return out
    if method != "nndescent":
        raise ValueError(f"Unknown graph method {method!r}; choose exact, nndescent or auto.")
    from pynndescent import NNDescent  # imported here: loading numba costs seconds

    index = NNDescent(X, n_neighbors=k + 1, metric="euclidean", random_state=seed, low_memory=True, compressed=True)
    idx, _ = index.neighbor_graph
    out = np.empty((len(X), k), dtype=np.int32)
    for i, row in enumerate(idx):
        row = row[(row != i) & (row >= 0)][:k]
        out[i, : len(row)] = row
        out[i, len(row) :] = row[-1] if len(row) else i  # NN-descent may leave a slot empty: repeat the last
    return out


def check_selection(rows: np.ndarray | list[int], n_items: int) -> np.ndarray:
    """The selection as sorted unique rows (a row given twice counts once). Raises ValueError on an empty
    selection, on rows that are not integers, or on rows outside 0..n_items-1."""
    rows = np.asarray(rows)
    if rows.size == 0:
        raise ValueError("Select at least one item to find more like it.")
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"Rows must be a flat list of integer row indices; got {rows.dtype} of shape {rows.shape}.")
    bad = rows[(rows < 0) | (rows >= n_items)]
    if len(bad):
        raise ValueError(
            f"Row indices must lie in 0..{n_items - 1}; got {len(bad)} outside it, e.g. {bad[:3].tolist()}."
        )
    return np.unique(rows.astype(np.int64))


def exact_search(
    X: np.ndarray, rows: np.ndarray | list[int], n: int, exclude: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """The n items closest to any of ``rows`` (nearest first), leaving out the rows themselves and ``exclude``,
    by comparing every item with the selection: O(|rows| · N · d) in blocks; a selection above MAX_QUERY_ROWS is
    represented by a seeded sample."""
    rows = check_selection(rows, len(X))
    if n <= 0:
        raise ValueError(f"n must be positive; got {n}.")
    query = rows if len(rows) <= MAX_QUERY_ROWS else np.random.default_rng(seed).choice(rows, MAX_QUERY_ROWS, False)
    dist = geometry.min_sqdist(X, X[query])
    dist[rows] = np.inf
    if exclude is not None:
        dist[exclude] = np.inf
    finite = np.flatnonzero(np.isfinite(dist))
    n = min(n, len(finite))
    best = finite[np.argpartition(dist[finite], n - 1)[:n]] if n < len(finite) else finite
    return best[np.argsort(dist[best], kind="stable")]


def graph_search(
    X: np.ndarray,
    graph: np.ndarray,
    rows: np.ndarray,
    n: int,
    exclude: np.ndarray | None = None,
    beam: int | None = None,
) -> np.ndarray | None:
    """The n items nearest to any of ``rows`` (nearest first), leaving out the rows and ``exclude``, by a
    best-first walk over ``graph``; None when the walk cannot answer well (a region cut off from the rest of
    the graph, or a walk that would visit a large part of the pool): the caller then searches exactly."""
    N = len(X)
    rows = np.asarray(rows, dtype=np.int64)
    blocked = np.zeros(N, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool).copy()
    blocked[rows] = True
    beam = max(4 * n, n + 64) if beam is None else max(beam, n)  # wider finds more of the true neighbours
    best = np.full(N, np.inf, dtype=np.float32)  # squared distance to the selected item an item was reached from
    best[rows] = 0.0
    source = np.full(N, -1, dtype=np.int64)
    source[rows] = rows
    expanded = np.zeros(N, dtype=bool)
    frontier = rows
    visited_limit = max(N // 2, 10 * beam)  # beyond this, the exact search costs less
    while len(frontier):
        expanded[frontier] = True
        nbrs = graph[frontier].astype(np.int64)  # (F, k)
        src = np.repeat(source[frontier], nbrs.shape[1])
        nbrs = nbrs.ravel()
        diff = X[nbrs] - X[src]
        d2 = np.einsum("ij,ij->i", diff, diff)
        improved = d2 < best[nbrs]
        nbrs, src, d2 = nbrs[improved], src[improved], d2[improved]
        order = np.argsort(d2, kind="stable")  # for repeated items keep the nearest source
        nbrs, first = np.unique(nbrs[order], return_index=True)
        best[nbrs], source[nbrs] = d2[order][first], src[order][first]
        reached = np.flatnonzero(np.isfinite(best))
        if len(reached) - len(rows) > visited_limit:
            return None
        open_ = reached[~blocked[reached]]
        bound = np.partition(best[open_], beam - 1)[beam - 1] if len(open_) >= beam else np.inf
        frontier = reached[~expanded[reached] & (best[reached] <= bound)]
    open_ = np.flatnonzero(np.isfinite(best) & ~blocked)
    if len(open_) < n and len(open_) < N - int(blocked.sum()):
        return None  # the walk ran dry before finding n items: the graph is cut here
    # rank the closest candidates by their exact distance to the whole selection
    shortlist = open_[np.argsort(best[open_], kind="stable")[:beam]]
    exact = geometry.min_sqdist(X[shortlist], X[rows])
    return shortlist[np.argsort(exact, kind="stable")[:n]]


def digest(X: np.ndarray) -> str:
    """Short content digest of an embedding: the key of its graph (and of its maps) in memory and on disk.
    Remembered per array object, since hashing a big pool is slow: an embedding is never changed in place."""
    key = id(X)
    with _lock:
        known = _digests.get(key)
    if known is not None and known[0]() is X:
        return known[1]
    arr = np.ascontiguousarray(X, dtype=np.float32)
    h = hashlib.blake2b(str(arr.shape).encode(), digest_size=12)
    h.update(memoryview(arr).cast("B"))
    value = h.hexdigest()
    try:
        ref = weakref.ref(X, lambda _ref: _digests.pop(key, None))
    except TypeError:  # not weak-referenceable (a subclass without slots): just don't remember
        return value
    with _lock:
        _digests[key] = (ref, value)
    return value


def save_graph(cache_dir: Path, key: str, graph: np.ndarray) -> None:
    """Store the graph of the embedding with digest ``key`` where ``NeighborIndex`` reads it."""
    payload = {"graph": np.asarray(graph, dtype=np.int32), "graph_version": np.int64(GRAPH_VERSION)}
    cache.save(cache_dir, _cache_key(key), payload)


def build_with(builder: Builder | None, only_if: Builder | None = None) -> None:
    """Build graphs of pools above ``BRUTE_FORCE_MAX`` items with ``builder(X, digest, cache_dir, seed)``,
    which must store the graph with ``save_graph`` and may block (it runs on the index's background thread):
    the app hands the build to its worker process so that the server keeps its cores for clicks. None: build here
    again. ``only_if``: change it only while that builder is the one in use (so a stopped worker unhooks only
    itself)."""
    global _builder
    with _lock:
        if only_if is None or _builder == only_if:
            _builder = builder


def _cache_key(key: str) -> str:
    return f"neighbors-k{GRAPH_K}-{key}"


def _load(cache_dir: Path, key: str, n_items: int) -> np.ndarray | None:
    hit = cache.load(cache_dir, _cache_key(key))
    if not hit or "graph" not in hit or int(hit.get("graph_version", -1)) != GRAPH_VERSION:
        return None
    graph = hit["graph"]
    ok = graph.ndim == 2 and len(graph) == n_items and np.issubdtype(graph.dtype, np.integer)
    if not ok or graph.size == 0 or graph.min() < 0 or graph.max() >= n_items:
        return None  # damaged or foreign: rebuild rather than trust it
    return graph.astype(np.int32, copy=False)


def _remember(key: str, graph: np.ndarray) -> None:
    with _lock:
        _graphs.pop(key, None)
        _graphs[key] = graph
        while len(_graphs) > MEMORY_ENTRIES:
            _graphs.pop(next(iter(_graphs)))


class NeighborIndex:
    """The kNN graph of one embedding, built (or read from memory or disk) on a background thread."""

    def __init__(self, X: np.ndarray, seed: int = 0, cache_dir: Path | None = None) -> None:
        self.X = X
        self.seed = seed
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
        self.job: Future | None = None
        self.error: BaseException | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start building (never blocks; a second call, from any thread, does nothing)."""
        with self._start_lock:
            if self.job is None:
                self.job = _executor.submit(self._build)

    def _build(self) -> np.ndarray:
        key = digest(self.X)
        with _lock:
            graph = _graphs.get(key)
        if graph is None:
            graph = _load(self.cache_dir, key, len(self.X))
        builder = _builder
        if graph is None and builder is not None and len(self.X) > BRUTE_FORCE_MAX:
            builder(self.X, key, self.cache_dir, self.seed)
            graph = _load(self.cache_dir, key, len(self.X))
            if graph is None:
                raise RuntimeError("the background worker stored no usable graph")
        if graph is None:
            graph = knn_graph(self.X, seed=self.seed)
            try:
                save_graph(self.cache_dir, key, graph)
            except OSError:
                pass  # a read-only cache only costs a rebuild in the next process
        _remember(key, graph)
        return graph

    @property
    def ready(self) -> bool:
        return self.job is not None and self.job.done() and self.job.exception() is None

    def graph(self) -> np.ndarray | None:
        """The graph when built, else None (and the build is started)."""
        self.start()
        if not self.job.done():
            return None
        if self.job.exception() is not None:
            self.error = self.job.exception()
            return None
        return self.job.result()

    def wait(self, timeout: float | None = None) -> np.ndarray:
        """Block until the graph is built (for scripts, benchmarks and tests; a UI never calls this)."""
        self.start()
        return self.job.result(timeout)


def _forget(key: int) -> None:
    try:
        _indexes.pop(key, None)
    except AttributeError:  # interpreter shutdown: the module's globals are gone already
        pass


def index_for(X: np.ndarray, seed: int = 0) -> NeighborIndex:
    """The one NeighborIndex of this embedding array in this process (not started)."""
    with _lock:
        entry = _indexes.get(id(X))
        if entry is not None and entry[0]() is X:
            return entry[1]
        index = NeighborIndex(X, seed=seed)
        key = id(X)
        _indexes[key] = (weakref.ref(X, lambda _ref: _forget(key)), index)
        return index


def more_like(
    X: np.ndarray,
    rows: np.ndarray | list[int],
    n: int,
    exclude: np.ndarray | None = None,
    seed: int = 0,
    threshold: int | None = None,
    exact_budget: int | None = None,
) -> tuple[np.ndarray, str]:
    """The n items closest to any of ``rows``, nearest first, leaving out the rows and ``exclude``; and how
    they were found: "exact", "index", "exact (index building)" or "exact (the index failed: ...)". A selection above
    ``MAX_QUERY_ROWS`` items is represented by a seeded sample of that many, as in the exact search.
    ``threshold`` and ``exact_budget`` default to INDEX_THRESHOLD and EXACT_BUDGET."""
    rows = check_selection(rows, len(X))
    if n <= 0:
        raise ValueError(f"n must be positive; got {n}.")
    threshold = INDEX_THRESHOLD if threshold is None else threshold
    budget = EXACT_BUDGET if exact_budget is None else exact_budget
    cost = min(len(rows), MAX_QUERY_ROWS) * X.shape[0] * X.shape[1]
    if len(X) <= threshold or cost <= budget:
        return exact_search(X, rows, n, exclude=exclude, seed=seed), "exact"
    index = index_for(X, seed=seed)
    graph = index.graph()
    if graph is None:
        how = "exact (index building)" if index.error is None else f"exact (the index failed: {index.error})"
        return exact_search(X, rows, n, exclude=exclude, seed=seed), how
    query = rows
    if len(rows) > MAX_QUERY_ROWS:
        query = np.random.default_rng(seed).choice(rows, MAX_QUERY_ROWS, replace=False)
    blocked = np.zeros(len(X), dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool).copy()
    blocked[rows] = True  # the whole selection is left out, also the rows outside the sample
    found = graph_search(X, graph, query, n, exclude=blocked)
    if found is None:
        return exact_search(X, rows, n, exclude=exclude, seed=seed), "exact"
    return found, "index"


def warm(X: np.ndarray, seed: int = 0, threshold: int | None = None) -> bool:
    """Start building the index of a pool above the threshold in the background (never blocks), so that it is
    ready by the time someone asks for more like a selection; True when the pool uses an index."""
    if len(X) <= (INDEX_THRESHOLD if threshold is None else threshold):
        return False
    index_for(X, seed=seed).start()
    return True
