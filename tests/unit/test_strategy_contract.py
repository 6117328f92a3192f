"""The contract every registered strategy keeps, checked on a context built from what its ``StrategyInfo`` says
it needs: k distinct unlabeled indices, the same picks for the same seed, and no use of ground truth it was not
given. A new strategy is covered here as soon as it registers."""

from __future__ import annotations

import numpy as np
import pytest

from alviz.model import Learner, committee_proba, fit_committee
from alviz.strategies import COMMITTEE, INFO, NEEDS, NEEDS_FLIP, REGISTRY, QueryContext, ordered, select

N_CLASSES, PER_CLASS, LABELS_PER_CLASS = 3, 20, 4


def pool(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, truth, labeled): three noisy blobs, a few labels in each (enough for out-of-fold losses)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    X = (np.eye(N_CLASSES, 6)[truth] * 3 + rng.normal(size=(len(truth), 6))).astype(np.float32)
    labeled = np.zeros(len(truth), dtype=bool)
    for c in range(N_CLASSES):
        labeled[np.flatnonzero(truth == c)[:LABELS_PER_CLASS]] = True
    return X, truth, labeled


def context(name: str, fitted: bool = True, reveal: bool = False, labeled: np.ndarray | None = None) -> QueryContext:
    """The context a session would build for strategy ``name``: only what its info says it needs. ``reveal``
    fills y with the ground truth of the unlabeled items too, as a leak would; ``fitted=False``: before the
    first model."""
    X, truth, default = pool()
    labeled = default if labeled is None else labeled
    needs = INFO[name].needs
    y = truth.copy() if reveal else np.where(labeled, truth, -1)
    fields: dict = {}
    if fitted:
        model = Learner(N_CLASSES).fit(X[labeled], truth[labeled])  # fit on the labeled items alone
        fields.update(proba=model.predict_proba(X) if "proba" in needs else None)
        fields.update(model=model if "model" in needs else None)
        if "committee" in needs:
            fields["committee_proba"] = committee_proba(fit_committee(X[labeled], truth[labeled], N_CLASSES), X)
    if "flip" in needs:
        fields["X_flip"] = (X + np.random.default_rng(1).normal(scale=0.5, size=X.shape)).astype(np.float32)
    return QueryContext(X=X, labeled=labeled, y=y, **fields)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_strategy_keeps_the_contract(name):
    ctx = context(name)
    picked = select(name, ctx, 5, rng=7)
    assert len(picked) == 5 and len(set(picked.tolist())) == 5 and not ctx.labeled[picked].any()
    assert select(name, ctx, 5, rng=7).tolist() == picked.tolist()  # seeded: the same picks again
    # no peeking: ground truth of the unlabeled items in y changes nothing (it must never be read there)
    assert select(name, context(name, reveal=True), 5, rng=7).tolist() == picked.tolist()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_strategy_works_before_the_first_model(name):
    ctx = context(name, fitted=False)
    picked = select(name, ctx, 5, rng=0)
    assert len(set(picked.tolist())) == 5 and not ctx.labeled[picked].any()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_asking_for_at_least_what_is_left_returns_all_that_is_left(name):
    labeled = np.ones(N_CLASSES * PER_CLASS, dtype=bool)
    labeled[[5, 25, 45]] = False
    assert sorted(select(name, context(name, labeled=labeled), 10, rng=0).tolist()) == [5, 25, 45]


def test_every_strategy_declares_known_needs_a_description_and_a_place_in_the_ui():
    assert [info.name for info in ordered()] == sorted(REGISTRY, key=lambda n: (INFO[n].rank, n))
    assert set(INFO) == set(REGISTRY) and all(INFO[n].fn is REGISTRY[n] for n in REGISTRY)
    for info in ordered():
        assert info.needs <= NEEDS and info.description and "\n" not in info.description, info.name
    assert ordered()[0].name == "auto"  # the UI's default comes first
    assert COMMITTEE == {"vote_entropy", "kl_consensus"} and NEEDS_FLIP == {"consistency"}
