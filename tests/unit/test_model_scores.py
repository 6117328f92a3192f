"""The learner speaks in all the session's classes; scores give known values on known vectors."""

from __future__ import annotations

import numpy as np
import pytest

from alviz import scores
from alviz.model import Learner, OneClassError, cross_val_accuracy
from alviz.strategies import QueryContext

# ------------------------------------------------------------------------------------------------ model

# The first feature alone tells the classes apart; the second is the same in both classes.
X3 = np.array([[-2.0, 0.0], [-2.0, 1.0], [-2.0, 2.0], [2.0, 0.0], [2.0, 1.0], [2.0, 2.0]], dtype=np.float32)
Y3 = np.array([0, 0, 0, 2, 2, 2])  # classes 1 and 3 exist in the session but have no labels yet


def test_predict_proba_covers_every_class_with_zeros_for_unseen_ones():
    p = Learner(n_classes=4).fit(X3, Y3).predict_proba(X3)
    assert p.shape == (6, 4) and not p[:, [1, 3]].any() and np.allclose(p.sum(axis=1), 1.0)


def test_predict_returns_session_class_ids():
    assert Learner(n_classes=4).fit(X3, Y3).predict(X3).tolist() == Y3.tolist()


def test_feature_count_mismatch_says_both_counts():
    model = Learner(n_classes=4).fit(X3, Y3)
    with pytest.raises(ValueError, match="X has 3 features, the model was fit with 2"):
        model.predict_proba(np.zeros((1, 3), dtype=np.float32))


def test_fitting_one_class_raises_one_class_error():
    with pytest.raises(OneClassError):
        Learner(n_classes=2).fit(X3, np.zeros(6, dtype=int))


def test_labels_beyond_the_class_count_are_refused():
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        Learner(n_classes=2).fit(X3, Y3)


def test_predicting_before_fitting_is_refused():
    with pytest.raises(RuntimeError, match="not trained"):
        Learner(n_classes=2).predict_proba(X3)


def test_cross_val_accuracy_needs_two_labels_per_class():
    assert cross_val_accuracy(X3[:4], np.array([0, 0, 0, 1]), n_classes=2) is None


def test_cross_val_accuracy_needs_two_classes():
    assert cross_val_accuracy(X3, np.zeros(6, dtype=int), n_classes=2) is None


def test_cross_val_accuracy_of_separable_classes_is_perfect():
    assert cross_val_accuracy(X3, Y3, n_classes=4) == 1.0


# ----------------------------------------------------------------------------------------------- scores

P = np.array(
    [
        [1.0, 0.0, 0.0],  # certain
        [0.5, 0.3, 0.2],
        [1 / 3, 1 / 3, 1 / 3],  # know nothing
    ],
    dtype=np.float32,
)


def test_least_confidence_is_one_minus_the_top_probability():
    np.testing.assert_allclose(scores.least_confidence(P), [0.0, 0.5, 2 / 3], atol=1e-6)


def test_margin_is_one_minus_the_gap_between_the_top_two():
    np.testing.assert_allclose(scores.margin(P), [0.0, 0.8, 1.0], atol=1e-6)


def test_margin_of_a_single_class_is_zero():
    np.testing.assert_array_equal(scores.margin(np.ones((2, 1), dtype=np.float32)), [0.0, 0.0])


def test_entropy_is_shannon_entropy_in_nats():
    expected = [0.0, -(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2)), np.log(3)]
    np.testing.assert_allclose(scores.entropy(P), expected, atol=1e-6)


@pytest.mark.parametrize("fn", [scores.least_confidence, scores.margin, scores.entropy])
def test_scores_are_float32_per_item(fn):
    out = fn(P)
    assert out.shape == (3,) and out.dtype == np.float32


# Centered on the origin by construction: class 0 items straddle +x, class 1 items straddle -x.
XS = np.array(
    [[1, 0.2], [1, -0.2], [1, 0], [-1, 0.2], [-1, -0.2], [-1, 0], [0, 1], [0, -1]],
    dtype=np.float32,
)
YS = np.array([0, 0, -1, 1, 1, -1, -1, -1])


def test_similarity_is_highest_for_an_item_on_a_class_centroid():
    sim, nearest = scores.similarity(XS, YS, n_classes=2)
    assert sim[2] == pytest.approx(1.0) and sim[2] == sim.max() and nearest[2] == 0


def test_similarity_names_the_nearest_labeled_class():
    _, nearest = scores.similarity(XS, YS, n_classes=2)
    assert nearest[[0, 1, 2, 3, 4, 5]].tolist() == [0, 0, 0, 1, 1, 1]


def test_similarity_ignores_classes_without_labels():
    _, nearest = scores.similarity(XS, YS, n_classes=5)
    assert set(nearest.tolist()) <= {0, 1}


def test_similarity_with_nothing_labeled_is_zeros():
    sim, nearest = scores.similarity(XS, np.full(len(XS), -1), n_classes=2)
    assert not sim.any() and (nearest == -1).all()


# ------------------------------------------------------------------------------------------ the score table


def test_the_score_table_is_the_one_list_of_colors_and_their_labels():
    from alviz.session import COLOR_SCORES

    assert COLOR_SCORES == tuple(scores.SCORES) == tuple(scores.LABELS)
    assert {"entropy", "margin", "least_confidence", "similarity", "disagreement", "difficulty", "consistency"} == set(
        COLOR_SCORES
    )
    assert all(info.label and info.needs for info in scores.SCORES.values())


def test_a_table_score_is_none_until_its_inputs_exist_then_the_pure_function():
    labeled = YS >= 0
    bare = QueryContext(X=XS, labeled=np.zeros(len(XS), bool), y=np.full(len(XS), -1))
    assert all(info(bare) is None for info in scores.SCORES.values())  # no model, no labels, no committee
    cp = np.stack([np.tile(P, (3, 1))[: len(XS)], np.tile(P[::-1], (3, 1))[: len(XS)]])
    ctx = QueryContext(X=XS, labeled=labeled, y=YS, proba=cp[0], committee_proba=cp)
    np.testing.assert_array_equal(scores.SCORES["margin"](ctx), scores.margin(cp[0]))
    np.testing.assert_array_equal(scores.SCORES["similarity"](ctx), scores.similarity(XS, YS, n_classes=5)[0])
    np.testing.assert_array_equal(scores.SCORES["difficulty"](ctx), scores.committee_scores(cp)["difficulty"])
    assert scores.SCORES["consistency"](ctx) is None  # no model and no mirrored images here
