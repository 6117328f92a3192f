"""Where and when: coverage of the pool by the labels, disputed labels and a stopping signal.

All plain numpy over the session's arrays; distances come from ``alviz.geometry`` (in blocks, never an N×N
matrix). "More like these" is ``alviz.neighbors``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alviz.geometry import min_sqdist, nearest


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
