"""SVM min-margin (Tong & Koller, 2001): query the unlabeled items closest to the SVM's decision boundary.

Tong & Koller's version space argument is for one binary SVM: the item nearest the hyperplane halves the version
space best. With more classes the head is one-vs-rest, and we take each item's distance to the *closest* of the
class hyperplanes (``Learner.hyperplane_distance``), in the space the head sees (scaled embeddings).

It needs a linear SVM: the session's model when it is one (``--model svm``), else one fit here on the labeled
items alone (cheap: a linear fit on the labels). Before two classes have labels there is no hyperplane,
so it picks at random, like the uncertainty strategies before the first model.
"""

from __future__ import annotations

import numpy as np

from alviz.model import Learner
from alviz.strategies.base import QueryContext, register, top_k_unlabeled
from alviz.strategies.uncertainty import random


def svm_of(ctx: QueryContext) -> Learner | None:
    """The context's model when it is a fitted SVM, else a linear SVM fit on the labeled items (None when fewer
    than two classes are labeled)."""
    model = ctx.model
    if isinstance(model, Learner) and model.kind == "svm" and model.is_fitted:
        return model
    ys = ctx.y[ctx.labeled]
    if len(np.unique(ys)) < 2:
        return None
    n_classes = max(int(ys.max()) + 1, 0 if ctx.proba is None else ctx.proba.shape[1])
    return Learner(n_classes, kind="svm").fit(ctx.X[ctx.labeled], ys)


@register(
    "svm_margin",
    needs=("model",),
    description="items nearest a linear SVM's boundary",
    rank=140,
)
def svm_margin(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """The k unlabeled items nearest a one-vs-rest hyperplane of a linear SVM (random before two classes)."""
    svm = svm_of(ctx)
    if svm is None:
        return random(ctx, k, rng)
    return top_k_unlabeled(-svm.hyperplane_distance(ctx.X), ctx.labeled, k, rng)
