"""Pseudo-labels: unlabeled items the model is sure enough about, with a confidence bar set per class.

One global threshold is wrong for most pools: an easy class (trousers) is reliable at 0.6, a hard one (shirt)
not even at 0.95. So each class gets the lowest threshold at which its cross-validated predictions on the
*human* labels reach the target precision; a class that never reaches it gets no pseudo-labels at all.
Pseudo-labels are derived, never stored as labels: they cannot leak into an export as human decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alviz.model import CrossVal, Learner, cross_validate

MIN_PER_CLASS = 3  # fewer human labels than this in a class: no calibration, no pseudo-labels for it
MIN_SUPPORT = 5  # a precision measured on fewer predictions than this is luck, not calibration
MAX_TRAIN = 20_000  # pseudo-labeled rows a model trains on: a per-class stratified sample beyond (bounded fits)
EVAL_UNLABELED = 5_000  # unlabeled rows each cross-validation fold pseudo-labels to measure the pseudo model


@dataclass(frozen=True)
class PseudoLabels:
    rows: np.ndarray  # unlabeled items that get a pseudo-label
    classes: np.ndarray  # their class
    thresholds: np.ndarray  # (C,) per-class confidence bar; inf = this class gets none


def class_thresholds(
    X: np.ndarray, y: np.ndarray, n_classes: int, precision: float = 0.95, seed: int = 0, cv: CrossVal | None = None
) -> np.ndarray:
    """Per-class confidence thresholds calibrated on cross-validated predictions of the labeled items
    (``cv``: that cross-validation, when the caller has it already)."""
    cv = cv if cv is not None else cross_validate(X, y, n_classes, seed=seed)
    thresholds = np.full(n_classes, np.inf)
    if cv is None:
        return thresholds
    present, counts = np.unique(y, return_counts=True)
    pred = cv.proba.argmax(axis=1)
    conf = cv.proba.max(axis=1)
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


def stratified_sample(classes: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of at most ``size`` items drawn within each class in proportion to its count (each class
    present keeps at least one), so a capped pseudo-label set keeps the class balance of the full one."""
    if len(classes) <= size:
        return np.arange(len(classes))
    present, counts = np.unique(classes, return_counts=True)
    quota = np.maximum(np.floor(counts * (size / len(classes))).astype(np.int64), 1)
    picks = [rng.choice(np.flatnonzero(classes == c), q, replace=False) for c, q in zip(present, quota, strict=True)]
    return np.sort(np.concatenate(picks))


def training_sample(pseudo: PseudoLabels, rng: np.random.Generator, size: int = MAX_TRAIN) -> PseudoLabels:
    """The pseudo-labels a model trains on: all of them, or a per-class stratified sample of ``size``."""
    keep = stratified_sample(pseudo.classes, size, rng)
    return PseudoLabels(pseudo.rows[keep], pseudo.classes[keep], pseudo.thresholds)


def cross_val_accuracy_with_pseudo(
    X: np.ndarray,
    y: np.ndarray,
    labeled: np.ndarray,
    thresholds: np.ndarray,
    n_classes: int,
    seed: int = 0,
    cv: CrossVal | None = None,
    max_unlabeled: int = EVAL_UNLABELED,
) -> float | None:
    """Cross-validated accuracy on the human labels of a model trained with pseudo-labels too.

    Each fold trains on its human labels, pseudo-labels a sample of at most ``max_unlabeled`` unlabeled items
    (the same sample in every fold) with ``thresholds``, refits on both, and is scored on its held-out human
    labels (pseudo-labels are never scored). The thresholds come from all human labels, a mild leak accepted to
    spare a nested cross-validation. ``cv``: the human labels' cross-validation, when the caller has it (its fold
    models are reused). A sample, not every unlabeled item: what is measured is whether confident pseudo-labels
    move the model, and 5,000 of them outweigh a few hundred human labels as surely as 500,000 do, at a
    hundredth of the fits' cost. None below 2 labels per class.
    """
    labeled_rows = np.flatnonzero(labeled)
    Xl, yl = X[labeled_rows], y[labeled_rows]
    cv = cv if cv is not None else cross_validate(Xl, yl, n_classes, seed=seed)
    if cv is None:
        return None
    unlabeled = np.flatnonzero(~labeled)
    if len(unlabeled) > max_unlabeled:
        unlabeled = np.sort(np.random.default_rng(seed).choice(unlabeled, max_unlabeled, replace=False))
    X_unlabeled = X[unlabeled]
    correct = 0
    for (train, held), model in zip(cv.folds, cv.models, strict=True):
        extra = pseudo_labels(model.predict_proba(X_unlabeled), np.zeros(len(X_unlabeled), bool), thresholds)
        if len(extra.rows):
            Xt = np.vstack([Xl[train], X_unlabeled[extra.rows]])
            model = Learner(n_classes, random_state=seed).fit(Xt, np.concatenate([yl[train], extra.classes]))
            correct += int((model.predict(Xl[held]) == yl[held]).sum())
        else:  # nothing cleared a bar: this fold's model is the human one, already scored out of fold
            correct += int((cv.proba[held].argmax(axis=1) == yl[held]).sum())
    return correct / len(yl)
