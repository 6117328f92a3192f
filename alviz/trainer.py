"""The session's model work: fitting (with pseudo-labels when asked), evaluation, the committee, and a
background worker, so the Session keeps labels, queries and the wiring.

A Trainer knows the embedding and the pool's ground truth (to measure), never the store: it fits on the label
snapshot it is handed, and the Session records the round.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from alviz.model import CrossVal, Learner, committee_proba, cross_validate, fit_committee
from alviz.pool import Pool
from alviz.pseudo import (
    PseudoLabels,
    class_thresholds,
    cross_val_accuracy_with_pseudo,
    pseudo_labels,
    training_sample,
)

EVAL_MAX = 20_000  # unlabeled items with ground truth a model is scored on: a fixed sample beyond


@dataclass(frozen=True)
class Evaluation:
    accuracy: float | None
    metric: str  # what accuracy means: "test accuracy", "cross-validated accuracy", ...
    n_eval: int


class Trainer:
    """Models of one session over one embedding; every fit reads a snapshot ``y`` (N,), -1 where unlabeled."""

    def __init__(self, pool: Pool, X: np.ndarray, X_test: np.ndarray | None, seed: int = 0) -> None:
        self.pool, self.X, self.X_test, self.seed = pool, X, X_test, seed
        self.model: Learner | None = None  # the model in use: human_model, or pseudo_model when use_pseudo
        self.raw_proba: np.ndarray | None = None  # (N, C') of the model in use, C' = classes it was fit with
        self.human_model: Learner | None = None  # the model of the human labels alone
        self.pseudo_model: Learner | None = None  # human + pseudo-labels (whether or not it is the one in use)
        self.pseudo: PseudoLabels | None = None
        self.use_pseudo = False  # train on pseudo-labels too (they are never stored as labels)
        # Every recorded round also measures the model with pseudo-labels, so the learning curve can show
        # both and the user can judge the toggle; costs a calibration (k fits) per round, in the background.
        self.compare_pseudo = True
        self.lock = threading.Lock()  # models and their scores are swapped in together
        self.job: Future | None = None  # the background retrain, until its result is taken
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alviz-retrain")
        self._cv: tuple[int, np.ndarray, CrossVal | None] | None = None  # (classes, labels, their cross-validation)
        self._committee: tuple[tuple, np.ndarray] | None = None  # ((model, labels), committee probabilities)

    # fitting ------------------------------------------------------------------------------------------
    def fit(self, y: np.ndarray, n_classes: int, with_pseudo: bool | None = None) -> None:
        """Fit on the labels ``y``. ``with_pseudo`` (default: ``use_pseudo``) also derives the pseudo-labels the
        human labels imply and, when they are used or can be measured on ground truth, fits a second model on
        human labels plus a stratified sample of them; it becomes the model in use only when ``use_pseudo`` is
        on. Without ground truth that model is only measured by cross-validation, which refits its own."""
        with_pseudo = self.use_pseudo if with_pseudo is None else with_pseudo
        mask = y >= 0
        human_model = Learner(n_classes, random_state=self.seed).fit(self.X[mask], y[mask])
        human_proba = human_model.predict_proba(self.X)
        pseudo, pseudo_model, pseudo_proba = None, None, None
        if with_pseudo:  # calibration reuses the labels' cross-validation (k small fits, once per set of labels)
            cv = self.cross_val(y, n_classes)
            thresholds = class_thresholds(self.X[mask], y[mask], n_classes, seed=self.seed, cv=cv)
            pseudo = pseudo_labels(human_proba, mask, thresholds)
        if pseudo is not None and len(pseudo.rows) and (self.use_pseudo or self.has_ground_truth):
            train = training_sample(pseudo, np.random.default_rng(self.seed))
            Xp = np.vstack([self.X[mask], self.X[train.rows]])
            yp = np.concatenate([y[mask], train.classes])
            pseudo_model = Learner(n_classes, random_state=self.seed).fit(Xp, yp)
            if self.use_pseudo:
                pseudo_proba = pseudo_model.predict_proba(self.X)
        model, proba = (pseudo_model, pseudo_proba) if pseudo_proba is not None else (human_model, human_proba)
        with self.lock:
            self.model, self.raw_proba, self.human_model = model, proba, human_model
            self.pseudo, self.pseudo_model = pseudo, pseudo_model

    def forget(self) -> None:
        """Drop every model (the class list changed under them)."""
        with self.lock:
            self.model, self.raw_proba, self.pseudo, self.human_model, self.pseudo_model = (None,) * 5

    def models(self) -> tuple[Learner | None, Learner | None, Learner | None, PseudoLabels | None]:
        """(in use, human, with pseudo-labels, the pseudo-labels) as one consistent set."""
        with self.lock:
            return self.model, self.human_model, self.pseudo_model, self.pseudo

    def measure_round(self, y: np.ndarray, n_classes: int) -> tuple[Evaluation, dict]:
        """Fit on ``y`` and measure the model in use, plus (``compare_pseudo``) the model with and without
        pseudo-labels, each once: the evaluation the round records and the extra columns of its curve."""
        self.fit(y, n_classes, with_pseudo=self.use_pseudo or self.compare_pseudo)
        model, human_model, pseudo_model, pseudo = self.models()
        ev = human = self.evaluate(human_model, y, n_classes)
        extras: dict = {}
        if pseudo is not None:  # the curve with and without pseudo-labels
            extras["accuracy_human"] = human.accuracy
            extras["n_pseudo"] = len(pseudo.rows)
            # without ground truth the pseudo model is measured by refitting folds: pseudo_model may be None there;
            # no pseudo-label at all: the model with pseudo-labels is the human one
            with_pseudo = (
                self.evaluate(pseudo_model or human_model, y, n_classes, pseudo=pseudo) if len(pseudo.rows) else human
            )
            extras["accuracy_pseudo"] = with_pseudo.accuracy
            if model is pseudo_model:
                ev = with_pseudo
        return ev, extras

    # measuring ----------------------------------------------------------------------------------------
    @property
    def has_ground_truth(self) -> bool:
        """Whether ``evaluate`` scores models on ground truth (a test part, or known classes in the pool)."""
        return self._test_rows() is not None or self.pool.has_ground_truth

    def _test_rows(self) -> np.ndarray | None:
        test = self.pool.test
        if test is None or not test.has_ground_truth or self.X_test is None:
            return None
        return test.y_true >= 0

    def cross_val(self, y: np.ndarray, n_classes: int) -> CrossVal | None:
        """The labels' stratified k-fold cross-validation, computed once per set of labels: the human model's
        accuracy, the pseudo-label thresholds and the pseudo-label comparison all read it."""
        cached = self._cv
        if cached is not None and cached[0] == n_classes and np.array_equal(cached[1], y):
            return cached[2]
        mask = y >= 0
        cv = cross_validate(self.X[mask], y[mask], n_classes, seed=self.seed)
        self._cv = (n_classes, y.copy(), cv)
        return cv

    def evaluate(
        self, model: Learner | None, y: np.ndarray, n_classes: int, pseudo: PseudoLabels | None = None
    ) -> Evaluation:
        """Held-out test accuracy where ground truth exists, else cross-validated accuracy on the labels ``y``;
        ``pseudo``: the model was trained with these pseudo-labels too, so each fold of the cross-validation is
        (with the same per-class thresholds)."""
        if model is None:
            return Evaluation(None, "no model yet", 0)
        keep = self._test_rows()
        if keep is not None:
            pred = model.predict(self.X_test[keep])
            return Evaluation(float((pred == self.pool.test.y_true[keep]).mean()), "test accuracy", int(keep.sum()))
        labeled = y >= 0
        if self.pool.has_ground_truth:
            rows = np.flatnonzero((self.pool.y_true >= 0) & ~labeled)
            if len(rows):
                if len(rows) > EVAL_MAX:  # a fixed-seed sample: exact enough, and a round stays bounded
                    rows = np.sort(np.random.default_rng(self.seed).choice(rows, EVAL_MAX, replace=False))
                acc = float((model.predict(self.X[rows]) == self.pool.y_true[rows]).mean())
                return Evaluation(acc, "accuracy on unlabeled items (ground truth)", len(rows))
        cv = self.cross_val(y, n_classes)
        if pseudo is not None:
            acc = cross_val_accuracy_with_pseudo(
                self.X, y, labeled, pseudo.thresholds, n_classes, seed=self.seed, cv=cv
            )
        else:
            acc = None if cv is None else cv.accuracy(y[labeled])
        if acc is None:
            return Evaluation(None, "cross-validated accuracy (needs 2 labels per class)", int(labeled.sum()))
        return Evaluation(acc, "cross-validated accuracy", int(labeled.sum()))

    def confusion(self, n_classes: int) -> np.ndarray | None:
        """Confusion matrix of the model in use on the test part (rows: true, cols: predicted), if any."""
        keep = self._test_rows()
        if self.model is None or keep is None:
            return None
        pred = self.model.predict(self.X_test[keep])
        cm = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(cm, (self.pool.test.y_true[keep], pred), 1)
        return cm

    def committee_proba(self, y: np.ndarray, n_classes: int) -> np.ndarray | None:
        """(M, N, C) probabilities of a bagged committee on the labels ``y``, kept until the model or the labels
        change (the difficulty color and ranking share it: it costs M fits)."""
        if self.model is None:
            return None
        key = (self.model, y.tobytes())
        if self._committee is None or self._committee[0] != key:
            mask = y >= 0
            members = fit_committee(self.X[mask], y[mask], n_classes, seed=self.seed)
            self._committee = (key, committee_proba(members, self.X))
        return self._committee[1]

    def predictions_at(self, labels: list[np.ndarray], rows: np.ndarray, n_classes: int) -> list[np.ndarray]:
        """For each label snapshot that holds two classes: a model fit on it predicts ``rows``."""
        preds = []
        for y in labels:
            mask = y >= 0
            if len(np.unique(y[mask])) < 2:
                continue
            model = Learner(n_classes, random_state=self.seed).fit(self.X[mask], y[mask])
            preds.append(model.predict(self.X[rows]))
        return preds

    # background ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done()

    def start(self, work: Callable[[], dict]) -> Future | None:
        """Run ``work`` on the worker thread unless a job is still running; never blocks."""
        if self.running:
            return None
        self.job = self._executor.submit(work)
        return self.job

    def wait(self) -> None:
        """Let a running job land (it fits the class list it started with)."""
        if self.job is not None:
            futures.wait([self.job])
