"""Loss prediction: a small head learns the classifier's loss from the embedding; ask where it predicts most.

The idea is Yoo & Kweon, "Learning Loss for Active Learning" (CVPR 2019): attach a loss-prediction module to the
network, train it jointly to predict the target loss of each input, and query the unlabeled inputs whose
predicted loss is highest. Here the classifier is a linear (or small MLP) head on *frozen* embeddings, so the
loss predictor is a separate head trained afterwards, not jointly, and not on intermediate layers:

1. out-of-fold losses on the labeled items: stratified k-fold (k = min(5, smallest class count)) fits of the
   same kind of learner; each labeled item gets -log p(true class) from a model that did not see it. In-sample
   losses would be near zero everywhere (the model fit those very labels) and teach the head nothing;
2. a small MLP regressor (one hidden layer of 64) maps [scaled embedding, the uncertainty of the (out-of-fold)
   prediction: entropy, margin, max probability] to log(1 + loss). For unlabeled items the same features come
   from the current model, which did not see them either, so the two match;
3. the k unlabeled items of highest predicted loss, spread a little: among the 10·k highest, one per k-means
   cluster (``diversity.diverse_top``, which spreads ``auto``'s margin picks too), so one batch does not ask the
   same question k times.

The head sees where labels were hard *and* how unsure the model was there, so it can rank a hard region (classes
that overlap, labels that are noisy) above a merely uncertain-looking border the model in fact gets right.

Fallback (never a crash): before any model, TypiClust; while some labeled class has fewer than MIN_PER_CLASS
labels (out-of-fold losses need a few per class), margin. ``fallback_reason(ctx)`` says which applies.

On a planted region of noisy labels it ranks the region's unlabeled items higher than margin does; as a query
strategy it is at best on par with margin, and a query's cost stays flat in N (``benchmarks/label_efficiency.py``,
``benchmarks/strategy_speed.py``; the numbers are in ``benchmarks/README.md``).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPRegressor

from alviz import scores
from alviz.model import Learner, one_blas_thread
from alviz.strategies.base import QueryContext, register
from alviz.strategies.diversity import diverse_top, typiclust
from alviz.strategies.uncertainty import margin

MIN_PER_CLASS = 3  # labels in every labeled class before out-of-fold losses mean anything
MAX_FOLDS = 5
MAX_TRAIN = 3000  # out-of-fold losses on at most this many labeled items (a random sample beyond)
CANDIDATES = 20_000  # unlabeled items the head scores at most (see candidates): a query flat in N
LOSS_CLIP = 1e-4  # p(true) is clipped here: a loss of at most -log(1e-4) = 9.2


def fallback_reason(ctx: QueryContext) -> str | None:
    """Why loss_prediction would fall back (and to what), or None when it can run."""
    if ctx.proba is None or ctx.model is None:
        return "no model yet: TypiClust instead"
    counts = np.bincount(ctx.y[ctx.labeled], minlength=ctx.proba.shape[1])
    counts = counts[counts > 0]
    if len(counts) < 2 or counts.min() < MIN_PER_CLASS:
        return f"fewer than {MIN_PER_CLASS} labels in some class (out-of-fold losses need them): margin instead"
    return None


def uncertainty_features(proba: np.ndarray) -> np.ndarray:
    """(N, 3): entropy, margin (1 - (p1 - p2)) and max probability of each prediction."""
    return np.stack([scores.entropy(proba), scores.margin(proba), proba.max(axis=1)], axis=1).astype(np.float32)


def out_of_fold(
    X: np.ndarray, y: np.ndarray, n_classes: int, kind: str = "logreg", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(losses (n,), probabilities (n, C)) of each labeled item from a model fit on the other folds."""
    counts = np.bincount(y, minlength=n_classes)
    folds = int(min(MAX_FOLDS, counts[counts > 0].min()))
    P = np.zeros((len(y), n_classes), dtype=np.float32)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        P[test] = Learner(n_classes, random_state=seed, kind=kind).fit(X[train], y[train]).predict_proba(X[test])
    loss = -np.log(np.clip(P[np.arange(len(y)), y], LOSS_CLIP, 1.0))
    return loss.astype(np.float32), P


