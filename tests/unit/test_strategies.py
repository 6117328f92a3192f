"""Query strategies: the registry's names, select's checks, and the most ambiguous item first (the contract every
strategy keeps is in test_strategy_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest

from alviz.strategies import REGISTRY, QueryContext, select

UNCERTAINTY = ["entropy", "margin", "least_confidence"]
CONTRACT_NAMES = [
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "vote_entropy",
    "kl_consensus",
    "egl",
    "kcenter",
    "badge",
    "density_entropy",
    "typiclust",
    "auto",
]


def context(n: int = 10, labeled_rows=(0, 1), proba: np.ndarray | None = None) -> QueryContext:
    """A small pool on a line, with hand-set probabilities (no model, no committee)."""
    X = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    labeled = np.zeros(n, dtype=bool)
    labeled[list(labeled_rows)] = True
    y = np.where(labeled, np.arange(n) % 2, -1)
    return QueryContext(X=X, labeled=labeled, y=y, proba=proba)


def confident_proba(n: int = 10) -> np.ndarray:
    """Every item confidently class 0 (0.95 / 0.03 / 0.02)."""
    return np.tile(np.array([0.95, 0.03, 0.02], dtype=np.float32), (n, 1))


def test_registry_holds_every_name_of_the_contract():
    assert set(CONTRACT_NAMES) <= set(REGISTRY)


@pytest.mark.parametrize("name", ["random", *UNCERTAINTY])
def test_ties_are_broken_by_the_seed(name):
    ctx = context(n=30, proba=np.full((30, 3), 1 / 3, dtype=np.float32))  # every item equally uncertain
    assert select(name, ctx, 4, rng=1).tolist() != select(name, ctx, 4, rng=2).tolist()


@pytest.mark.parametrize("k", [0, -1, 2.5, "3"])
def test_k_that_is_not_a_positive_whole_number_is_refused(k):
    with pytest.raises(ValueError, match="k must be a positive"):
        select("random", context(), k)


def test_unknown_strategy_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="valid names are: .*entropy.*random"):
        select("telepathy", context(), 1)


def test_nothing_left_to_label_is_refused():
    with pytest.raises(ValueError, match="Nothing left"):
        select("random", context(n=3, labeled_rows=(0, 1, 2)), 1)


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_uncertainty_strategies_pick_the_most_ambiguous_item_first(name):
    proba = confident_proba()
    proba[6] = [0.4, 0.35, 0.25]  # the one item the model hesitates on
    proba[4] = [0.7, 0.2, 0.1]  # somewhat unsure
    assert select(name, context(proba=proba), 2, rng=0).tolist() == [6, 4]


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_uncertainty_strategies_skip_labeled_items_however_ambiguous(name):
    proba = confident_proba()
    proba[1] = [1 / 3, 1 / 3, 1 / 3]  # labeled already
    proba[8] = [0.5, 0.3, 0.2]
    assert select(name, context(labeled_rows=(0, 1), proba=proba), 1, rng=0).tolist() == [8]


def test_margin_prefers_a_close_top_two_over_a_spread_distribution():
    proba = confident_proba()
    proba[3] = [0.5, 0.5, 0.0]  # margin 0: a coin flip between two classes
    proba[5] = [0.4, 0.3, 0.3]  # flatter, but its top two are 0.1 apart
    assert select("margin", context(proba=proba), 1, rng=0).tolist() == [3]


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_uncertainty_strategies_fall_back_to_random_without_a_model(name):
    ctx = context(n=30, proba=None)
    assert select(name, ctx, 5, rng=3).tolist() == select("random", ctx, 5, rng=3).tolist()


def test_select_accepts_a_generator():
    ctx = context(n=30)
    a = select("random", ctx, 5, rng=np.random.default_rng(11))
    b = select("random", ctx, 5, rng=np.random.default_rng(11))
    assert a.tolist() == b.tolist()
