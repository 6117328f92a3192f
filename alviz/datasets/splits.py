"""Subsets and held-out splits of a labeled dataset, by class and seeded."""

from __future__ import annotations

import numpy as np


def balanced_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset of ``n`` items with (as nearly as possible) equal counts per class.

    When ``n`` is not a multiple of the number of classes, the remainder goes to randomly chosen classes.
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if n > len(y):
        raise ValueError(f"Asked for a subset of {n} items, but only {len(y)} are available.")
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), n // len(classes))
    per_class[rng.choice(len(classes), n % len(classes), replace=False)] += 1
    short = [str(c) for c, have, want in zip(classes, counts, per_class, strict=True) if have < want]
    if short:
        raise ValueError(f"Cannot take {n} balanced items: classes {short} have fewer than {per_class.max()}.")
    picked = [rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(classes, per_class, strict=True)]
    return np.sort(np.concatenate(picked))


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): ``test_fraction`` of each class (rounded) goes to test; -1 rows stay in train.

    Each class keeps at least one item in train so the model can still learn it.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction}.")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y[y >= 0]):
        rows = np.flatnonzero(y == c)
        k = min(int(round(test_fraction * len(rows))), len(rows) - 1)
        test.append(rng.choice(rows, k, replace=False))
    test_idx = np.sort(np.concatenate(test)) if test else np.array([], dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx, test_idx.astype(np.int64)


def subset(pool_kwargs: dict, rows: np.ndarray) -> dict:
    """The same Pool arguments restricted to ``rows`` (arrays only; names and lists are kept)."""
    return {k: (v[rows] if isinstance(v, np.ndarray) else v) for k, v in pool_kwargs.items()}