def predicted_loss(ctx: QueryContext, rng: np.random.Generator, items: np.ndarray | None = None) -> np.ndarray:
    """The loss head's prediction, log(1 + cross-entropy), for ``items`` (default: every item of the pool);
    ctx must pass fallback_reason."""
    n_classes = ctx.proba.shape[1]
    rows = np.flatnonzero(ctx.labeled)
    if len(rows) > MAX_TRAIN:
        sample = np.sort(rng.choice(rows, MAX_TRAIN, replace=False))
        counts = np.bincount(ctx.y[sample], minlength=n_classes)
        sample = sample[counts[ctx.y[sample]] >= 2]  # a class the sample barely holds cannot be cross-validated
        rows = sample if len(np.unique(ctx.y[sample])) >= 2 else rows
    seed = int(rng.integers(2**31 - 1))
    loss, P_oof = out_of_fold(ctx.X[rows], ctx.y[rows], n_classes, getattr(ctx.model, "kind", "logreg"), seed)
    items = np.arange(len(ctx.X)) if items is None else items
    Z_train, Z = _global_scale(ctx.X, rows, items)
    u_train, u_all = uncertainty_features(P_oof), uncertainty_features(ctx.proba[items])
    mu, sd = u_train.mean(axis=0), u_train.std(axis=0) + 1e-6
    features_train = np.hstack([Z_train, (u_train - mu) / sd])
    head = MLPRegressor(hidden_layer_sizes=(64,), alpha=1e-2, learning_rate_init=3e-3, max_iter=400, random_state=seed)
    with one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a ranking heuristic: 400 epochs are plenty
        head.fit(features_train, np.log1p(loss))
        return head.predict(np.hstack([Z, (u_all - mu) / sd])).astype(np.float32)


def _global_scale(X: np.ndarray, rows: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X[rows] and X[items] centered on the labeled rows' mean and divided by one number, their root mean feature
    variance (what the learner's GlobalScaler does), in float32: the head's input without a float64 pool copy."""
    ref = np.asarray(X[rows], dtype=np.float64)
    scale = np.float32(1.0 / (float(np.sqrt(ref.var(axis=0).mean())) or 1.0))
    mean = ref.mean(axis=0).astype(np.float32)
    out = []
    for part in (rows, items):
        Z = np.asarray(X[part], dtype=np.float32) - mean
        Z *= scale
        out.append(Z)
    return out[0], out[1]


def candidates(ctx: QueryContext, rng: np.random.Generator) -> np.ndarray | None:
    """At most CANDIDATES unlabeled items the head scores (None: all of them): half the most uncertain by margin,
    half a uniform sample of the rest, so a hard region the model looks sure about can still be found, and the
    cost of a query stays flat in N."""
    unlabeled = np.flatnonzero(~ctx.labeled)
    if len(unlabeled) <= CANDIDATES:
        return None
    half = CANDIDATES // 2
    top = unlabeled[np.argpartition(-scores.margin(ctx.proba[unlabeled]), half)[:half]]
    rest = np.setdiff1d(unlabeled, top, assume_unique=True)
    return np.union1d(top, rng.choice(rest, CANDIDATES - half, replace=False))


@register(
    "loss_prediction",
    needs=("proba", "model"),
    description="items where a small head trained on out-of-fold losses predicts the highest loss",
    rank=100,
)
def loss_prediction(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Unlabeled items of highest predicted loss, a little spread (see module doc; falls back while labels are few)."""
    if ctx.proba is None or ctx.model is None:
        return typiclust(ctx, k, rng)
    if fallback_reason(ctx) is not None:
        return margin(ctx, k, rng)
    items = candidates(ctx, rng)
    if items is None:
        return diverse_top(predicted_loss(ctx, rng), ctx, k, rng)
    score = np.full(len(ctx.X), -np.inf, dtype=np.float32)  # items outside the candidates are never picked
    score[items] = predicted_loss(ctx, rng, items)
    return diverse_top(score, ctx, k, rng)
