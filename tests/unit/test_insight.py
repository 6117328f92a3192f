"""Insight layer: coverage, disputed bulk labels, why-picked and the stopping signal."""

from __future__ import annotations

import numpy as np
import pytest

from alviz import insight
from alviz.pool import Pool


def test_coverage_counts_items_within_the_radius_of_a_label():
    X = np.array([[0, 0], [0.5, 0], [3, 0], [10, 0]], dtype=np.float32)
    labeled = np.array([True, False, False, False])
    assert insight.coverage(X, labeled, radius=1.0) == 0.5
    assert insight.coverage(X, np.zeros(4, bool), radius=1.0) == 0.0


def test_disputed_list_catches_a_planted_wrong_bulk_label(make_session):
    # two tight clusters; a lasso labels the left cluster "left" but one of its items was really from the right
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(-5, 0.3, (30, 2)), rng.normal(5, 0.3, (30, 2))]).astype(np.float32)
    pool = Pool(name="planted", ids=[f"i{i}" for i in range(60)], vectors=X)
    sess = make_session(pool)
    sess.label(np.r_[0:20, 45], "left", source="bulk")  # row 45 sits in the right cluster: wrong
    sess.label(np.r_[30:45], "right", source="single")
    sess.retrain()
    disputed = sess.disputed_bulk(threshold=0.8)
    assert disputed.rows.tolist() == [45]
    assert sess.class_names[disputed.predicted[0]] == "right"
    sess.label([45], "right", source="single")  # fixed in place: no longer disputed, no longer bulk
    assert len(sess.disputed_bulk().rows) == 0


def test_stop_fires_once_predictions_are_stable_for_three_rounds_and_not_before():
    assert not insight.stop_advice([0.90, 0.95]).stop  # too few rounds
    assert not insight.stop_advice([0.999, 0.999, 0.95]).stop  # the latest round still moved
    assert insight.stop_advice([0.8, 0.995, 0.999, 1.0]).stop


def test_stability_curve_replays_rounds_from_the_event_log(make_session):
    # A pool the model has learned completely after the first round: later rounds change nothing.
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(-5, 0.3, (40, 2)), rng.normal(5, 0.3, (40, 2))]).astype(np.float32)
    pool = Pool(name="converged", ids=[f"c{i}" for i in range(80)], vectors=X)
    sess = make_session(pool)
    sess.label(np.r_[0:5], "left", source="single")
    sess.label(np.r_[40:45], "right", source="single")
    sess.retrain()
    for r in range(3):
        sess.label([5 + r], "left", source="single")
        sess.label([45 + r], "right", source="single")
        sess.retrain()
    curve = sess.stability_curve()
    assert len(curve) == 3 and min(curve) == 1.0
    assert insight.stop_advice(curve).stop


def test_why_names_the_strategy_rank_and_nearest_labeled_items(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0, 1], "left", source="bulk")
    sess.label([6, 7], "right", source="bulk")
    sess.retrain()
    rows = sess.query("margin", 3)
    why = sess.why(int(rows[1]))
    assert why["strategy"] == "margin" and why["rank"] == 2 and why["of"] == 3
    assert len(why["neighbors"]) == 3
    labels = {n["label"] for n in why["neighbors"]}
    assert labels <= {"left", "right"}
    d = [n["distance"] for n in why["neighbors"]]
    assert d == sorted(d)


def test_auto_query_records_which_behavior_it_chose(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.query("auto", 2)
    assert "no model yet" in sess.last_query.reason


def test_renaming_a_class_relabels_its_items_and_undo_brings_the_old_name_back(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0, 1, 2], "lft", source="bulk")
    sess.label([6, 7], "right", source="bulk")
    assert sess.rename_class("lft", "left") == 3
    assert sess.label_counts() == {"right": 2, "left": 3}
    assert [e["label"] for e in sess.store.events(sess.project_id) if e["item_id"] == vector_pool.ids[0]] == [
        "lft",
        "left",
    ]  # the history keeps the old name
    assert sess.undo() == 3
    assert sess.label_counts()["lft"] == 3


def test_merging_folds_one_class_into_another(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0, 1], "left", source="bulk")
    sess.label([2], "leftish", source="single")
    sess.label([6, 7], "right", source="bulk")
    assert sess.merge_classes("leftish", "left") == 1
    assert sess.label_counts() == {"left": 3, "right": 2}
    assert sess.model is not None  # refit over the new class list


def test_editing_the_label_set_refuses_what_makes_no_sense(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([0], "left", source="single")
    sess.label([6], "right", source="single")
    with pytest.raises(ValueError, match="into itself"):
        sess.merge_classes("left", "left")
    with pytest.raises(ValueError, match="exists already"):
        sess.rename_class("left", "right")
    with pytest.raises(ValueError, match="No class 'up'"):
        sess.rename_class("up", "down")
    with pytest.raises(ValueError, match="cannot be empty"):
        sess.rename_class("left", "  ")


def test_look_alikes_are_the_item_then_its_nearest_unlabeled_items(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([1], "left", source="single")
    group = sess.look_alikes(0, 4)
    assert group[0] == 0 and len(group) == 5 and 1 not in group.tolist()
    d = ((sess.X - sess.X[0]) ** 2).sum(axis=1)
    d[[0, 1]] = np.inf
    assert group[1:].tolist() == np.argsort(d, kind="stable")[:4].tolist()  # nearest first, all of cluster 0-5
    sess.label(group, "left", source="bulk")
    assert set(np.flatnonzero(sess.labeled)) == {0, 1, 2, 3, 4, 5}


def test_look_alikes_refuse_a_labeled_item_or_a_row_outside_the_pool(make_session, vector_pool):
    sess = make_session(vector_pool)
    sess.label([2], "left", source="single")
    with pytest.raises(ValueError, match="labeled already"):
        sess.look_alikes(2)
    with pytest.raises(ValueError, match="row must lie in 0..11"):
        sess.look_alikes(12)
