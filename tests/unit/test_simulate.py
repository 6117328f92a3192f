"""The oracle split: what a simulation plays on, from a pool's embedding and its ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from alviz.simulate import oracle_split


def _data(n: int = 40):
    """n items in two classes, every fifth without ground truth; row i's features are (i, -i), its mirror (i, i)."""
    rows = np.arange(n, dtype=np.float32)
    y = np.where(np.arange(n) % 2 == 0, 0, 1)
    y[::5] = -1
    return np.c_[rows, -rows], y, np.c_[rows, rows]


def test_items_without_ground_truth_are_left_out_and_a_given_test_set_keeps_its_labeled_rows():
    X, y, X_flip = _data()
    X_test, y_test = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, -1, 1, 1])
    d = oracle_split(X, y, X_test, y_test, X_flip, name="tiny")
    assert (d.y >= 0).all() and len(d.X) == int((y >= 0).sum())
    np.testing.assert_array_equal(d.X_flip[:, 1], d.X[:, 0])  # the mirror row of each kept item
    np.testing.assert_array_equal(d.X_test, X_test[[0, 2, 3]])
    np.testing.assert_array_equal(d.y_test, [0, 1, 1])
    assert d.name == "tiny"


def test_without_a_test_set_a_stratified_share_is_held_out_the_same_with_or_without_the_mirror():
    X, y, X_flip = _data()
    d = oracle_split(X, y, X_flip=X_flip, test_fraction=0.25, seed=3)
    plain = oracle_split(X, y, test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(d.X, plain.X)
    np.testing.assert_array_equal(d.X_test, plain.X_test)
    assert plain.X_flip is None
    np.testing.assert_array_equal(d.X_flip[:, 1], d.X[:, 0])
    assert np.bincount(d.y_test).tolist() == [4, 4]  # 16 labeled items per class, a quarter of each held out
    assert len(d.X) + len(d.X_test) == int((y >= 0).sum())


def test_a_test_set_without_ground_truth_is_replaced_by_a_held_out_share():
    X, y, _ = _data()
    d = oracle_split(X, y, np.zeros((3, 2), np.float32), np.array([-1, -1, -1]), test_fraction=0.25)
    assert len(d.X_test) == 8 and (d.y_test >= 0).all()


def test_data_without_ground_truth_has_no_oracle():
    X, _, _ = _data()
    with pytest.raises(ValueError, match="no ground truth"):
        oracle_split(X, np.full(len(X), -1), name="unlabeled")
