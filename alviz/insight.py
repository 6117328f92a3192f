"""Why, where and when: explanations for queries, neighbors, coverage, disputed labels and a stopping signal.

All plain numpy over the session's arrays; distances are computed in chunks, never as an N×N matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alviz.strategies.diversity import min_sqdist

CHUNK = 512
MAX_QUERY_ROWS = 1000  # a larger selection is represented by a seeded sample of this many items


def nearest(X: np.ndarray, rows: np.ndarray, candidates: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``, the k nearest of ``candidates`` (indices into X) and their distances."""
    rows, candidates = np.asarray(rows, dtype=np.int64), np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0:
        return np.empty((len(rows), 0), np.int64), np.empty((len(rows), 0), np.float32)
    k = min(k, len(candidates))
    C = X[candidates].astype(np.float32)
    cc = np.einsum("ij,ij->i", C, C)
    out_i = np.empty((len(rows), k), np.int64)
    out_d = np.empty((len(rows), k), np.float32)
    for s in range(0, len(rows), CHUNK):
        Q = X[rows[s : s + CHUNK]].astype(np.float32)
        d2 = np.maximum(np.einsum("ij,ij->i", Q, Q)[:, None] - 2 * Q @ C.T + cc[None, :], 0)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(candidates) else np.tile(np.arange(k), (len(Q), 1))
        pd = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(pd, axis=1)
        out_i[s : s + len(Q)] = candidates[np.take_along_axis(part, order, axis=1)]
        out_d[s : s + len(Q)] = np.sqrt(np.take_along_axis(pd, order, axis=1))
    return out_i, out_d


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


def more_like(X: np.ndarray, rows: np.ndarray, n: int, exclude: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """The n items closest to any of ``rows`` (nearest first), leaving out the rows themselves and ``exclude``.

    Cost O(|rows| · N · d) in chunks; a selection above MAX_QUERY_ROWS is represented by a seeded sample.
    For pools above ``alviz.neighbors.INDEX_THRESHOLD`` items, ``alviz.neighbors.more_like`` uses an index.
    """
    rows = check_selection(rows, len(X))
    if n <= 0:
        raise ValueError(f"n must be positive; got {n}.")
    query = rows if len(rows) <= MAX_QUERY_ROWS else np.random.default_rng(seed).choice(rows, MAX_QUERY_ROWS, False)
    dist = min_sqdist(X, X[query])
    dist[rows] = np.inf
    if exclude is not None:
        dist[exclude] = np.inf
    finite = np.flatnonzero(np.isfinite(dist))
    n = min(n, len(finite))
    best = finite[np.argpartition(dist[finite], n - 1)[:n]] if n < len(finite) else finite
    return best[np.argsort(dist[best], kind="stable")]


def coverage(X: np.ndarray, labeled: np.ndarray, radius: float) -> float:
    """Share of the pool whose nearest labeled item lies within ``radius``."""
    if not labeled.any():
        return 0.0
    return float((np.sqrt(min_sqdist(X, X[labeled])) <= radius).mean())


def typical_radius(X: np.ndarray, sample: int = 1000, seed: int = 0) -> float:
    """Median distance from an item to its nearest other item, on a seeded sample: the scale of 'near'."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(sample, len(X)), replace=False)
    _, d = nearest(X, rows, np.arange(len(X)), k=2)  # the first neighbour is the item itself
    return float(np.median(d[:, -1]))


@dataclass(frozen=True)
class Disputed:
    rows: np.ndarray  # items, most doubtful first
    given: np.ndarray  # the class each was labeled with
    predicted: np.ndarray  # the class the model now prefers
    confidence: np.ndarray  # the model's probability of its preferred class


def disputed_labels(proba: np.ndarray, y: np.ndarray, candidates: np.ndarray, threshold: float = 0.8) -> Disputed:
    """Labeled items (among ``candidates``) whose label the model now contradicts with probability ≥ threshold,
    ordered by how little probability it leaves to the given label."""
    candidates = np.asarray(candidates, dtype=np.int64)
    candidates = candidates[y[candidates] >= 0]
    pred = proba[candidates].argmax(axis=1)
    conf = proba[candidates, pred]
    keep = (pred != y[candidates]) & (conf >= threshold)
    rows, pred, conf = candidates[keep], pred[keep], conf[keep]
    order = np.argsort(proba[rows, y[rows]], kind="stable")
    return Disputed(rows[order], y[rows][order], pred[order], conf[order])


def stability(previous: np.ndarray, current: np.ndarray) -> float:
    """Share of a fixed unlabeled sample whose predicted class did not change between two rounds."""
    if len(previous) != len(current) or len(current) == 0:
        raise ValueError("stability compares two predictions of the same, non-empty sample")
    return float((previous == current).mean())


@dataclass(frozen=True)
class StopAdvice:
    stop: bool
    reason: str


def stop_advice(stabilities: list[float], threshold: float = 0.99, window: int = 3) -> StopAdvice:
    """'You can probably stop' once predictions on the stop set changed for < 1% of it in each of the last
    ``window`` rounds (stabilizing predictions, Bloodgood & Vijay-Shanker 2009)."""
    if len(stabilities) < window:
        return StopAdvice(False, f"Need {window} rounds of comparison; have {len(stabilities)}.")
    recent = stabilities[-window:]
    if min(recent) >= threshold:
        return StopAdvice(
            True,
            f"In each of the last {window} rounds, at most {1 - min(recent):.1%} of the unlabeled check sample "
            "changed its predicted class: new labels have stopped changing the model's mind. "
            "You can probably stop, or label only what the disputed list and the queue still flag.",
        )
    return StopAdvice(
        False,
        f"The model still changes its mind on {1 - recent[-1]:.1%} of the check sample per round "
        f"(stop below {1 - threshold:.0%} for {window} rounds in a row).",
    )
