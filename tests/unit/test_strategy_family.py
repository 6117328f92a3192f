"""Each strategy of the family does what defines it, on a hand-made case where the answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alviz.cli import main as cli_main
from alviz.model import Learner, fit_committee
from alviz.scores import kl_consensus, vote_entropy
from alviz.strategies import QueryContext, select
from alviz.strategies.auto import plan


def two_blobs(n: int = 40, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    """n items around (-5, 0) then n around (+5, 0)."""
    rng = np.random.default_rng(seed)
    centers = np.repeat(np.array([[-5.0, 0.0], [5.0, 0.0]]), n, axis=0)
    return (centers + rng.normal(0, spread, centers.shape)).astype(np.float32)


def test_kcenter_picks_the_point_farthest_from_every_labeled_one():
    X = np.array([[0, 0], [1, 0], [2, 0], [9, 0], [4, 0]], dtype=np.float32)
    labeled = np.array([True, False, False, False, False])
    ctx = QueryContext(X=X, labeled=labeled, y=np.where(labeled, 0, -1))
    assert select("kcenter", ctx, 1, 0).tolist() == [3]
    # the second pick is the one farthest from both the labeled item and the first pick
    assert select("kcenter", ctx, 2, 0).tolist() == [3, 4]


def test_vote_entropy_picks_the_item_the_committee_splits_on():
    agree = [0.9, 0.1]
    committee = np.array(
        [
            [agree, agree, [0.8, 0.2]],
            [agree, agree, [0.3, 0.7]],
            [agree, agree, [0.4, 0.6]],
            [agree, agree, [0.9, 0.1]],
        ]
    )  # (M=4, N=3, C=2): members split 2-2 on item 2 only
    ctx = QueryContext(
        X=np.zeros((3, 2), np.float32),
        labeled=np.zeros(3, bool),
        y=np.full(3, -1),
        proba=committee.mean(axis=0),
        committee_proba=committee,
    )
    assert select("vote_entropy", ctx, 1, 0).tolist() == [2]
    assert vote_entropy(committee)[2] > vote_entropy(committee)[0]


def test_kl_consensus_picks_the_item_whose_members_disagree_in_distribution():
    committee = np.array([[[0.5, 0.5], [0.99, 0.01]], [[0.5, 0.5], [0.01, 0.99]]])  # both uncertain on item 0
    scores = kl_consensus(committee)
    assert scores[1] > scores[0]  # item 0 is uncertain but agreed on: no disagreement


def test_committee_strategies_refuse_a_committee_of_one():
    proba = np.full((4, 2), 0.5)
    ctx = QueryContext(
        X=np.zeros((4, 2), np.float32),
        labeled=np.zeros(4, bool),
        y=np.full(4, -1),
        proba=proba,
        committee_proba=proba[None],
    )
    for name in ("vote_entropy", "kl_consensus"):
        with pytest.raises(ValueError, match="committee of at least 2"):
            select(name, ctx, 1, 0)


def test_egl_picks_the_item_whose_gradient_is_largest():
    # Equal probabilities, so the expected gradient grows with the length of the (scaled) input.
    X = np.array([[0, 0], [1, 1], [-1, -1], [0.1, 0.0], [6.0, -6.0]], dtype=np.float32)
    labeled = np.array([False, True, True, False, False])
    y = np.array([-1, 0, 1, -1, -1])
    model = Learner(2).fit(X[labeled], y[labeled])
    proba = np.full((5, 2), 0.5, dtype=np.float32)
    ctx = QueryContext(X=X, labeled=labeled, y=y, proba=proba, model=model)
    assert select("egl", ctx, 1, 0).tolist() == [4]


def test_badge_starts_with_the_longest_gradient_and_does_not_pick_a_duplicate():
    X = np.array([[3, 3], [3, 3], [0, 0.1], [-3, 3], [1, 1], [-1, -1]], dtype=np.float32)
    labeled = np.array([False, False, False, False, True, True])
    y = np.array([-1, -1, -1, -1, 0, 1])
    model = Learner(2).fit(X[labeled], y[labeled])
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    ctx = QueryContext(X=X, labeled=labeled, y=y, proba=proba, model=model)
    picked = select("badge", ctx, 2, 0).tolist()
    assert picked[0] in (0, 1, 3)  # the longest inputs, equally uncertain
    assert sorted(picked) != [0, 1]  # rows 0 and 1 are the same point: the second pick goes elsewhere


def test_density_entropy_prefers_a_typical_doubt_to_an_outlier_with_the_same_entropy():
    X = np.vstack([two_blobs(20), [[0.0, 40.0]]]).astype(np.float32)  # row 40: a far outlier
    n = len(X)
    proba = np.tile([0.9, 0.1], (n, 1)).astype(np.float32)
    proba[[3, 40]] = [0.5, 0.5]  # the same, highest entropy for a blob member and the outlier
    ctx = QueryContext(X=X, labeled=np.zeros(n, bool), y=np.full(n, -1), proba=proba)
    assert select("density_entropy", ctx, 1, 0).tolist() == [3]


def test_typiclust_takes_one_typical_item_from_each_uncovered_cluster():
    X = two_blobs(40)
    ctx = QueryContext(X=X, labeled=np.zeros(len(X), bool), y=np.full(len(X), -1))
    picked = select("typiclust", ctx, 2, 0)
    assert sorted(np.sign(X[picked, 0]).tolist()) == [-1.0, 1.0]  # one per blob
    for i in picked:  # and near its blob's center rather than on its rim
        assert abs(abs(X[i, 0]) - 5.0) < 0.4


def test_typiclust_goes_to_the_cluster_without_labels():
    X = two_blobs(40)
    labeled = np.zeros(len(X), bool)
    labeled[:3] = True  # three labels in the left blob
    ctx = QueryContext(X=X, labeled=labeled, y=np.where(labeled, 0, -1))
    assert X[select("typiclust", ctx, 1, 0)[0], 0] > 0


def test_auto_uses_typical_items_while_labels_are_few_and_diverse_uncertainty_later():
    X = two_blobs(40)
    none = QueryContext(X=X, labeled=np.zeros(len(X), bool), y=np.full(len(X), -1))
    assert plan(none).behavior == "typiclust"
    labeled = np.zeros(len(X), bool)
    labeled[::2] = True  # 40 labels over 2 classes
    y = np.where(labeled, (X[:, 0] > 0).astype(int), -1)
    model = Learner(2).fit(X[labeled], y[labeled])
    late = QueryContext(X=X, labeled=labeled, y=y, proba=model.predict_proba(X), model=model)
    assert plan(late).behavior == "diverse_margin"
    picked = select("auto", late, 5, 0)
    assert not labeled[picked].any() and len(set(picked.tolist())) == 5


def test_committee_members_each_see_every_labeled_class():
    X = two_blobs(5)
    y = (X[:, 0] > 0).astype(int)
    y_one_each = y.copy()
    rows = np.array([0, 9])  # a single label per class: a plain bootstrap would often miss one
    for member in fit_committee(X[rows], y_one_each[rows], 2, size=5):
        assert member.classes_.tolist() == [0, 1]


def test_simulate_cli_writes_the_result_schema_on_digits(tmp_path, capsys):
    out = tmp_path / "result.json"
    rc = cli_main(
        [
            "simulate",
            "--data",
            "digits",
            "--strategies",
            "random,margin,auto",
            "--initial",
            "20",
            "--batch",
            "10",
            "--rounds",
            "2",
            "--repeats",
            "2",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["data"] == "digits" and result["n_pool"] + result["n_test"] == 1797
    assert set(result["strategies"]) == {"random", "margin", "auto"}
    for curve in result["strategies"].values():
        assert curve["n_labeled"] == [20, 30, 40]
        assert len(curve["accuracy_mean"]) == len(curve["accuracy_std"]) == 3
        assert len(curve["runs"]) == 2 and all(len(r) == 3 for r in curve["runs"])
        assert curve["auc"] == pytest.approx(np.mean(curve["runs"]), abs=1e-4)
        assert 0.0 < curve["auc"] <= 1.0 and curve["seconds_per_round"] >= 0.0


def test_simulate_cli_rejects_an_unknown_strategy_listing_the_valid_ones(tmp_path, capsys):
    rc = cli_main(["simulate", "--data", "digits", "--strategies", "margn", "--out", str(tmp_path / "r.json")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "margn" in err and "margin" in err and "typiclust" in err


def test_simulate_cli_says_what_an_npz_without_y_lacks(tmp_path, capsys):
    path = tmp_path / "x_only.npz"
    np.savez(path, X=np.zeros((10, 3), np.float32))
    rc = cli_main(["simulate", "--data", str(path), "--strategies", "random", "--out", str(tmp_path / "r.json")])
    assert rc == 2
    assert "y" in capsys.readouterr().err


def test_typiclust_past_the_shared_fine_clustering_clusters_the_pool_itself(monkeypatch):
    """With more labels + k than the fine clustering has clusters, TypiClust asks k-means of the sample for them
    all (it used to stop at the fine count, spreading a batch over too few clusters) and still keeps its contract."""
    from alviz import geometry

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 8)).astype(np.float32)
    labeled = np.zeros(len(X), bool)
    labeled[rng.choice(len(X), 700, replace=False)] = True  # 700 + 5 > 500 fine clusters
    asked = []
    real = geometry.lloyd
    monkeypatch.setattr(geometry, "lloyd", lambda Xs, k, r, **kw: asked.append(k) or real(Xs, k, r, **kw))
    ctx = QueryContext(X=X, labeled=labeled, y=np.where(labeled, 0, -1))
    picked = select("typiclust", ctx, 5, 0)
    assert asked[-1] == 705  # (the first call, 500, builds the shared fine clustering)
    assert len(set(picked.tolist())) == 5 and not labeled[picked].any()
