"""``auto`` keeps to TypiClust while its clusters are large and class means predict held-out regions of the labels
as well as the model does; an elongated pool, where only the model's boundary is right, leaves it at once."""

from __future__ import annotations

import numpy as np

from alviz.model import Learner
from alviz.strategies import QueryContext, select
from alviz.strategies.auto import TYPICAL_CLUSTER, clusters_large, plan, prototype_evidence, typical_still_pays


def _context(X: np.ndarray, truth: np.ndarray, n_labels: int, seed: int = 0) -> QueryContext:
    rng = np.random.default_rng(seed)
    labeled = np.zeros(len(X), bool)
    for c in np.unique(truth):  # every class labeled, the rest at random
        labeled[rng.choice(np.flatnonzero(truth == c), 2, replace=False)] = True
    labeled[rng.choice(np.flatnonzero(~labeled), n_labels - int(labeled.sum()), replace=False)] = True
    y = np.where(labeled, truth, -1)
    model = Learner(int(truth.max()) + 1).fit(X[labeled], y[labeled])
    return QueryContext(X=X, labeled=labeled, y=y, proba=model.predict_proba(X), model=model)


def blobs(n_labels: int = 30, per_class: int = 600, seed: int = 0) -> QueryContext:
    """Five round, well-separated Gaussian blobs in 8-d: a class is its mean."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(5), per_class)
    X = (rng.normal(size=(5, 8))[truth] * 8.0 + rng.normal(size=(len(truth), 8))).astype(np.float32)
    return _context(X, truth, n_labels, seed)


def stripes(n_labels: int = 60, per_class: int = 3000, seed: int = 0) -> QueryContext:
    """Two long parallel stripes along the diagonal, 3 apart along x (2.1 across): the class means sit side by side
    along x, so the line halfway between them cuts both stripes, while a linear boundary along the diagonal
    separates them."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(2), per_class)
    along = rng.normal(scale=6.0, size=len(truth))
    X = np.zeros((len(truth), 8), dtype=np.float32)
    X[:, 0] = along + 3.0 * truth
    X[:, 1] = along
    X += rng.normal(scale=0.1, size=X.shape).astype(np.float32)
    return _context(X, truth, n_labels, seed)


def test_typiclust_while_class_means_do_as_well_and_clusters_are_large():
    ctx = blobs()
    proto = prototype_evidence(ctx)
    assert proto is not None and proto.as_good and proto.means >= 0.5
    p = plan(ctx, 10)
    assert p.behavior == "typiclust" and p.typical_share == 1.0
    assert "class means" in p.reason
    assert np.array_equal(select("auto", ctx, 10, 3), select("typiclust", ctx, 10, 3))


def test_not_once_typiclust_clusters_would_be_small():
    ctx = blobs(n_labels=3000 // TYPICAL_CLUSTER - 9)  # 41 labeled + 10 clusters average fewer than 60 of 3,000
    assert prototype_evidence(ctx).as_good
    assert not clusters_large(ctx, 10) and clusters_large(ctx, 0)
    assert plan(ctx, 10).behavior != "typiclust"


def test_not_where_the_models_boundary_beats_the_class_means():
    for seed in range(3):
        ctx = stripes(seed=seed)
        assert clusters_large(ctx, 10)
        proto = prototype_evidence(ctx)
        assert proto.model - proto.means > 2 * proto.se, proto
        assert plan(ctx, 10).behavior != "typiclust"


def test_the_evidence_is_seeded_and_needs_a_label_per_fold():
    ctx = blobs()
    first = prototype_evidence(ctx)
    assert prototype_evidence(ctx) is first  # the UI's plan and the query's: computed once
    fresh = blobs()  # the same labels on a new array: computed again, to the same answer
    assert prototype_evidence(fresh) == first and prototype_evidence(fresh) is not first
    few = blobs(n_labels=10)
    labeled = np.zeros(len(few.X), bool)
    labeled[np.flatnonzero(few.labeled)[:4]] = True
    four = QueryContext(X=few.X, labeled=labeled, y=np.where(labeled, few.y, -1), proba=few.proba, model=few.model)
    assert prototype_evidence(four) is None


def test_too_few_labels_to_judge_is_said_and_keeps_to_typiclust():
    few = blobs(n_labels=10)
    labeled = np.zeros(len(few.X), bool)
    labeled[np.flatnonzero(few.labeled)[::3]] = True  # 4 labels of 3 classes
    y = np.where(labeled, few.y, -1)
    model = Learner(5).fit(few.X[labeled], y[labeled])
    ctx = QueryContext(X=few.X, labeled=labeled, y=y, proba=model.predict_proba(few.X), model=model)
    assert typical_still_pays(ctx).startswith("too few labels")
    p = plan(ctx, 10)
    assert p.behavior == "typiclust" and "too few labels" in p.reason
