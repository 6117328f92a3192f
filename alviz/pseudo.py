"""Pseudo-labels: unlabeled items the model is sure enough about, with a confidence bar set per class.

One global threshold is wrong for most pools: an easy class (trousers) is reliable at 0.6, a hard one (shirt)
not even at 0.95. So each class gets the lowest threshold at which its cross-validated predictions on the
*human* labels reach the target precision; a class that never reaches it gets no pseudo-labels at all.
Pseudo-labels are derived, never stored as labels: they cannot leak into an export as human decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from alviz.model import Learner, one_blas_thread

MIN_PER_CLASS = 3  # fewer human labels than this in a class: no calibration, no pseudo-labels for it
MIN_SUPPORT = 5  # a precision measured on fewer predictions than this is luck, not calibration


@dataclass(frozen=True)
class PseudoLabels:
    rows: np.ndarray  # unlabeled items that get a pseudo-label
    classes: np.ndarray  # their class
    thresholds: np.ndarray  # (C,) per-class confidence bar; inf = this class gets none


def class_thresholds(
    X: np.ndarray, y: np.ndarray, n_classes: int, precision: float = 0.95, seed: int = 0
) -> np.ndarray:
    """Per-class confidence thresholds calibrated on cross-validated predictions of the labeled items."""
    thresholds = np.full(n_classes, np.inf)
    present, counts = np.unique(y, return_counts=True)
    if len(present) < 2 or counts.min() < 2:
        return thresholds
    folds = int(min(5, counts.min()))
    est = Learner(n_classes, random_state=seed)._make()
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with one_blas_thread():
        proba_seen = cross_val_predict(est, X, y, cv=cv, method="predict_proba")  # columns: present classes
    pred = present[proba_seen.argmax(axis=1)]
    conf = proba_seen.max(axis=1)
    for c, n in zip(present, counts, strict=True):
        if n < MIN_PER_CLASS:
            continue
        mine = pred == c
        if not mine.any():
            continue
        order = np.argsort(-conf[mine])
        correct = (y[mine][order] == c).astype(float)
        prec = np.cumsum(correct) / np.arange(1, len(correct) + 1)  # precision above each confidence cut
        ok = np.flatnonzero((prec >= precision) & (np.arange(1, len(prec) + 1) >= MIN_SUPPORT))
        if len(ok):
            thresholds[c] = conf[mine][order][ok[-1]]  # the lowest cut that still meets the target
    return thresholds


def pseudo_labels(proba: np.ndarray, labeled: np.ndarray, thresholds: np.ndarray) -> PseudoLabels:
    """Unlabeled items whose predicted class clears that class's threshold."""
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    keep = ~labeled & (conf >= thresholds[np.minimum(pred, len(thresholds) - 1)])
    rows = np.flatnonzero(keep)
    return PseudoLabels(rows, pred[rows], thresholds)


def cross_val_accuracy_with_pseudo(
    X: np.ndarray, y: np.ndarray, labeled: np.ndarray, thresholds: np.ndarray, n_classes: int, seed: int = 0
) -> float | None:
    """Cross-validated accuracy on the human labels of a model trained with pseudo-labels too.

    Each fold trains on its human labels, pseudo-labels the unlabeled items with ``thresholds``, refits on both,
    and is scored on its held-out human labels (pseudo-labels are never scored). The thresholds come from all
    human labels, a mild leak accepted to spare a nested cross-validation. None below 2 labels per class.
    """
    Xl, yl = X[labeled], y[labeled]
    present, counts = np.unique(yl, return_counts=True)
    if len(present) < 2 or counts.min() < 2:
        return None
    X_unlabeled = X[~labeled]
    cv = StratifiedKFold(int(min(5, counts.min())), shuffle=True, random_state=seed)
    correct = 0
    for train, held in cv.split(Xl, yl):
        model = Learner(n_classes, random_state=seed).fit(Xl[train], yl[train])
        extra = pseudo_labels(model.predict_proba(X_unlabeled), np.zeros(len(X_unlabeled), bool), thresholds)
        if len(extra.rows):
            Xt = np.vstack([Xl[train], X_unlabeled[extra.rows]])
            model = Learner(n_classes, random_state=seed).fit(Xt, np.concatenate([yl[train], extra.classes]))
        correct += int((model.predict(Xl[held]) == yl[held]).sum())
    return correct / len(yl)
