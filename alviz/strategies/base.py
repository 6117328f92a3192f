"""What every strategy module shares: the query context, the registry and its ``register`` decorator, and the
top-k selector. Strategy modules import from here, so ``alviz.strategies`` can import them without a cycle."""

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

# What a strategy may need in its context beyond X, labeled and y. The session always fills proba and model (once
# there is a model); a committee and the mirrored images cost extra, so it builds them only for strategies that
# declare them.
NEEDS = frozenset({"proba", "model", "committee", "flip"})
LAST = 1000  # rank of a strategy that declares none: after the ranked ones, in name order


@dataclass(frozen=True)
class StrategyInfo:
    """One strategy as the registry knows it: declared once, by ``register`` in the strategy's own module."""

    name: str
    fn: Strategy
    needs: frozenset[str]  # a subset of NEEDS
    description: str  # one line, for the Queue page's help
    rank: int = LAST  # place in the UI's list: lower first


REGISTRY: dict[str, Strategy] = {}  # name -> function (what select calls)
INFO: dict[str, StrategyInfo] = {}  # name -> everything else the registry knows


def register(
    name: str, *, needs: tuple[str, ...] = (), description: str, rank: int = LAST
) -> Callable[[Strategy], Strategy]:
    """Register the decorated function as strategy ``name``; ``needs`` says which optional context fields it uses."""
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"strategy {name!r} declares unknown needs {sorted(unknown)}; choose from {sorted(NEEDS)}")

    def deco(fn: Strategy) -> Strategy:
        REGISTRY[name] = fn
        INFO[name] = StrategyInfo(name, fn, frozenset(needs), description, rank)
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
