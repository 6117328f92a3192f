"""Random and the single-model uncertainty family (least confidence, margin, entropy)."""

from __future__ import annotations

import numpy as np

from alviz import scores
from alviz.strategies.base import QueryContext, Strategy, register, top_k_unlabeled


@register("random", description="a uniform sample of the unlabeled items: the baseline to beat", rank=10)
def random(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform sample of the unlabeled items: the baseline every other strategy must beat."""
    return rng.choice(np.flatnonzero(~ctx.labeled), size=k, replace=False)


def _make(name: str) -> Strategy:
    score = scores.SCORES[name]

    def strategy(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
        s = score(ctx)
        if s is None:  # no model yet: nothing to be uncertain about
            return random(ctx, k, rng)
        return top_k_unlabeled(s, ctx.labeled, k, rng)

    strategy.__name__ = name
    strategy.__doc__ = f"Top-k unlabeled items by {name} of the model's prediction (random before a model)."
    return strategy


least_confidence = register(
    "least_confidence", needs=("proba",), description="items whose most likely class is least likely", rank=50
)(_make("least_confidence"))
margin = register("margin", needs=("proba",), description="items whose two most likely classes are closest", rank=30)(
    _make("margin")
)
entropy = register(
    "entropy", needs=("proba",), description="items whose predicted classes are most evenly spread", rank=40
)(_make("entropy"))
