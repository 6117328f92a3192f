"""Query by committee: items the members of a bagged committee disagree on."""

from __future__ import annotations

import numpy as np

from alviz import scores
from alviz.strategies.base import QueryContext, register, require_committee, top_k_unlabeled
from alviz.strategies.uncertainty import random


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
    return top_k_unlabeled(scores.vote_entropy(require_committee(ctx, "vote_entropy")), ctx.labeled, k, rng)


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
    return top_k_unlabeled(scores.kl_consensus(require_committee(ctx, "kl_consensus")), ctx.labeled, k, rng)
