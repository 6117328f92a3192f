"""Difficulty: which items, and which regions of the pool, will need a human's attention.

Per item, two kinds of doubt, each scaled to [0, 1] by log(C):
- uncertainty: the entropy of the committee's mean prediction (the item sits between classes), and
- disagreement: the committee's Jensen-Shannon divergence, entropy of the mean minus the mean of the members'
  entropies (the models trained on resampled labels do not agree: the labels so far do not pin it down).
Difficulty is their mean. An item can be uncertain but agreed on (a true border case every model sees the
same way) or confidently predicted by each member but differently (too few labels nearby): both are work.

Per cluster (k-means on the embedding): size, labels so far, mean difficulty, the share of its items among
the pool's hardest tenth (difficulty is relative: its level depends on the classes and the labels), and
the expected work left, the summed difficulty of its unlabeled items, a rough count of items a human will
have to look at there. Clusters come ranked by that, for planning who labels what.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alviz.strategies.diversity import cluster

HARDEST = 0.1  # a cluster's hard share: how many of its items are among the pool's hardest 10%


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def item_scores(committee_proba: np.ndarray) -> dict[str, np.ndarray]:
    """uncertainty, disagreement and difficulty per item from (M, N, C) committee probabilities."""
    cp = np.asarray(committee_proba, dtype=np.float64)
    if cp.ndim != 3 or len(cp) < 2:
        raise ValueError(f"difficulty needs a committee of at least 2 models: (M, N, C) with M >= 2; got {cp.shape}")
    n_classes = cp.shape[2]
    scale = np.log(n_classes) if n_classes > 1 else 1.0
    mean = cp.mean(axis=0)
    uncertainty = _entropy(mean) / scale
    disagreement = np.maximum(uncertainty - _entropy(cp).mean(axis=0) / scale, 0.0)
    return {
        "uncertainty": uncertainty.astype(np.float32),
        "disagreement": disagreement.astype(np.float32),
        "difficulty": ((uncertainty + disagreement) / 2).astype(np.float32),
    }


@dataclass(frozen=True)
class Difficulty:
    items: pd.DataFrame  # one row per pool item, hardest first
    clusters: pd.DataFrame  # one row per cluster, most expected work first
    cluster_of: np.ndarray  # (N,) cluster id of each pool row


def rank(
    X: np.ndarray,
    committee_proba: np.ndarray,
    ids: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    n_clusters: int = 20,
    seed: int = 0,
) -> Difficulty:
    """Items and clusters ranked by difficulty. ``y``: current labels (-1 where unlabeled)."""
    if len(X) != committee_proba.shape[1] or len(X) != len(ids) or len(X) != len(y):
        raise ValueError("X, the committee's probabilities, ids and labels must cover the same items")
    scores = item_scores(committee_proba)
    mean = committee_proba.mean(axis=0)
    predicted = mean.argmax(axis=1)
    names = np.asarray(class_names, dtype=object)
    labeled = y >= 0
    groups, _ = cluster(X, n_clusters, np.random.default_rng(seed))
    hard = scores["difficulty"] >= np.quantile(scores["difficulty"], 1 - HARDEST)
    items = pd.DataFrame(
        {
            "item_id": ids,
            "difficulty": scores["difficulty"],
            "uncertainty": scores["uncertainty"],
            "disagreement": scores["disagreement"],
            "predicted": names[predicted],
            "confidence": mean.max(axis=1).astype(np.float32),
            "label": np.where(labeled, names[np.maximum(y, 0)], None),
            "cluster": groups,
        }
    )
    items = items.sort_values("difficulty", ascending=False, kind="stable")
    rows = []
    for g in np.unique(groups):
        mine = groups == g
        todo = mine & ~labeled
        top, top_count = np.unique(predicted[mine], return_counts=True)
        rows.append(
            {
                "cluster": int(g),
                "items": int(mine.sum()),
                "labeled": int((mine & labeled).sum()),
                "mean_difficulty": float(scores["difficulty"][mine].mean()),
                "hard_share": float(hard[mine].mean()),
                "expected_work": float(scores["difficulty"][todo].sum()),
                "mostly_predicted": str(names[top[top_count.argmax()]]),
                "predicted_share": float(top_count.max() / mine.sum()),
            }
        )
    clusters = pd.DataFrame(rows).sort_values("expected_work", ascending=False, kind="stable")
    return Difficulty(items.reset_index(drop=True), clusters.reset_index(drop=True), groups)
