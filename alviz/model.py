"""The learner on embeddings: a scaled logistic regression (or MLP, or linear SVM) that always speaks in all the
session's classes.

Classes are the session's integer ids 0..C-1. A model fit on a subset of them still returns (N, C)
probabilities, with zeros for classes it has not seen, so scores and strategies need no special cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

MODELS = ("logreg", "mlp", "svm")
# The SVM's C is the learner's C times this: few labels need strong regularization (benchmarks/README.md).
SVM_C_SCALE = 0.01
SVM_CALIBRATION_FOLDS = 3  # Platt folds of the SVM head; fewer when the smallest class has fewer labels
ROWS = 32_768  # rows per chunk when predicting or scaling a pool: bounded temporaries (32 MB at d = 256)


def one_blas_thread():
    """BLAS on one thread for the learner's small products (N x d times d x C, d ~ 50-256).

    Multi-threaded OpenBLAS made lbfgs several times slower on a few cores (benchmarks/README.md), worst
    when other threads of the app compete; the products are too small to split anyway.
    """
    return threadpool_limits(limits=1, user_api="blas")


class GlobalScaler(TransformerMixin, BaseEstimator):
    """Center each feature, then divide all of them by one number (the root mean feature variance).

    Per-feature standardization fit on a handful of labels inflates the low-variance embedding directions
    (the tail of a PCA) to the same weight as the informative ones: with 2 labels per class it cost 0.29
    accuracy on digits (0.79 -> 0.47). One common scale keeps their relative weight and still makes the
    regularization strength independent of the embedding's units.

    Statistics accumulate in float64 chunk by chunk and ``transform`` works in float32: a float64 copy of a
    1M x 256 pool is 2 GB.
    """

    def fit(self, X: np.ndarray, y=None) -> GlobalScaler:
        n = len(X)
        mean = np.zeros(X.shape[1])
        for start in range(0, n, ROWS):
            mean += np.asarray(X[start : start + ROWS], dtype=np.float64).sum(axis=0)
        mean /= max(n, 1)
        sq = np.zeros(X.shape[1])
        for start in range(0, n, ROWS):  # two passes: E[x²] - E[x]² cancels badly for off-center features
            sq += ((np.asarray(X[start : start + ROWS], dtype=np.float64) - mean) ** 2).sum(axis=0)
        self.mean_ = mean
        self.scale_ = float(np.sqrt((sq / max(n, 1)).mean())) or 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(X, dtype=np.float32) - self.mean_.astype(np.float32)  # the one float32 copy
        out *= np.float32(1.0 / self.scale_)
        return out


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
        self._linear: tuple[np.ndarray, np.ndarray] | None = None  # logreg: weights (d, K), bias (K,); scaler in
        self._w_norm: np.ndarray | None = None  # svm: (K,) hyperplane normal lengths in the scaled space
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self.n_features_: int | None = None

    def _make(self) -> Pipeline:
        if self.kind == "mlp":
            head = MLPClassifier((128,), alpha=1e-3, max_iter=300, random_state=self.random_state)
        elif self.kind == "svm":
            head = _SVMHead(self.C * SVM_C_SCALE, self.random_state)
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
        self._linear = None
        if self.kind in ("logreg", "svm"):  # fold the scaler into the weights: a pool is one float32 product
            scaler, head = self._pipe[0], self._pipe[-1]
            coef = np.asarray(head.coef_, dtype=np.float64).T / scaler.scale_  # (d, K)
            bias = np.asarray(head.intercept_, dtype=np.float64) - scaler.mean_ @ coef
            self._linear = (coef.astype(np.float32), bias.astype(np.float32))
            # length of each hyperplane's normal in the scaled space: |decision| / norm is a distance there
            self._w_norm = np.linalg.norm(np.asarray(head.coef_, dtype=np.float64), axis=1).astype(np.float32)
        return self

    def hyperplane_distance(self, X: np.ndarray) -> np.ndarray:
        """SVM only: (N,) distance of each item to the closest one-vs-rest hyperplane, in the scaled space.

        Tong & Koller's SVM min-margin queries the item closest to the (binary) hyperplane; with one-vs-rest
        over several classes we take the closest of the class hyperplanes (one hyperplane with two classes)."""
        if self.kind != "svm" or self._linear is None:
            raise ValueError(f"hyperplane distances need a fitted svm learner; this one is {self.kind!r}.")
        coef, bias = self._linear
        out = np.empty(len(X), dtype=np.float32)
        with one_blas_thread():
            for start in range(0, len(X), ROWS):
                z = np.asarray(X[start : start + ROWS], dtype=np.float32) @ coef
                z += bias
                out[start : start + len(z)] = (np.abs(z) / self._w_norm).min(axis=1)
        return out

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
            for start in range(0, len(X), ROWS):  # in chunks: the scaled copy stays small at 1M items
                stop = min(start + ROWS, len(X))
                out[start:stop, self.classes_] = self._proba_chunk(X[start:stop])
        return out

    def _proba_chunk(self, X: np.ndarray) -> np.ndarray:
        """What the pipeline's predict_proba gives, for logistic regression straight from the folded weights."""
        if self._linear is None or self.kind == "svm":
            return self._pipe.predict_proba(X)
        coef, bias = self._linear
        z = np.asarray(X, dtype=np.float32) @ coef
        z += bias
        if z.shape[1] == 1:  # binary: sklearn's sigmoid of the one decision value
            p = expit(z[:, 0])
            return np.stack([1.0 - p, p], axis=1)
        z -= z.max(axis=1, keepdims=True)  # softmax, as sklearn's multinomial model
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def scale(self, X: np.ndarray) -> np.ndarray:
        return self._pipe[0].transform(X)


