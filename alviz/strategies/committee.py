"""Query by committee: items the members of a bagged committee disagree on."""

from __future__ import annotations

import numpy as np

from alviz.strategies.base import QueryContext, register, require_committee, top_k_unlabeled
from alviz.strategies.uncertainty import random


def vote_entropy_score(committee_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' hard votes, (M, N, C) -> (N,); the soft consensus breaks ties."""
    m, n, c = committee_proba.shape
    votes = committee_proba.argmax(axis=2)  # (M, N)
    share = np.stack([(votes == j).mean(axis=0) for j in range(c)], axis=1)  # (N, C) vote shares
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(share > 0, share * np.log(share), 0.0).sum(axis=1)
    consensus = np.clip(committee_proba.mean(axis=0), 1e-12, 1.0)
    soft = -(consensus * np.log(consensus)).sum(axis=1)
    return h + 1e-3 * soft / np.log(max(c, 2))


def kl_consensus_score(committee_proba: np.ndarray) -> np.ndarray:
    """Mean KL divergence of each member from the consensus, (M, N, C) -> (N,)."""
    p = np.clip(committee_proba, 1e-12, 1.0)
    mean = p.mean(axis=0, keepdims=True)
    return (p * (np.log(p) - np.log(mean))).sum(axis=2).mean(axis=0)


@register(
    "vote_entropy",
    needs=("proba", "committee"),
    description="items on which a committee of models splits its votes most evenly",
    rank=120,
)
def vote_entropy(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Items whose committee votes split most evenly (random before a model)."""
    if ctx.proba is None and ctx.committee_proba is None:
        return random(ctx, k, rng)
    return top_k_unlabeled(vote_entropy_score(require_committee(ctx, "vote_entropy")), ctx.labeled, k, rng)


@register(
    "kl_consensus",
    needs=("proba", "committee"),
    description="items where the committee members' predictions lie farthest from their consensus",
    rank=130,
)
def kl_consensus(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Items where members' distributions lie farthest from the consensus (random before a model)."""
    if ctx.proba is None and ctx.committee_proba is None:
        return random(ctx, k, rng)
    return top_k_unlabeled(kl_consensus_score(require_committee(ctx, "kl_consensus")), ctx.labeled, k, rng)
