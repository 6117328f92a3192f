"""Random and the single-model uncertainty family (least confidence, margin, entropy)."""

from __future__ import annotations

import numpy as np

from alviz import scores
from alviz.strategies import QueryContext, Strategy, register, top_k_unlabeled


@register("random")
def random(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform sample of the unlabeled items: the baseline every other strategy must beat."""
    return rng.choice(np.flatnonzero(~ctx.labeled), size=k, replace=False)


def _make(name: str) -> Strategy:
    score_fn = scores.UNCERTAINTY[name]

    def strategy(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        if ctx.proba is None:  # no model yet: nothing to be uncertain about
            return random(ctx, k, rng)
        return top_k_unlabeled(score_fn(ctx.proba), ctx.labeled, k, rng)

    strategy.__name__ = name
    strategy.__doc__ = f"Top-k unlabeled items by {name} of the model's prediction (random before a model)."
    return strategy


least_confidence = register("least_confidence")(_make("least_confidence"))
margin = register("margin")(_make("margin"))
entropy = register("entropy")(_make("entropy"))
