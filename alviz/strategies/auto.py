"""``auto``: a strategy that adapts to the labeling budget.

Why: with a few labels per class the model's uncertainty is not yet worth trusting, and uncertainty
sampling then does worse than random, while picking typical items of uncovered clusters wins (Hacohen et
al., "Active Learning on a Budget", 2022). With more labels, uncertainty wins, best when spread over the pool
so that one batch does not ask the same question twenty times (Ash et al., BADGE, 2020; Citovsky et al.,
cluster-margin, 2021). ``auto`` reads the budget from the session state (labels per class) and moves
between these regimes:

- fewer than LOW labels per class (or no model yet): TypiClust;
- between LOW and HIGH: half TypiClust, half diverse margin;
- from HIGH on: diverse margin: the items of smallest margin, taken from distinct k-means clusters of the
  most uncertain candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alviz import scores
from alviz.strategies import QueryContext, register
from alviz.strategies.diversity import cluster, typiclust

LOW = 3.0  # labels per class below which uncertainty is not trusted
HIGH = 10.0  # labels per class from which uncertainty leads alone
CANDIDATES_PER_PICK = 10  # diverse margin looks at the 10·k most uncertain items


@dataclass(frozen=True)
class Plan:
    behavior: str  # "typiclust", "mixed" or "diverse_margin"
    typical_share: float  # fraction of the batch picked by TypiClust
    reason: str


def plan(ctx: QueryContext) -> Plan:
    """What ``auto`` will do for this state, and why (for the UI to show)."""
    n_labeled = int(ctx.labeled.sum())
    if ctx.proba is None:
        return Plan("typiclust", 1.0, "no model yet: typical items of uncovered clusters")
    n_classes = max(ctx.proba.shape[1], 1)
    per_class = n_labeled / n_classes
    if per_class < LOW:
        return Plan("typiclust", 1.0, f"{per_class:.1f} labels per class (< {LOW:g}): the model is too young to trust")
    if per_class < HIGH:
        return Plan("mixed", 0.5, f"{per_class:.1f} labels per class: half typical items, half diverse uncertainty")
    return Plan("diverse_margin", 0.0, f"{per_class:.1f} labels per class (≥ {HIGH:g}): diverse uncertainty")


def diverse_margin(
    ctx: QueryContext, k: int, rng: np.random.Generator, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Smallest-margin items, at most one per k-means cluster of the CANDIDATES_PER_PICK·k most uncertain."""
    unc = scores.margin(ctx.proba)
    taken = ctx.labeled if exclude is None else ctx.labeled | exclude
    cand = np.flatnonzero(~taken)
    n_cand = CANDIDATES_PER_PICK * k
    if len(cand) > n_cand:  # partition first: sorting every unlabeled item costs O(N log N) at 1M
        cand = np.sort(cand[np.argpartition(-unc[cand], n_cand)[:n_cand]])
    cand = cand[np.argsort(-unc[cand], kind="stable")]
    if len(cand) <= k:
        return cand
    labels, _ = cluster(ctx.X[cand], k, rng)
    picked = []
    for c in range(labels.max() + 1):
        members = cand[labels == c]
        if len(members):
            picked.append(int(members[np.argmax(unc[members])]))
    picked = np.asarray(picked)
    if len(picked) < k:  # fewer non-empty clusters than k: fill with the next most uncertain
        rest = np.setdiff1d(cand, picked, assume_unique=True)
        picked = np.concatenate([picked, rest[np.argsort(-unc[rest], kind="stable")[: k - len(picked)]]])
    return picked[np.argsort(-unc[picked], kind="stable")][:k]


@register("auto")
def auto(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Budget-aware: TypiClust while labels are few, diverse margin once they are many (see module doc)."""
    p = plan(ctx)
    n_typical = int(round(p.typical_share * k))
    typical = typiclust(ctx, n_typical, rng) if n_typical else np.empty(0, dtype=np.int64)
    if n_typical == k:
        return typical
    mask = np.zeros(len(ctx.labeled), dtype=bool)
    mask[typical] = True
    return np.concatenate([typical, diverse_margin(ctx, k - n_typical, rng, exclude=mask)])
