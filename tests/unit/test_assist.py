"""Model-assisted labeling: background retraining and per-class pseudo-labels kept apart from human labels."""

from __future__ import annotations

import numpy as np
import pytest

from alviz.pool import Pool
from alviz.pseudo import class_thresholds, pseudo_labels


def three_clusters(seed: int = 0, n: int = 40) -> np.ndarray:
    """Two well separated clusters (classes 0 and 1) and two that coincide (classes 2 and 3)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[-10, 0], [10, 0], [0, 10], [0, 10]])
    return np.vstack([rng.normal(c, 0.5, (n, 2)) for c in centers]).astype(np.float32)


def test_each_class_gets_its_own_threshold_and_an_unreliable_class_gets_none():
    X = three_clusters()
    y = np.repeat(np.arange(4), 40)
    th = class_thresholds(X, y, 4, precision=0.95)
    assert np.isfinite(th[:2]).all()  # the separable classes reach 95% precision
    assert np.isinf(th[2:]).all()  # the two overlapping ones never do: no pseudo-labels for them


def test_pseudo_labels_only_cover_unlabeled_items_above_their_class_threshold():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.99, 0.01]])
    labeled = np.array([False, False, False, True])
    ps = pseudo_labels(proba, labeled, np.array([0.7, np.inf]))
    assert ps.rows.tolist() == [0] and ps.classes.tolist() == [0]


def test_pseudo_labels_train_the_model_but_are_never_stored_as_labels(make_session):
    X = three_clusters(n=30)[:60]  # the two separable clusters
    pool = Pool(name="pseudo", ids=[f"p{i}" for i in range(60)], vectors=X)
    sess = make_session(pool)
    sess.label(np.r_[0:6], "a", source="single")
    sess.label(np.r_[30:36], "b", source="single")
    sess.use_pseudo = True
    result = sess.retrain()
    assert result["pseudo_labels"] == 48  # every unlabeled item of both clusters
    assert set(sess.store.current_labels(sess.project_id)) == {f"p{i}" for i in [*range(6), *range(30, 36)]}
    assert sess.n_labeled == 12


def test_background_retrain_records_a_round_without_blocking_the_caller(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.retrain_every = 4
    sess.label([0, 1], "left", source="bulk")
    assert not sess.due_for_retrain()
    sess.label([6, 7], "right", source="bulk")
    assert sess.due_for_retrain()
    job = sess.retrain_in_background()
    assert job is not None
    result = job.result(timeout=30)
    assert result["round"] == 1 and result["n_labeled"] == 4
    assert not sess.due_for_retrain()  # counted from the round just made
    assert sess.model is not None and len(sess.history()) == 1


def test_background_retrain_is_not_started_with_one_class(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0, 1, 2], "left", source="bulk")
    assert sess.retrain_in_background() is None


def test_accepting_a_page_of_suggestions_is_one_action_that_one_undo_reverts(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0], "left", source="single")
    sess.label_each([2, 3, 8], ["left", "left", "right"], source="accepted")
    assert sess.label_counts() == {"left": 3, "right": 1}
    assert sess.undo() == 3
    assert sess.label_counts() == {"left": 1}  # "right" has no label left: it leaves the class list


def test_every_round_records_the_model_with_and_without_pseudo_labels(make_session):
    X = three_clusters(n=30)[:60]  # two separable clusters, no ground truth: cross-validated accuracy
    pool = Pool(name="pseudo-curve", ids=[f"p{i}" for i in range(60)], vectors=X)
    sess = make_session(pool)
    sess.label(np.r_[0:6], "a", source="single")
    sess.label(np.r_[30:36], "b", source="single")
    sess.retrain()  # pseudo-labels off: measured, not used
    sess.use_pseudo = True
    sess.retrain()
    off, on = sess.history()
    for r in (off, on):
        assert r["n_pseudo"] == 48 and 0.0 <= r["accuracy_human"] <= 1.0 and 0.0 <= r["accuracy_pseudo"] <= 1.0
    assert off["accuracy"] == off["accuracy_human"]  # the model in use was the human one
    assert on["accuracy"] == on["accuracy_pseudo"]
    assert sess.model is sess.pseudo_model and sess.human_model is not sess.model


def test_pseudo_cross_validation_equals_plain_cross_validation_when_no_class_qualifies():
    from alviz.model import cross_val_accuracy
    from alviz.pseudo import cross_val_accuracy_with_pseudo

    X = three_clusters(seed=3)
    y = np.full(len(X), -1)
    labeled_rows = np.r_[0:8, 40:48, 80:88, 120:128]
    y[labeled_rows] = np.repeat(np.arange(4), 8)
    labeled = y >= 0
    never = np.full(4, np.inf)
    plain = cross_val_accuracy(X[labeled], y[labeled], 4)
    # same folds, same model; pooled over items rather than averaged over unequal folds
    assert cross_val_accuracy_with_pseudo(X, y, labeled, never, 4) == pytest.approx(plain, abs=0.01)
    # Everything pseudo-labeled, the overlapping classes 2/3 guessed: it still scores only human labels.
    everything = cross_val_accuracy_with_pseudo(X, y, labeled, np.zeros(4), 4)
    assert 0.4 <= everything <= 0.8  # classes 0/1 right, 2/3 a coin toss


def test_suggestion_accuracy_is_counted_per_window_between_rounds(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0, 1], "left", source="bulk")
    sess.label([6, 7], "right", source="bulk")
    sess.retrain()
    sess.label([2], "left", source="accepted")
    sess.label([3], "left", source="corrected")
    sess.label([8], "right", source="accepted")
    sess.retrain()
    sess.label([4], "left", source="corrected")
    first, second, live = sess.suggestion_curve()
    assert (first["round"], first["accuracy"]) == (1, None)  # no suggestion answered before round 1
    assert (second["round"], second["accepted"], second["corrected"]) == (2, 2, 1)
    assert second["accuracy"] == 2 / 3 and second["n_labeled"] == 7
    assert (live["round"], live["accepted"], live["corrected"], live["accuracy"]) == (None, 0, 1, 0.0)
