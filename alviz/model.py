"""The learner on embeddings: a scaled logistic regression that always speaks in all the session's classes.

Classes are the session's integer ids 0..C-1. A model fit on a subset of them still returns (N, C)
probabilities, with zeros for classes it has not seen, so scores and strategies need no special cases.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

MODELS = ("logreg", "mlp")


def one_blas_thread():
    """BLAS on one thread for the learner's small products (N x d times d x C, d ~ 50-256).

    Multi-threaded OpenBLAS made lbfgs 4-11x slower on 2 cores (a 5,000-label fit: 2.6 s -> 0.23 s), worst
    when other threads of the app compete; the products are too small to split anyway.
    """
    return threadpool_limits(limits=1, user_api="blas")


class GlobalScaler(TransformerMixin, BaseEstimator):
    """Center each feature, then divide all of them by one number (the root mean feature variance).

    Per-feature standardization fit on a handful of labels inflates the low-variance embedding directions
    (the tail of a PCA) to the same weight as the informative ones: with 2 labels per class it cost 0.29
    accuracy on digits (0.79 -> 0.47). One common scale keeps their relative weight and still makes the
    regularization strength independent of the embedding's units.
    """

    def fit(self, X: np.ndarray, y=None) -> GlobalScaler:
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = float(np.sqrt(X.var(axis=0).mean())) or 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)


class OneClassError(ValueError):
    """Training needs labels of at least two classes."""


class Learner:
    """fit / predict_proba over a fixed number of classes."""

    def __init__(self, n_classes: int, C: float = 1.0, random_state: int = 0, kind: str = "logreg") -> None:
        if kind not in MODELS:
            raise ValueError(f"Unknown model {kind!r}; choose one of {MODELS}.")
        self.kind = kind
        self.n_classes = n_classes
        self.C = C
        self.random_state = random_state
        self._pipe: Pipeline | None = None
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self.n_features_: int | None = None

    def _make(self) -> Pipeline:
        if self.kind == "mlp":
            head = MLPClassifier((128,), alpha=1e-3, max_iter=300, random_state=self.random_state)
        else:
            head = LogisticRegression(C=self.C, max_iter=1000, random_state=self.random_state)
        return make_pipeline(GlobalScaler(), head)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Learner:
        y = np.asarray(y)
        present = np.unique(y)
        if len(present) < 2:
            raise OneClassError(
                f"Training needs labels of at least two classes; all {len(y)} labels are one class so far."
            )
        if present.min() < 0 or present.max() >= self.n_classes:
            raise ValueError(f"labels must lie in 0..{self.n_classes - 1}; got {present.min()}..{present.max()}")
        with one_blas_thread():
            self._pipe = self._make().fit(X, y)
        self.classes_ = present.astype(np.int64)
        self.n_features_ = X.shape[1]
        return self

    @property
    def is_fitted(self) -> bool:
        return self._pipe is not None

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self._pipe is None:
            raise RuntimeError("The model is not trained yet.")
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fit with {self.n_features_}.")
        out = np.zeros((len(X), self.n_classes), dtype=np.float32)
        with one_blas_thread():
            out[:, self.classes_] = self._pipe.predict_proba(X)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def scale(self, X: np.ndarray) -> np.ndarray:
        return self._pipe[0].transform(X)


def cross_val_accuracy(X: np.ndarray, y: np.ndarray, n_classes: int, max_folds: int = 5, seed: int = 0) -> float | None:
    """Stratified k-fold accuracy on the labels alone, or None when some class has fewer than 2 labels."""
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or counts.min() < 2:
        return None
    folds = int(min(max_folds, counts.min()))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    est = Learner(n_classes)._make()
    with one_blas_thread():
        return float(cross_val_score(est, X, y, cv=cv).mean())


def fit_committee(
    X: np.ndarray, y: np.ndarray, n_classes: int, size: int = 5, seed: int = 0, kind: str = "logreg"
) -> list[Learner]:
    """Bagged learners for query by committee: each fit on a bootstrap drawn within every class,
    so that every member sees every labeled class (a member that missed one would always disagree)."""
    if size < 2:
        raise ValueError(f"A committee needs at least 2 members; got {size}.")
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
    members = []
    for m in range(size):
        rows = np.concatenate([rng.choice(idx, len(idx), replace=True) for idx in by_class])
        members.append(Learner(n_classes, random_state=seed + m, kind=kind).fit(X[rows], y[rows]))
    return members


def committee_proba(members: list[Learner], X: np.ndarray) -> np.ndarray:
    """(M, N, C) probabilities of each member."""
    return np.stack([m.predict_proba(X) for m in members])
