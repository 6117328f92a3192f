"""Flip consistency: the items whose prediction changes most when the image is mirrored left to right.

A model that has learned what a class looks like should say the same about an image and its mirror image
when mirroring does not change the class (photos, clothing, animals; not digits or letters, where a mirrored
"2" is no longer a "2"). Disagreement between the two predictions, measured as the symmetric KL divergence
KL(p‖q) + KL(q‖p) between the predicted distributions p (image) and q (mirror image), marks items where the
model is unstable: a cheap, one-extra-view form of the augmentation-consistency criteria of semi-supervised and
active learning (e.g. Gao et al., "Consistency-based semi-supervised active learning", ECCV 2020).

The mirror images go through the *same fitted embedder* as the originals (``alviz.embed.embed(..., view=
"hflip")``: the same PCA basis, the same trained network), so ``ctx.X_flip`` lives in the model's input space.
Only image pools have it: for text pools and tables of vectors the strategy and the color raise ``NeedsImages``.

On raw pixels -> PCA it is a poor *query* strategy, worse than random (``benchmarks/label_efficiency.py``; the
numbers are in ``benchmarks/README.md``): there a mirror image is far from its original in the embedding, so the
score mostly measures how asymmetric a class is (shoes, digits) and a batch fills with one class. With features
closer to flip-invariant (EfficientNet-Lite0) it is on par with random and margin. Its best use is the map color:
where, within a class, the model's answer hangs on the image's orientation.
"""

from __future__ import annotations

import numpy as np

from alviz import scores
from alviz.strategies.base import QueryContext, register, top_k_unlabeled
from alviz.strategies.uncertainty import random


class NeedsImages(ValueError):
    """Flip consistency was asked for where there are no mirrored images (a text pool, vectors)."""


def require_flip(ctx: QueryContext, name: str = "consistency") -> np.ndarray:
    """ctx.X_flip, or a NeedsImages error that says why there is none."""
    if ctx.X_flip is None:
        raise NeedsImages(
            f"{name} needs an image pool: it compares the model's prediction on each image with its prediction "
            "on the mirrored image, and this pool has no images to mirror (text, a table of vectors, or an "
            "embedding that came with the data). Pick another strategy, e.g. margin or auto."
        )
    if ctx.X_flip.shape != ctx.X.shape:
        raise ValueError(f"X_flip has shape {ctx.X_flip.shape}, X has {ctx.X.shape}: they must match row for row.")
    return ctx.X_flip


@register(
    "consistency",
    needs=("proba", "model", "flip"),
    description="items whose prediction changes most when the image is mirrored (image pools only)",
    rank=110,
)
def consistency(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Top-k unlabeled items by flip disagreement (random before a model); image pools only."""
    require_flip(ctx)
    score = scores.SCORES["consistency"](ctx)
    if score is None:  # no model yet: nothing to disagree with itself
        return random(ctx, k, rng)
    return top_k_unlabeled(score, ctx.labeled, k, rng)
