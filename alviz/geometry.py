"""The ground floor: distances, nearest items and k-means over embeddings, for strategies, insight, difficulty and
the neighbour search. Plain numpy in float32 blocks: never an N x N matrix, never a float64 copy of a pool."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from threadpoolctl import threadpool_limits

CENTERS = 1024  # centers per block in min_sqdist
QUERY_ROWS = 512  # query rows per block in nearest
ROWS = 4096  # rows per block in nearest_center: (4096, 500) float32 is 8 MB
FULL_KMEANS = 500_000  # items x clusters up to which kmeans runs full k-means on every item


def min_sqdist(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distance of each row of X to its nearest center, in blocks of centers (bounded memory)."""
    X = np.asarray(X, dtype=np.float32)
    xx = np.einsum("ij,ij->i", X, X)
    best = np.full(len(X), np.inf, dtype=np.float32)
    for start in range(0, len(centers), CENTERS):
        C = np.asarray(centers[start : start + CENTERS], dtype=np.float32)
        d = xx[:, None] - 2.0 * (X @ C.T) + np.einsum("ij,ij->i", C, C)[None, :]
        np.minimum(best, d.min(axis=1), out=best)
    return np.maximum(best, 0.0)


def sqdist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(len(A), len(B)) squared distances between the rows of A and of B (for small A and B)."""
    d = np.einsum("ij,ij->i", A, A)[:, None] - 2.0 * (A @ B.T) + np.einsum("ij,ij->i", B, B)[None, :]
    return np.maximum(d, 0.0)


def nearest(X: np.ndarray, rows: np.ndarray, candidates: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``, the k nearest of ``candidates`` (indices into X) and their distances, nearest first."""
    rows, candidates = np.asarray(rows, dtype=np.int64), np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return np.empty((len(rows), 0), np.int64), np.empty((len(rows), 0), np.float32)
    k = min(k, len(candidates))
    C = X[candidates].astype(np.float32)
    cc = np.einsum("ij,ij->i", C, C)
    out_i = np.empty((len(rows), k), np.int64)
    out_d = np.empty((len(rows), k), np.float32)
    for s in range(0, len(rows), QUERY_ROWS):
        Q = X[rows[s : s + QUERY_ROWS]].astype(np.float32)
        d2 = np.maximum(np.einsum("ij,ij->i", Q, Q)[:, None] - 2 * Q @ C.T + cc[None, :], 0)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(candidates) else np.tile(np.arange(k), (len(Q), 1))
        pd = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(pd, axis=1)
        out_i[s : s + len(Q)] = candidates[np.take_along_axis(part, order, axis=1)]
        out_d[s : s + len(Q)] = np.sqrt(np.take_along_axis(pd, order, axis=1))
    return out_i, out_d


def nearest_center(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
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


def lloyd(X: np.ndarray, k: int, rng: np.random.Generator, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centers) of plain k-means in float32, started from k distinct random rows.

    No k-means++ seeding and no mini-batches: a partition fine enough to merge later needs neither, and each
    iteration is one float32 matrix product."""
    X = np.asarray(X, dtype=np.float32)
    k = int(min(k, len(X)))
    centers = X[rng.choice(len(X), k, replace=False)].copy()
    labels = np.full(len(X), -1, dtype=np.int64)
    for _ in range(iterations):
        new = nearest_center(X, centers)
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


def kmeans(X: np.ndarray, n_clusters: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centers) of k-means. Beyond N·K = FULL_KMEANS, mini-batch k-means fit on a sample of at most
    max(20·K, 10k) items, then every item assigned: full k-means there costs N·K·d per iteration."""
    n_clusters = int(max(1, min(n_clusters, len(X))))
    seed = int(rng.integers(2**31 - 1))
    X = np.asarray(X, dtype=np.float32)
    if len(X) * n_clusters <= FULL_KMEANS:
        with threadpool_limits(limits=1):  # small inputs: threads only contend
            km = KMeans(n_clusters, n_init=1, max_iter=100, random_state=seed).fit(X)
        return km.labels_, km.cluster_centers_
    n_fit = min(len(X), max(20 * n_clusters, 10_000))
    sample = X[rng.choice(len(X), n_fit, replace=False)] if n_fit < len(X) else X
    sample = sample.astype(np.float64)  # sklearn's float32 distances take a slow upcasting path in k-means++
    km = MiniBatchKMeans(n_clusters, batch_size=2048, n_init=1, max_iter=10, random_state=seed).fit(sample)
    return nearest_center(X, km.cluster_centers_), km.cluster_centers_  # float32 blocks, no float64 pool copy
