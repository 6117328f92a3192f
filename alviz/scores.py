"""Per-item measures over a pool, all (N,) float32 where larger means "more worth a look".

Uncertainty scores take (N, C) predicted probabilities. ``similarity`` measures how close an item
lies to what is already labeled (cosine to the nearest labeled class centroid).
"""

from __future__ import annotations

import numpy as np


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """1 - max p: high when the top class is weak."""
    return (1.0 - proba.max(axis=1)).astype(np.float32)


def margin(proba: np.ndarray) -> np.ndarray:
    """1 - (p1 - p2): high when the two best classes are close."""
    if proba.shape[1] < 2:
        return np.zeros(len(proba), dtype=np.float32)
    top2 = np.partition(proba, -2, axis=1)[:, -2:]
    return (1.0 - (top2[:, 1] - top2[:, 0])).astype(np.float32)


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy of the predicted distribution, in nats."""
    p = np.clip(proba, 1e-12, 1.0)
    return (-(proba * np.log(p)).sum(axis=1)).astype(np.float32)


def _unit(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


ROWS = 32_768  # rows per block for pool-wide products: no centered copy of a 1M-item pool


def _pool_mean(X: np.ndarray) -> np.ndarray:
    return X.mean(axis=0, dtype=np.float64).astype(np.float32)


def class_centroids(
    X: np.ndarray, y: np.ndarray, n_classes: int, mean: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(C, d) unit-length mean direction of each labeled class, and a (C,) mask of classes with labels.
    Items are centered on ``mean`` (default: the pool mean) first."""
    mean = _pool_mean(X) if mean is None else mean
    cents = np.zeros((n_classes, X.shape[1]), dtype=np.float32)
    has = np.zeros(n_classes, dtype=bool)
    for c in np.unique(y[y >= 0]):
        cents[c] = _unit(X[y == c] - mean).mean(axis=0)  # only the labeled rows are centered and normalized
        has[c] = True
    return _unit(cents), has


def similarity(X: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of each item to its nearest labeled class centroid, and that class.

    Items are centered on the pool mean first: raw embeddings (pixels, ReLU features) all point the
    same way, which would make every cosine close to 1. Returns zeros and -1 when nothing is labeled.
    """
    mean = _pool_mean(X)
    cents, has = class_centroids(X, y, n_classes, mean)
    if not has.any():
        return np.zeros(len(X), dtype=np.float32), np.full(len(X), -1, dtype=np.int64)
    sim = np.empty(len(X), dtype=np.float32)
    best = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), ROWS):
        sims = _unit(X[start : start + ROWS] - mean) @ cents[has].T
        best[start : start + len(sims)] = sims.argmax(axis=1)
        sim[start : start + len(sims)] = sims.max(axis=1)
    return sim, np.flatnonzero(has)[best]


UNCERTAINTY = {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}