class _SVMHead(ClassifierMixin, BaseEstimator):
    """A linear SVM (one-vs-rest, squared hinge) whose probabilities are a softmax of its decision values times
    one temperature fit on held-out decision values (Platt scaling with one shared slope).

    Per-class Platt sigmoids (sklearn's CalibratedClassifierCV) fit on one or two held-out labels per class reorder
    the classes (their argmax is no longer the SVM's), which cost svm + entropy accuracy at 3-5 labels per class
    (benchmarks/README.md). One slope keeps the SVM's ranking, fits from 2 labels per class
    (stratified folds, 2..3 of them), and with a single label in some class, where nothing can be held out, stays
    1 (decision values are in margin units, small under the strong regularization: cautious probabilities)."""

    def __init__(self, C: float = 0.01, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, max_iter=5000, random_state=self.random_state)

    def fit(self, X: np.ndarray, y: np.ndarray) -> _SVMHead:
        self.svm_ = self._svm().fit(X, y)
        self.classes_ = self.svm_.classes_
        self.coef_, self.intercept_ = self.svm_.coef_, self.svm_.intercept_
        self.temperature_ = 1.0
        smallest = int(np.unique(y, return_counts=True)[1].min())
        if smallest >= 2:
            folds = StratifiedKFold(min(SVM_CALIBRATION_FOLDS, smallest), shuffle=True, random_state=self.random_state)
            held = np.zeros((len(y), len(self.classes_) if len(self.classes_) > 2 else 2))
            for train, test in folds.split(X, y):
                held[test] = _two_columns(self._svm().fit(X[train], y[train]).decision_function(X[test]))
            codes = np.searchsorted(self.classes_, y)

            def nll(log_t: float) -> float:
                z = held * np.exp(log_t)
                z -= z.max(axis=1, keepdims=True)
                return float(-(z[np.arange(len(y)), codes] - np.log(np.exp(z).sum(axis=1))).mean())

            self.temperature_ = float(np.exp(minimize_scalar(nll, bounds=(-4.0, 6.0), method="bounded").x))
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.svm_.decision_function(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = _two_columns(self.svm_.decision_function(X)).astype(np.float32) * np.float32(self.temperature_)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        return z / z.sum(axis=1, keepdims=True)


def _two_columns(z: np.ndarray) -> np.ndarray:
    """A binary SVM's one decision value as two class scores (softmax of [0, f] is the sigmoid of f)."""
    return np.stack([np.zeros_like(z), z], axis=1) if z.ndim == 1 else z


@dataclass(frozen=True)
class CrossVal:
    """One stratified k-fold pass over the labels: its folds, fold models and out-of-fold probabilities.

    Computed once per round and shared: the human model's accuracy, the pseudo-label thresholds and the
    pseudo-label comparison all read the same folds (they used to refit them three times).
    """

    folds: list[tuple[np.ndarray, np.ndarray]]  # (train, held) positions into the labeled rows
    models: list[Learner]  # fold i's model, fit on folds[i][0]
    proba: np.ndarray  # (n, C) out-of-fold probabilities of every labeled row

    def accuracy(self, y: np.ndarray) -> float:
        """Mean over folds of the held-out accuracy (what sklearn's cross_val_score averages)."""
        pred = self.proba.argmax(axis=1)
        return float(np.mean([(pred[held] == y[held]).mean() for _, held in self.folds]))


def cross_validate(
    X: np.ndarray, y: np.ndarray, n_classes: int, max_folds: int = 5, seed: int = 0, kind: str = "logreg"
) -> CrossVal | None:
    """Stratified k-fold (k = min(max_folds, smallest class count)) fits on the labels, or None when some
    class has fewer than 2 labels or there is only one class."""
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or counts.min() < 2:
        return None
    cv = StratifiedKFold(n_splits=int(min(max_folds, counts.min())), shuffle=True, random_state=seed)
    folds, models = [], []
    proba = np.zeros((len(y), n_classes), dtype=np.float32)
    for train, held in cv.split(X, y):
        model = Learner(n_classes, random_state=seed, kind=kind).fit(X[train], y[train])
        proba[held] = model.predict_proba(X[held])
        folds.append((train, held))
        models.append(model)
    return CrossVal(folds, models, proba)


def cross_val_accuracy(X: np.ndarray, y: np.ndarray, n_classes: int, max_folds: int = 5, seed: int = 0) -> float | None:
    """Stratified k-fold accuracy on the labels alone, or None when some class has fewer than 2 labels."""
    cv = cross_validate(X, y, n_classes, max_folds, seed)
    return None if cv is None else cv.accuracy(y)


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
