"""Query strategies: plain functions ``(ctx, k, rng) -> k pool indices``, registered by name.

``select`` is the public entry: it checks the request, calls the strategy and checks the answer
(k distinct unlabeled indices). Strategies never see ground truth of unlabeled items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class QueryContext:
    X: np.ndarray  # (N, d) float32 embeddings
    labeled: np.ndarray  # (N,) bool
    y: np.ndarray  # (N,) int, -1 where unlabeled
    proba: np.ndarray | None = None  # (N, C) predicted probabilities, None before the first model
    committee_proba: np.ndarray | None = None  # (M, N, C)
    model: Any = None  # the fitted learner
    X_flip: np.ndarray | None = None  # (N, d) embeddings of the mirrored images (same embedder); image pools only


Strategy = Callable[[QueryContext, int, np.random.Generator], np.ndarray]
REGISTRY: dict[str, Strategy] = {}
COMMITTEE = frozenset({"vote_entropy", "kl_consensus"})  # these need ctx.committee_proba
NEEDS_FLIP = frozenset({"consistency"})  # these need ctx.X_flip (an image pool)


def register(name: str) -> Callable[[Strategy], Strategy]:
    def deco(fn: Strategy) -> Strategy:
        REGISTRY[name] = fn
        return fn

    return deco


def top_k_unlabeled(score: np.ndarray, labeled: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the k highest-scoring unlabeled items; ties broken at random (seeded)."""
    candidates = np.flatnonzero(~labeled)
    if len(candidates) > 4 * k:  # keep the k best and all that tie with the k-th: no shuffle or sort of the pool
        s = score[candidates]
        kth = np.partition(s, len(s) - k)[len(s) - k]
        if not np.isnan(kth):
            candidates = candidates[s >= kth]
    order = rng.permutation(len(candidates))  # shuffle first so a stable sort breaks ties randomly
    cand = candidates[order]
    best = np.argsort(-score[cand], kind="stable")[:k]
    return cand[best]


class NeedsCommittee(ValueError):
    """A committee strategy was called without a committee of at least two models."""


def require_committee(ctx: QueryContext, name: str) -> np.ndarray:
    cp = ctx.committee_proba
    if cp is None or len(cp) < 2:
        got = "none" if cp is None else f"a committee of {len(cp)}"
        raise NeedsCommittee(f"{name} needs a committee of at least 2 models; got {got}.")
    return cp


def select(name: str, ctx: QueryContext, k: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """k distinct unlabeled pool indices picked by strategy ``name`` (all that is left if fewer)."""
    if name not in REGISTRY:
        raise ValueError(f"Unknown strategy {name!r}; valid names are: {', '.join(sorted(REGISTRY))}.")
    if not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive whole number of items; got {k!r}.")
    n_left = int((~ctx.labeled).sum())
    if n_left == 0:
        raise ValueError("Nothing left to label: every item in the pool is labeled.")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if k >= n_left:
        return np.flatnonzero(~ctx.labeled)
    picked = np.asarray(REGISTRY[name](ctx, int(k), rng), dtype=np.int64)
    if len(picked) != k or len(np.unique(picked)) != k or ctx.labeled[picked].any():
        raise RuntimeError(f"strategy {name!r} broke its contract: it must return {k} distinct unlabeled indices")
    return picked


# Strategies register themselves when their module is imported.
from alviz.strategies import auto as _auto  # noqa: E402,F401
from alviz.strategies import committee as _committee  # noqa: E402,F401
from alviz.strategies import consistency as _consistency  # noqa: E402,F401
from alviz.strategies import diversity as _diversity  # noqa: E402,F401
from alviz.strategies import loss_prediction as _loss_prediction  # noqa: E402,F401
from alviz.strategies import svm_margin as _svm_margin  # noqa: E402,F401
from alviz.strategies import uncertainty as _uncertainty  # noqa: E402,F401
from alviz.strategies import vaal as _vaal  # noqa: E402,F401

random = _uncertainty.random
