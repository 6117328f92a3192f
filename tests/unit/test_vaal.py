"""VAAL on the embedding: it queries what the labels do not represent, deterministically per seed."""

from __future__ import annotations

import numpy as np

from alviz.strategies import QueryContext, select
from alviz.strategies.vaal import vaal_scores


def three_regions(seed: int = 0) -> tuple[QueryContext, np.ndarray]:
    """Three clusters of 300 in 16-d; 40 labels spread over the first two, none in the third."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), 300)
    X = (rng.normal(0, 3, (3, 16))[truth] + rng.normal(0, 1, (900, 16))).astype(np.float32)
    labeled = np.zeros(900, bool)
    labeled[rng.choice(np.flatnonzero(truth < 2), 40, replace=False)] = True
    return QueryContext(X=X, labeled=labeled, y=np.where(labeled, truth, -1)), truth


def test_vaal_queries_the_region_without_labels_far_more_than_random():
    ctx, truth = three_regions()
    vaal = (truth[select("vaal", ctx, 30, 0)] == 2).mean()
    rand = (truth[select("random", ctx, 30, 0)] == 2).mean()  # about 300 / 860 of the unlabeled items
    assert vaal >= 0.8 and vaal > rand + 0.3


def test_vaal_scores_only_unlabeled_items_and_calls_progress():
    ctx, _ = three_regions()
    seen = []
    scores = vaal_scores(ctx.X, ctx.labeled, np.random.default_rng(0), steps=50, progress=lambda f, m: seen.append(f))
    assert np.isnan(scores[ctx.labeled]).all() and ((scores[~ctx.labeled] >= 0) & (scores[~ctx.labeled] <= 1)).all()
    assert seen == [0.5, 1.0]


def test_vaal_gives_the_same_picks_for_a_seed_and_leaves_torch_threads_alone():
    import torch

    ctx, _ = three_regions()
    threads = torch.get_num_threads()
    assert select("vaal", ctx, 10, 3).tolist() == select("vaal", ctx, 10, 3).tolist()
    assert torch.get_num_threads() == threads


def test_vaal_without_any_label_picks_at_random():
    ctx, _ = three_regions()
    none = QueryContext(X=ctx.X, labeled=np.zeros(len(ctx.X), bool), y=np.full(len(ctx.X), -1))
    assert select("vaal", none, 5, 1).tolist() == select("random", none, 5, 1).tolist()
