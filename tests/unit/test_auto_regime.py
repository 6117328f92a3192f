"""``auto`` spreads its margin picks over CANDIDATES_PER_PICK·k candidates only while those are fewer than half
the unlabeled items; a batch that large on a small pool takes the smallest margins (plain margin)."""

from __future__ import annotations

import numpy as np

from alviz import scores
from alviz.model import Learner
from alviz.strategies import QueryContext, select
from alviz.strategies.auto import EXPLORE_OPEN, n_typical, plan, spreads
from alviz.strategies.diversity import CANDIDATES_PER_PICK, diverse_top

N_CLASSES = 4
PER_BLOB = 150


def blobs(labels_per_blob: int = 10, seed: int = 0) -> QueryContext:
    """Four overlapping Gaussian blobs in 8-d (600 items), ``labels_per_blob`` labels each."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(N_CLASSES, 8)) * 2.0
    blob = np.repeat(np.arange(N_CLASSES), PER_BLOB)
    X = (centers[blob] + rng.normal(size=(len(blob), 8))).astype(np.float32)
    labeled = np.zeros(len(X), bool)
    for c in range(N_CLASSES):
        labeled[rng.choice(np.flatnonzero(blob == c), labels_per_blob, replace=False)] = True
    y = np.where(labeled, blob, -1)
    model = Learner(N_CLASSES).fit(X[labeled], y[labeled])
    return QueryContext(X=X, labeled=labeled, y=y, proba=model.predict_proba(X), model=model)


def test_the_batch_is_spread_while_its_candidates_are_less_than_half_the_unlabeled_items():
    ctx = blobs()  # 560 unlabeled
    assert spreads(ctx, 27)  # 270 candidates < 280
    assert not spreads(ctx, 28)  # 280: half the unlabeled items
    assert plan(ctx, 5).spread and plan(ctx, 5).behavior in ("diverse_margin", "mixed")


def test_a_large_batch_on_a_small_pool_takes_the_smallest_margins():
    ctx = blobs()
    k = 40  # 400 candidates of 560 unlabeled items
    p = plan(ctx, k)
    assert not p.spread and p.typical_share <= EXPLORE_OPEN
    assert p.behavior in ("margin", "mixed") and "smallest margins" in p.reason
    picked = select("auto", ctx, k, 0)
    n = n_typical(p.typical_share, k)
    margin = scores.margin(ctx.proba)
    rest = ~ctx.labeled
    rest[picked[:n]] = False  # the explorers' picks come first; the margin picks are the best of the rest
    best = np.flatnonzero(rest)[np.argsort(-margin[rest], kind="stable")][: k - n]
    assert sorted(picked[n:].tolist()) == sorted(best.tolist())


def test_without_a_batch_size_the_plan_does_not_judge_the_spread():
    assert plan(blobs()).spread  # the Queue's reason, asked without k, reads as before


def test_spreading_would_have_traded_some_of_the_smallest_margins_here():
    ctx = blobs()  # the state of the test above, spread the old way: the rule changes the picks
    k = 40
    margin = scores.margin(ctx.proba)
    spread = diverse_top(margin, ctx, k, np.random.default_rng(0), candidates=CANDIDATES_PER_PICK * k)
    best = np.flatnonzero(~ctx.labeled)[np.argsort(-margin[~ctx.labeled], kind="stable")][:k]
    assert len(set(spread.tolist()) - set(best.tolist())) > 0
