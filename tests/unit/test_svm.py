"""The linear SVM head (--model svm) and the svm_margin strategy: few labels, calibration, closest to the boundary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from alviz.cli import main as cli_main
from alviz.model import Learner
from alviz.strategies import QueryContext, select


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def per_class(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in np.unique(y)])


@pytest.mark.parametrize("n", [1, 2, 5])
def test_svm_head_learns_digits_from_a_few_labels_per_class(digits, n):
    X, y = digits
    rows = per_class(y, n)
    proba = Learner(10, kind="svm").fit(X[rows], y[rows]).predict_proba(X)
    assert proba.shape == (len(X), 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (proba.argmax(axis=1) == y).mean() > {1: 0.5, 2: 0.6, 5: 0.7}[n]


def test_svm_head_copes_with_one_label_in_one_class_and_unseen_classes(digits):
    X, y = digits
    rows = np.r_[np.flatnonzero(y == 0)[:5], np.flatnonzero(y == 1)[:5], np.flatnonzero(y == 2)[:1]]
    model = Learner(4, kind="svm").fit(X[rows], y[rows])
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4) and (proba[:, 3] == 0).all()  # class 3 has no label: probability 0
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    seen = np.isin(y, [0, 1, 2])
    assert (proba[seen].argmax(axis=1) == y[seen]).mean() > 0.6


def test_calibrated_svm_is_surer_of_the_items_it_gets_right(digits):
    X, y = digits
    rows = per_class(y, 5)
    proba = Learner(10, kind="svm").fit(X[rows], y[rows]).predict_proba(X)
    right = proba.argmax(axis=1) == y
    assert proba.max(axis=1)[right].mean() > proba.max(axis=1)[~right].mean() + 0.1


def test_hyperplane_distance_is_refused_for_other_heads(digits):
    X, y = digits
    rows = per_class(y, 3)
    with pytest.raises(ValueError, match="svm"):
        Learner(10).fit(X[rows], y[rows]).hyperplane_distance(X)


def blobs_with_a_middle_item() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two blobs (labeled in part) and, at row 0, one unlabeled item halfway between them."""
    rng = np.random.default_rng(0)
    X = np.vstack([[[0.0, 0.3]], rng.normal([-4, 0], 0.5, (30, 2)), rng.normal([4, 0], 0.5, (30, 2))])
    truth = np.r_[0, np.zeros(30, int), np.ones(30, int)]
    labeled = np.zeros(len(X), bool)
    labeled[[1, 2, 3, 31, 32, 33]] = True
    return X.astype(np.float32), labeled, np.where(labeled, truth, -1)


@pytest.mark.parametrize("model", [None, "logreg", "svm"])
def test_svm_margin_picks_the_item_on_the_boundary_whatever_the_session_model(model):
    X, labeled, y = blobs_with_a_middle_item()
    fitted = None if model is None else Learner(2, kind=model).fit(X[labeled], y[labeled])
    ctx = QueryContext(
        X=X, labeled=labeled, y=y, model=fitted, proba=None if fitted is None else fitted.predict_proba(X)
    )
    assert select("svm_margin", ctx, 1, 0).tolist() == [0]


def test_svm_margin_uses_the_session_svm_when_there_is_one():
    X, labeled, y = blobs_with_a_middle_item()
    # a session SVM fit on other labels (class 1 high above) has its boundary elsewhere than the middle
    odd = Learner(2, kind="svm").fit(
        np.array([[-4, 0], [-4, 0.5], [-3, 9], [-3, 10]], np.float32), np.array([0, 0, 1, 1])
    )
    ctx = QueryContext(X=X, labeled=labeled, y=y, model=odd)
    assert select("svm_margin", ctx, 1, 0).tolist() != [0]


def test_simulate_cli_runs_the_svm_head_with_svm_margin(tmp_path):
    out = tmp_path / "r.json"
    args = ["--data", "digits", "--strategies", "svm_margin,random", "--model", "svm", "--initial", "10"]
    assert cli_main(["simulate", *args, "--batch", "10", "--rounds", "2", "--repeats", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["model"] == "svm" and set(result["strategies"]) == {"svm_margin", "random"}
    assert all(0.3 < s["auc"] <= 1 for s in result["strategies"].values())


@pytest.mark.parametrize("n", [1, 2, 4])
def test_svm_probabilities_rank_the_classes_as_the_svm_does(digits, n):
    X, y = digits
    rows = per_class(y, n, seed=1)
    model = Learner(10, kind="svm").fit(X[rows], y[rows])
    assert (model.predict(X) == model._pipe.decision_function(X).argmax(axis=1)).all()
