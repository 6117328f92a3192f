"""Per-item scores over a pool, all (N,) float32 where larger means "more worth a look".

``SCORES`` is the table of the scores a user can color the map by: name -> ``ScoreInfo`` (a UI label, what it
needs of the session's inputs, the function). The session's "Color by" and the strategies that rank by one of
them (least_confidence, margin, entropy, consistency) read the same entry. The functions below it are pure:
uncertainty scores take (N, C) predicted probabilities, committee scores (M, N, C) probabilities of a bagged
committee; ``similarity`` measures how close an item lies to what is already labeled (cosine to the nearest
labeled class centroid).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scores sit below the strategies: no import of them at run time
    from alviz.strategies.base import QueryContext

EPS = 1e-6  # probabilities are clipped here before the logs of symmetric_kl: a class both rule out adds nothing


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


def vote_entropy(committee_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' hard votes, (M, N, C) -> (N,); the soft consensus breaks ties."""
    m, n, c = committee_proba.shape
    votes = committee_proba.argmax(axis=2)  # (M, N)
    share = np.stack([(votes == j).mean(axis=0) for j in range(c)], axis=1)  # (N, C) vote shares
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(share > 0, share * np.log(share), 0.0).sum(axis=1)
    consensus = np.clip(committee_proba.mean(axis=0), 1e-12, 1.0)
    soft = -(consensus * np.log(consensus)).sum(axis=1)
    return h + 1e-3 * soft / np.log(max(c, 2))


def kl_consensus(committee_proba: np.ndarray) -> np.ndarray:
    """Mean KL divergence of each member from the consensus, (M, N, C) -> (N,)."""
    p = np.clip(committee_proba, 1e-12, 1.0)
    mean = p.mean(axis=0, keepdims=True)
    return (p * (np.log(p) - np.log(mean))).sum(axis=2).mean(axis=0)


def _entropy64(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def committee_scores(committee_proba: np.ndarray) -> dict[str, np.ndarray]:
    """uncertainty, disagreement and difficulty per item from (M, N, C) committee probabilities, each in [0, 1]
    (scaled by log C).

    - uncertainty: the entropy of the committee's mean prediction (the item sits between classes);
    - disagreement: the committee's Jensen-Shannon divergence, entropy of the mean minus the mean of the members'
      entropies (models trained on resampled labels do not agree: the labels so far do not pin it down);
    - difficulty: their mean. An item can be uncertain but agreed on (a true border case every model sees the
      same way) or confidently predicted by each member but differently (too few labels nearby): both are work.
    """
    cp = np.asarray(committee_proba, dtype=np.float64)
    if cp.ndim != 3 or len(cp) < 2:
        raise ValueError(f"difficulty needs a committee of at least 2 models: (M, N, C) with M >= 2; got {cp.shape}")
    n_classes = cp.shape[2]
    scale = np.log(n_classes) if n_classes > 1 else 1.0
    uncertainty = _entropy64(cp.mean(axis=0)) / scale
    disagreement = np.maximum(uncertainty - _entropy64(cp).mean(axis=0) / scale, 0.0)
    return {
        "uncertainty": uncertainty.astype(np.float32),
        "disagreement": disagreement.astype(np.float32),
        "difficulty": ((uncertainty + disagreement) / 2).astype(np.float32),
    }


def symmetric_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p‖q) + KL(q‖p) = Σ (p - q)(log p - log q) per row, (N, C) x (N, C) -> (N,) float32; 0 when p = q.

    The narrower of the two is padded with zeros (a model fit before the newest classes existed)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    width = max(p.shape[1], q.shape[1])
    p = np.pad(p, ((0, 0), (0, width - p.shape[1])))
    q = np.pad(q, ((0, 0), (0, width - q.shape[1])))
    p, q = np.clip(p, EPS, 1.0), np.clip(q, EPS, 1.0)
    return ((p - q) * (np.log(p) - np.log(q))).sum(axis=1).astype(np.float32)


def expected_gradient_length(proba: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """Expected gradient length of the softmax cross-entropy w.r.t. a linear head's weights.

    For label y the gradient is (p - e_y) ⊗ x, whose norm is ||p - e_y|| · ||x||, and
    ||p - e_y||² = Σp² - 2 p_y + 1; the expectation is over y ~ p. ``feats``: the (N,) lengths of the head's
    inputs, or the (N, d) inputs themselves.
    """
    p = np.asarray(proba, dtype=np.float32)
    sq = (p**2).sum(axis=1, keepdims=True)
    per_label = np.sqrt(np.maximum(sq - 2 * p + 1, 0.0))
    norms = feats if feats.ndim == 1 else np.linalg.norm(feats, axis=1)
    return (p * per_label).sum(axis=1) * norms


UNCERTAINTY = {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}

# What a score may need of the session's inputs (fields of a QueryContext); "labels": at least one labeled item.
_READY: dict[str, Callable[[QueryContext], bool]] = {
    "proba": lambda ctx: ctx.proba is not None,
    "model": lambda ctx: ctx.model is not None,
    "committee": lambda ctx: ctx.committee_proba is not None,
    "flip": lambda ctx: ctx.X_flip is not None,
    "labels": lambda ctx: bool(ctx.labeled.any()),
}


@dataclass(frozen=True)
class ScoreInfo:
    """One per-item score: what the UI calls it, what it needs, and how it is computed."""

    name: str
    label: str  # the "Color by" option
    needs: frozenset[str]  # a subset of _READY's keys
    fn: Callable[[QueryContext], np.ndarray]

    def __call__(self, ctx: QueryContext) -> np.ndarray | None:
        """(N,) float32 score of every item, or None while an input it needs is missing (no model, no labels)."""
        if not all(_READY[need](ctx) for need in self.needs):
            return None
        return self.fn(ctx)


def _similarity(ctx: QueryContext) -> np.ndarray:
    return similarity(ctx.X, ctx.y, int(ctx.y.max()) + 1)[0]  # classes without labels do not change it


def _consistency(ctx: QueryContext) -> np.ndarray:
    return symmetric_kl(ctx.proba, ctx.model.predict_proba(ctx.X_flip))  # image vs mirror image


SCORES: dict[str, ScoreInfo] = {  # in the order "Color by" lists them
    info.name: info
    for info in (
        ScoreInfo("entropy", "Uncertainty (entropy)", frozenset({"proba"}), lambda ctx: entropy(ctx.proba)),
        ScoreInfo("margin", "Uncertainty (margin)", frozenset({"proba"}), lambda ctx: margin(ctx.proba)),
        ScoreInfo(
            "least_confidence",
            "Uncertainty (least confidence)",
            frozenset({"proba"}),
            lambda ctx: least_confidence(ctx.proba),
        ),
        ScoreInfo("similarity", "Similarity to labeled classes", frozenset({"labels"}), _similarity),
        ScoreInfo(
            "disagreement",
            "Committee disagreement",
            frozenset({"committee"}),
            lambda ctx: committee_scores(ctx.committee_proba)["disagreement"],
        ),
        ScoreInfo(
            "difficulty",
            "Difficulty (uncertainty + disagreement)",
            frozenset({"committee"}),
            lambda ctx: committee_scores(ctx.committee_proba)["difficulty"],
        ),
        ScoreInfo(
            "consistency",
            "Flip consistency (image vs mirror image)",
            frozenset({"proba", "model", "flip"}),  # image pools only
            _consistency,
        ),
    )
}
LABELS: dict[str, str] = {name: info.label for name, info in SCORES.items()}  # score -> its "Color by" label
