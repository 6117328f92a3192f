"""Clusterings that depend only on the embedding, computed once per embedding array and shared by queries.

TypiClust and density-weighted entropy used to run k-means over the whole pool on every query, a cost that
grows with N. What they need does not depend on the labels: a fine k-means (at most ``FINE``
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

from alviz import geometry

FINE = 500  # clusters of the per-embedding k-means (TypiClust never asks for more)
SAMPLE = 10_000  # items that k-means is fit on and TypiClust picks from; the whole pool below this
ITERATIONS = 12  # Lloyd iterations: a fine clustering needs a good partition, not convergence to the last item
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
        return geometry.nearest_center(X, self.centers)


def fine_clusters(X: np.ndarray) -> FineClusters:
    """The embedding's fine k-means, computed on first use and then shared (see the module doc)."""
    store = derived(X)
    with _lock:  # a background retrain and a query may ask at once: compute it once
        if "fine" not in store:
            rng = np.random.default_rng(SEED)
            sample = np.arange(len(X)) if len(X) <= SAMPLE else np.sort(rng.choice(len(X), SAMPLE, replace=False))
            with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only contend
                labels, centers = geometry.lloyd(X[sample], min(FINE, len(sample)), rng, iterations=ITERATIONS)
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
