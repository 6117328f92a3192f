"""Difficulty: which items, and which regions of the pool, will need a human's attention.

Per item: a bagged committee's uncertainty and disagreement, and their mean, difficulty
(``alviz.scores.committee_scores`` says what each measures).

Per cluster (k-means on the embedding): size, labels so far, mean difficulty, the share of its items among
the pool's hardest tenth (difficulty is relative: its level depends on the classes and the labels), and
the expected work left, the summed difficulty of its unlabeled items, a rough count of items a human will
have to look at there. Clusters come ranked by that, for planning who labels what.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alviz.geometry import kmeans
from alviz.scores import committee_scores

HARDEST = 0.1  # a cluster's hard share: how many of its items are among the pool's hardest 10%


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
    scores = committee_scores(committee_proba)
    mean = committee_proba.mean(axis=0)
    predicted = mean.argmax(axis=1)
    names = np.asarray(class_names, dtype=object)
    labeled = y >= 0
    groups, _ = kmeans(X, n_clusters, np.random.default_rng(seed))
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
