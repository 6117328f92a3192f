"""``auto`` reads the budget from the classes that have labels, and keeps exploring while classes are missing."""

from __future__ import annotations

import numpy as np

from alviz.model import Learner
from alviz.strategies import QueryContext, select
from alviz.strategies.auto import plan

N_CLASSES = 10
PER_BLOB = 100


def half_labeled_pool(per_labeled_class: int = 40, seed: int = 0) -> tuple[QueryContext, np.ndarray]:
    """Ten well-separated Gaussian blobs; blobs 0-4 have ``per_labeled_class`` labels each, blobs 5-9 none."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(N_CLASSES, 16)) * 10.0
    blob = np.repeat(np.arange(N_CLASSES), PER_BLOB)
    X = (centers[blob] + rng.normal(size=(len(blob), 16))).astype(np.float32)
    labeled = np.zeros(len(X), bool)
    for c in range(N_CLASSES // 2):
        labeled[rng.choice(np.flatnonzero(blob == c), per_labeled_class, replace=False)] = True
    y = np.where(labeled, blob, -1)
    model = Learner(N_CLASSES).fit(X[labeled], y[labeled])
    return QueryContext(X=X, labeled=labeled, y=y, proba=model.predict_proba(X), model=model), blob


def test_auto_counts_labels_of_the_classes_that_have_them_not_the_mean_over_all_columns():
    ctx, _ = half_labeled_pool(per_labeled_class=40)
    reason = plan(ctx).reason
    assert "40 labels" in reason  # not 200 / 10 = "20.0 labels per class"
    assert "5 of 10 classes have no label" in reason


def test_auto_picks_items_of_the_unlabeled_clusters_when_half_the_classes_have_no_label():
    ctx, blob = half_labeled_pool(per_labeled_class=40)
    for seed in range(3):
        picked = select("auto", ctx, 20, seed)
        in_unlabeled = int((blob[picked] >= N_CLASSES // 2).sum())
        assert in_unlabeled >= 10, (seed, in_unlabeled)
        assert len(set(blob[picked][blob[picked] >= N_CLASSES // 2].tolist())) == N_CLASSES // 2  # every one


def test_auto_uses_the_least_labeled_class_as_the_budget():
    ctx, _ = half_labeled_pool(per_labeled_class=40)
    labeled = ctx.labeled.copy()
    two = np.flatnonzero(ctx.y == 1)[2:]  # class 1 keeps only 2 labels
    labeled[two] = False
    y = np.where(labeled, ctx.y, -1)
    model = Learner(N_CLASSES).fit(ctx.X[labeled], y[labeled])
    young = QueryContext(X=ctx.X, labeled=labeled, y=y, proba=model.predict_proba(ctx.X), model=model)
    p = plan(young)
    assert "2 labels in the least-labeled class" in p.reason  # not 40, the count of the other labeled classes
    assert p.behavior == "mixed" and p.typical_share == 0.5  # classes 5-9 have no label: half the batch explores


def test_auto_keeps_exploring_a_region_with_no_label_when_every_known_class_has_labels():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(3, 16)) * 10.0
    blob = np.repeat(np.arange(3), PER_BLOB)
    X = (centers[blob] + rng.normal(size=(len(blob), 16))).astype(np.float32)
    labeled = np.isin(np.arange(len(X)) % PER_BLOB, np.arange(20)) & (blob < 2)  # 20 labels in blobs 0 and 1
    y = np.where(labeled, blob, -1)
    model = Learner(2).fit(X[labeled], y[labeled])  # the model knows two classes: a third may still appear
    ctx = QueryContext(X=X, labeled=labeled, y=y, proba=model.predict_proba(X), model=model)
    assert "new classes may still appear" in plan(ctx).reason
    assert (blob[select("auto", ctx, 10, 0)] == 2).any()
