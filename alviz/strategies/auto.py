"""``auto``: a strategy that adapts to the labeling budget.

Why: with a few labels per class the model's uncertainty is not yet worth trusting, and uncertainty
sampling then does worse than random, while picking typical items of uncovered clusters wins (Hacohen et
al., "Active Learning on a Budget", 2022). With more labels, uncertainty wins, best when spread over the pool
so that one batch does not ask the same question twenty times (Ash et al., BADGE, 2020; Citovsky et al.,
cluster-margin, 2021). ``auto`` reads the budget from the session state and moves between these regimes:

- fewer than LOW labels in the least-labeled class (or no model yet): TypiClust;
- between LOW and HIGH: half TypiClust, half diverse margin;
- from HIGH on: diverse margin: the items of smallest margin, taken from distinct k-means clusters of the
  most uncertain candidates.

The budget is the count of the least-labeled class among those that have labels: a mean over all the model's
classes (labels / columns of ``proba``) counts classes without a label and called 5 classes of 40 labels and 5
of none "20 labels per class", and the mean over labeled classes hides one class that is still young.
Uncertainty cannot find a class that has no label (the model never predicts it), so a share of every batch
explores (TypiClust: typical items of the clusters with fewest labels): at least EXPLORE_MISSING while the
model knows of classes without a label; otherwise the pool may still hold classes nobody has named, and
EXPLORE_OPEN of the batch explores while some region of the pool holds no label (a cluster of the embedding's
shared clustering, 2 per class; exploring once every region is covered cost label efficiency on digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alviz import scores
from alviz.strategies import QueryContext, clustering, register
from alviz.strategies.diversity import cluster, typiclust

LOW = 3.0  # labels per class below which uncertainty is not trusted
HIGH = 10.0  # labels per class from which uncertainty leads alone
CANDIDATES_PER_PICK = 10  # diverse margin looks at the 10·k most uncertain items
EXPLORE_MISSING = 0.5  # share of the batch that explores while some known classes have no label
EXPLORE_OPEN = 0.1  # share that explores while a region holds no label, every known class having labels
REGIONS_PER_CLASS = 2  # coarse clusters per known class that "a region holds no label" is judged on


@dataclass(frozen=True)
class Plan:
    behavior: str  # "typiclust", "mixed" or "diverse_margin"
    typical_share: float  # fraction of the batch picked by TypiClust
    reason: str


def plan(ctx: QueryContext) -> Plan:
    """What ``auto`` will do for this state, and why (for the UI to show)."""
    if ctx.proba is None:
        return Plan("typiclust", 1.0, "no model yet: typical items of uncovered clusters")
    n_classes = max(ctx.proba.shape[1], 1)
    y = ctx.y[ctx.labeled]
    counts = np.bincount(y[y >= 0], minlength=n_classes)
    seen = counts[counts > 0]
    fewest = int(seen.min()) if len(seen) else 0
    missing = n_classes - len(seen)
    budget = f"{fewest} label{'' if fewest == 1 else 's'} in the least-labeled class"
    if fewest < LOW:
        return Plan(
            "typiclust",
            1.0,
            f"{budget} (< {LOW:g}): the model is too young to trust; typical items of uncovered clusters",
        )
    if fewest < HIGH:
        behavior, share, what = "mixed", 0.5, "half typical items, half diverse uncertainty"
    else:
        behavior, share, what = "diverse_margin", 0.0, f"diverse uncertainty (≥ {HIGH:g})"
    if missing:
        share = max(share, EXPLORE_MISSING)
        what += f"; {missing} of {n_classes} classes have no label yet: {share:.0%} of the batch explores"
        what += " uncovered clusters"
    elif share < EXPLORE_OPEN:
        unlabeled = uncovered_share(ctx, REGIONS_PER_CLASS * n_classes)
        if unlabeled > 0:
            share = EXPLORE_OPEN
            what += f"; new classes may still appear ({unlabeled:.0%} of the pool lies in regions with no label):"
            what += f" {share:.0%} of the batch explores them"
    return Plan(behavior, share, f"{budget}: {what}")


def uncovered_share(ctx: QueryContext, n_regions: int) -> float:
    """Share of the pool in regions (coarse clusters of the embedding's shared clustering) that hold no label.
    Seeded: the same state gives the same answer, whether asked by the query or by the UI. Beyond
    ``clustering.SAMPLE`` labels, a sample of them (a region missed by it only adds a little exploring)."""
    rng = np.random.default_rng(clustering.SEED)
    fine = clustering.fine_clusters(ctx.X)
    of_fine, _ = clustering.coarse(fine, n_regions, rng)
    regions = of_fine[fine.labels]
    rows = np.flatnonzero(ctx.labeled)
    if len(rows) > clustering.SAMPLE:
        rows = np.sort(rng.choice(rows, clustering.SAMPLE, replace=False))
    covered = np.zeros(int(of_fine.max()) + 1, dtype=bool)
    covered[of_fine[fine.assign(ctx.X[rows])]] = True
    return float((~covered[regions]).mean())


def n_typical(share: float, k: int) -> int:
    """TypiClust's picks in a batch of k: a positive share gets at least one, a share below 1 leaves one."""
    n = int(round(share * k))
    if 0 < share < 1 and k > 1:
        n = min(max(n, 1), k - 1)
    return n


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
    n = n_typical(plan(ctx).typical_share, k)
    typical = typiclust(ctx, n, rng) if n else np.empty(0, dtype=np.int64)
    if n == k:
        return typical
    mask = np.zeros(len(ctx.labeled), dtype=bool)
    mask[typical] = True
    return np.concatenate([typical, diverse_margin(ctx, k - n, rng, exclude=mask)])
