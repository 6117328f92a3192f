"""Difficulty ranking: committee uncertainty + disagreement per item, expected work per cluster."""

from __future__ import annotations

import numpy as np
import pytest

from alviz import scores
from alviz.pool import Pool


def test_committee_scores_separate_border_cases_from_disagreement():
    sure = [[1.0, 0.0], [1.0, 0.0]]  # every member sure of the same class
    border = [[0.5, 0.5], [0.5, 0.5]]  # every member torn, but all the same way
    split = [[1.0, 0.0], [0.0, 1.0]]  # each member sure, of different classes
    cp = np.stack([np.array([sure[m], border[m], split[m]]) for m in range(2)])
    s = scores.committee_scores(cp)
    assert s["uncertainty"] == pytest.approx([0.0, 1.0, 1.0], abs=1e-6)
    assert s["disagreement"] == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)
    assert s["difficulty"].argmax() == 2 and s["difficulty"].argmin() == 0


def test_committee_scores_need_a_committee():
    with pytest.raises(ValueError, match="committee of at least 2"):
        scores.committee_scores(np.ones((1, 3, 2)) / 2)


def overlapping_pool(seed: int = 0) -> Pool:
    """Class a far left, classes b and c overlapping on the right: the hard region is known."""
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [rng.normal([-10, 0], 0.5, (60, 2)), rng.normal([5, 0], 1.0, (60, 2)), rng.normal([6, 0], 1.0, (60, 2))]
    )
    return Pool(name="overlap", ids=[f"o{i}" for i in range(180)], vectors=X.astype(np.float32))


def test_the_overlapping_classes_rank_hardest_and_their_cluster_has_the_most_work(make_session):
    pool = overlapping_pool()
    sess = make_session(pool)
    for name, rows in (("a", np.r_[0:5]), ("b", np.r_[60:65]), ("c", np.r_[120:125])):
        sess.label(rows, name, source="single")
    with pytest.raises(ValueError, match="needs a model"):
        sess.difficulty()  # labels, but no model trained yet
    sess.retrain()
    result = sess.difficulty(n_clusters=2)
    top = pool.index_of(result.items["item_id"].head(30).tolist())
    assert (top >= 60).all()  # the 30 hardest all lie in the b/c overlap
    work = result.clusters.iloc[0]
    assert (result.cluster_of[60:] == work["cluster"]).mean() > 0.9  # the overlap's cluster comes first
    assert work["expected_work"] > 5 * result.clusters.iloc[1]["expected_work"]
    assert work["hard_share"] > 0.1 and result.clusters.iloc[1]["hard_share"] == 0.0
    assert result.clusters["items"].sum() == 180 and result.clusters["labeled"].sum() == 15
    labeled = result.items.dropna(subset=["label"])
    assert set(labeled["item_id"]) == {pool.ids[r] for r in [*range(5), *range(60, 65), *range(120, 125)]}
    csv = result.items.to_csv(index=False)  # what the Train page downloads
    assert csv.splitlines()[0] == "item_id,difficulty,uncertainty,disagreement,predicted,confidence,label,cluster"


def test_the_difficulty_and_disagreement_colors_come_from_one_committee_per_model(make_session):
    pool = overlapping_pool()
    sess = make_session(pool)
    assert sess.score("difficulty") is None  # no model yet
    for name, rows in (("a", np.r_[0:5]), ("b", np.r_[60:65]), ("c", np.r_[120:125])):
        sess.label(rows, name, source="single")
    sess.retrain()
    hard = sess.score("difficulty")
    committee = sess.trainer._committee
    assert sess.score("disagreement").shape == (180,) and sess.trainer._committee is committee  # reused, not refit
    assert hard[60:].mean() > 2 * hard[:60].mean()  # the b/c overlap is the hard part
    ranked = sess.difficulty(n_clusters=2).items
    top = ranked.set_index("item_id").loc[pool.ids, "difficulty"].to_numpy()
    assert np.allclose(top, hard)  # the ranking and the color agree
    sess.label([6], "a", source="single")
    sess.score("difficulty")
    assert sess.trainer._committee is not committee  # new labels: a new committee


def test_a_committee_query_uses_the_committee_the_colors_already_fit(make_session):
    pool = overlapping_pool()
    sess = make_session(pool)
    for name, rows in (("a", np.r_[0:5]), ("b", np.r_[60:65]), ("c", np.r_[120:125])):
        sess.label(rows, name, source="single")
    sess.retrain()
    sess.score("disagreement")
    assert sess.context(committee=True).committee_proba is sess.trainer._committee[1]  # no second set of fits
    rows = sess.query("vote_entropy", k=5)
    assert len(set(rows.tolist())) == 5 and not sess.labeled[rows].any()
