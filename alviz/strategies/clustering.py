"""Clusterings that depend only on the embedding, computed once per embedding array and shared by queries.

TypiClust and density-weighted entropy used to run k-means over the whole pool on every query (2.9 CPU-s at
10k items, growing with N). What they need does not depend on the labels: a fine k-means (at most ``FINE``
clusters) of a fixed sample of at most ``SAMPLE`` items. A query that wants fewer, coarser clusters merges the
fine centers with a k-means weighted by their sizes (hundreds of points, milliseconds). The cache is keyed on
the embedding array's identity and lives as long as the array does; an embedding is never changed in place.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

FINE = 500  # clusters of the per-embedding k-means (TypiClust never asks for more)
SAMPLE = 10_000  # items that k-means is fit on and TypiClust picks from; the whole pool below this
ITERATIONS = 12  # Lloyd iterations: a fine clustering needs a good partition, not convergence to the last item
ROWS = 4096  # rows per distance block: (4096, 500) float32 is 8 MB
SEED = 0  # the per-embedding clustering is the same whichever query asks first

_cache: dict[int, tuple[weakref.ref, dict]] = {}
_lock = threading.RLock()


def derived(X: np.ndarray) -> dict:
    """A dict of things derived from the embedding ``X`` alone, kept while ``X`` lives (by identity)."""
    key = id(X)
    with _lock:
        entry = _cache.get(key)
        if entry is not None and entry[0]() is X:
            return entry[1]

        def forget(ref: weakref.ref, key: int = key) -> None:
            if key in _cache and _cache[key][0] is ref:
                del _cache[key]

        store: dict = {}
        _cache[key] = (weakref.ref(X, forget), store)
        return store


@dataclass(frozen=True)
class FineClusters:
    sample: np.ndarray  # (S,) sorted pool rows the clustering was fit on
    labels: np.ndarray  # (S,) fine cluster of each sampled row
    centers: np.ndarray  # (K, d) float32
    sizes: np.ndarray  # (K,) sampled rows per fine cluster

    def assign(self, X: np.ndarray) -> np.ndarray:
        """Nearest fine center of each row of X (any rows of the pool, sampled or not)."""
        return nearest(X, self.centers)


def nearest(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center (squared Euclidean) for each row, in blocks of rows."""
    X = np.asarray(X, dtype=np.float32)
    centers = np.asarray(centers, dtype=np.float32)
    cc = np.einsum("ij,ij->i", centers, centers)
    out = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), ROWS):
        block = X[start : start + ROWS]
        d = block @ centers.T
        d *= -2.0
        d += cc  # ||x||² is the same for every center: not needed for the argmin
        out[start : start + len(block)] = d.argmin(axis=1)
    return out


def lloyd(
    X: np.ndarray, k: int, rng: np.random.Generator, iterations: int = ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centers) of plain k-means in float32, started from k distinct random rows.

    sklearn's k-means++ seeding and mini-batch steps cost 7 CPU-s for 500 clusters of 20k x 256 here; a fine
    partition needs neither: each iteration is one float32 matrix product."""
    X = np.asarray(X, dtype=np.float32)
    k = int(min(k, len(X)))
    centers = X[rng.choice(len(X), k, replace=False)].copy()
    labels = np.full(len(X), -1, dtype=np.int64)
    for _ in range(iterations):
        new = nearest(X, centers)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros((k, X.shape[1]), dtype=np.float64)
        _sum_by_label(sums, labels, X)
        filled = counts > 0  # an empty cluster keeps its center: it is a sampled row, so it wins one next time
        centers[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
    return labels, centers


def _sum_by_label(sums: np.ndarray, labels: np.ndarray, X: np.ndarray) -> None:
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sums[sorted_labels[starts]] = np.add.reduceat(X[order].astype(np.float64), starts, axis=0)


def fine_clusters(X: np.ndarray) -> FineClusters:
    """The embedding's fine k-means, computed on first use and then shared (see the module doc)."""
    store = derived(X)
    with _lock:  # a background retrain and a query may ask at once: compute it once
        if "fine" not in store:
            rng = np.random.default_rng(SEED)
            sample = np.arange(len(X)) if len(X) <= SAMPLE else np.sort(rng.choice(len(X), SAMPLE, replace=False))
            with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only contend
                labels, centers = lloyd(X[sample], min(FINE, len(sample)), rng)
            sizes = np.bincount(labels, minlength=len(centers))
            store["fine"] = FineClusters(sample, labels, centers, sizes)
        return store["fine"]


def coarse(fine: FineClusters, n_clusters: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(cluster of each fine cluster, centers): ``n_clusters`` clusters from a k-means over the fine centers
    weighted by their sizes (what k-means over the sample would find, at the cost of a few hundred points)."""
    used = np.flatnonzero(fine.sizes > 0)
    n_clusters = int(max(1, min(n_clusters, len(used))))
    of_fine = np.zeros(len(fine.centers), dtype=np.int64)
    if n_clusters == len(used):  # as many as there are: the fine clusters themselves
        of_fine[used] = np.arange(len(used))
        return of_fine, fine.centers[used]
    seed = int(rng.integers(2**31 - 1))
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters, n_init=1, max_iter=100, random_state=seed)
        km.fit(fine.centers[used].astype(np.float64), sample_weight=fine.sizes[used].astype(np.float64))
    of_fine[used] = km.labels_  # an empty fine cluster has no members: where it goes does not matter
    return of_fine, km.cluster_centers_.astype(np.float32)
