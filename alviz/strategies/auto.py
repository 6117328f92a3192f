"""``auto``: a strategy that adapts to what the labels so far cover, read from evidence, not from a budget table.

Why: a model can only be uncertain about what it has seen, so uncertainty sampling cannot find a class or a
region of the pool that has no label yet; there typical items of uncovered clusters (TypiClust, Hacohen et al.,
"Active Learning on a Budget", 2022) do the exploring. Everywhere else the items of smallest margin win, best
spread over the pool so that one batch does not ask the same question twenty times (Ash et al., BADGE, 2020;
Citovsky et al., cluster-margin, 2021). ``auto`` reads, without ground truth, what the labels cover:

- no model yet: TypiClust;
- TypiClust, too, while its clusters are large (labeled + k of them average TYPICAL_CLUSTER candidates) and the
  class means predict the labels of regions they were not shown as well as the model does (``prototype_evidence``):
  the classes are blobs whose uncovered parts typical items teach best. Features that cluster by class (a
  pretrained CNN's) keep this up to the bound; on pixels the model's boundary tends to win sooner;
- classes the model knows of have no label: at least EXPLORE_MISSING of the batch explores (TypiClust: typical
  items of the clusters with fewest labels), the rest is diverse margin;
- every known class has labels but some region of the pool holds none (a cluster of the embedding's shared
  clustering, 2 per class): the pool may hold classes nobody has named, EXPLORE_OPEN of the batch explores;
- otherwise: diverse margin: the items of smallest margin, taken from distinct k-means clusters of the most
  uncertain candidates (CANDIDATES_PER_PICK·k of them);
- unless those candidates are half the unlabeled items or more (a large batch on a small pool: 100 of a
  2,000-item pool): then they are the pool rather than its doubts, and spreading the batch over them trades the
  smallest margins for items the model is sure of. Plain margin then, the k smallest margins; label-free regions
  get the share of the batch a uniform batch would give them (their share of the pool, at most EXPLORE_OPEN).

The budget is reported as the count of the least-labeled class among those that have labels (a mean over all
the model's classes called 5 classes of 40 labels and 5 of none "20 labels per class"). It does not pick the
regime: fixed thresholds on it (TypiClust below 3 labels in the least-labeled class, half TypiClust below 10)
lost to diverse margin with this exploration on every pool of ``benchmarks/peers.py``. The one bound on labels
is relative to the pool and belongs to TypiClust: its clusters must stay large (TYPICAL_CLUSTER); its value was
chosen on one row of that benchmark, and the sweep is in ``benchmarks/README.md`` with the other numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from alviz import geometry, scores
from alviz.model import Learner
from alviz.strategies import clustering
from alviz.strategies.base import QueryContext, register
from alviz.strategies.diversity import CANDIDATES_PER_PICK, diverse_top, typiclust

EXPLORE_MISSING = 0.5  # share of the batch that explores while some known classes have no label
EXPLORE_OPEN = 0.1  # share that explores while a region holds no label, every known class having labels
REGIONS_PER_CLASS = 2  # coarse clusters per known class that "a region holds no label" is judged on
TYPICAL_CLUSTER = 60  # TypiClust's clusters (labeled + k) must average this many candidates for its picks to pay
FOLDS = 5  # folds of regions the prototype evidence holds out


@dataclass(frozen=True)
class Plan:
    behavior: str  # "typiclust" (no model), "mixed" (margin and exploring), "diverse_margin" or "margin"
    typical_share: float  # fraction of the batch picked by TypiClust
    reason: str
    spread: bool = True  # the margin picks are spread over CANDIDATES_PER_PICK·k candidates (else the k best)


def spreads(ctx: QueryContext, k: int) -> bool:
    """Whether diverse margin's CANDIDATES_PER_PICK·k candidates are fewer than half the unlabeled items, i.e.
    still the pool's doubts rather than the pool."""
    return 2 * CANDIDATES_PER_PICK * k < int((~ctx.labeled).sum())


def plan(ctx: QueryContext, k: int | None = None) -> Plan:
    """What ``auto`` will do for this state with a batch of ``k``, and why (for the UI to show). Without ``k``,
    whether the batch is spread is not judged (it is)."""
    if ctx.proba is None:
        return Plan("typiclust", 1.0, "no model yet: typical items of uncovered clusters")
    n_classes = max(ctx.proba.shape[1], 1)
    y = ctx.y[ctx.labeled]
    counts = np.bincount(y[y >= 0], minlength=n_classes)
    seen = counts[counts > 0]
    fewest = int(seen.min()) if len(seen) else 0
    missing = n_classes - len(seen)
    budget = f"{fewest} label{'' if fewest == 1 else 's'} in the least-labeled class"
    if clusters_large(ctx, k) and (why := typical_still_pays(ctx)):
        what = f"{why}, so typical items of uncovered clusters still teach it most"
        return Plan("typiclust", 1.0, f"{budget}: {what}", spread=k is None or spreads(ctx, k))
    what, share = "diverse uncertainty", 0.0
    spread = k is None or spreads(ctx, k)
    if not spread:
        what = (
            f"uncertainty: a batch of {k} would be spread over its {CANDIDATES_PER_PICK * k} most uncertain"
            f" candidates, half or more of the {int((~ctx.labeled).sum())} unlabeled items, so it takes the"
            " smallest margins"
        )
    if missing:
        share = EXPLORE_MISSING
        what += f"; {missing} of {n_classes} classes have no label yet: {share:.0%} of the batch explores"
        what += " uncovered clusters"
    else:
        unlabeled = uncovered_share(ctx, REGIONS_PER_CLASS * n_classes)
        if unlabeled > 0:
            share = EXPLORE_OPEN if spread else min(EXPLORE_OPEN, unlabeled)
            what += f"; new classes may still appear ({unlabeled:.0%} of the pool lies in regions with no label):"
            what += f" {share:.0%} of the batch explores them"
    behavior = "mixed" if share else "diverse_margin" if spread else "margin"
    return Plan(behavior, share, f"{budget}: {what}", spread)


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


@dataclass(frozen=True)
class Prototypes:
    """Accuracy on labeled items of regions held out of training: the nearest class mean's and the model's."""

    means: float
    model: float
    se: float  # standard error of the item-by-item difference
    judged: int  # held-out labels of a class the other folds have: the only ones either could get right

    @property
    def as_good(self) -> bool:
        """The class means get at least as many of the held-out labels right as the model does."""
        return self.means >= self.model


def typical_still_pays(ctx: QueryContext) -> str | None:
    """Why TypiClust should take the whole batch, or None: too few labels yet to judge the model on regions it
    was not shown (fewer than FOLDS held-out labels of a class the other folds have), or the class means predict
    them as well as it does."""
    proto = prototype_evidence(ctx)
    if proto is None or proto.judged < FOLDS:
        return "too few labels yet to judge the model on regions it was not shown"
    if proto.as_good:
        right = f"{round(proto.means * proto.judged)} and {round(proto.model * proto.judged)} of {proto.judged}"
        return f"class means predict the labels of regions they were not shown as well as the model does ({right})"
    return None


def clusters_large(ctx: QueryContext, k: int | None) -> bool:
    """Whether TypiClust's labeled + k clusters still average TYPICAL_CLUSTER of its candidates: three times the
    20 neighbours its typicality is measured over, so that a typical item stands for many."""
    clusters = int(ctx.labeled.sum()) + (k or 0)
    return clusters * TYPICAL_CLUSTER <= len(clustering.fine_clusters(ctx.X).sample)


def prototype_evidence(ctx: QueryContext) -> Prototypes | None:
    """Class means against the model (a logistic regression, as alviz's Learner), on folds made of whole regions
    of the embedding (REGIONS_PER_CLASS coarse clusters per class), so that both predict parts of the pool they
    have no label from, as they must for TypiClust's picks. While the class means do as well, the classes are
    blobs the labels have not covered yet; once the model wins, its boundary is what is left to learn. None
    with fewer labels than folds. Seeded: the query and the UI get the same answer. Asked only while
    ``clusters_large``, that is for at most a few hundred labels."""
    rows = np.flatnonzero(ctx.labeled & (ctx.y >= 0))
    if len(rows) < FOLDS:
        return None
    X, y = ctx.X[rows], ctx.y[rows]
    n_classes = ctx.proba.shape[1]
    # The UI's plan and the query's ask for the same labels in a row: keep the last answer per embedding.
    store = clustering.derived(ctx.X)
    key = hashlib.blake2b(rows.tobytes() + y.astype(np.int64).tobytes() + n_classes.to_bytes(4, "little")).digest()
    if (last := store.get("prototypes")) is not None and last[0] == key:
        return last[1]
    fine = clustering.fine_clusters(ctx.X)
    of_fine, _ = clustering.coarse(fine, REGIONS_PER_CLASS * n_classes, np.random.default_rng(clustering.SEED))
    region = of_fine[fine.assign(X)]  # the regions uncovered_share judges
    fold = np.random.default_rng(clustering.SEED).permutation(int(region.max()) + 1)[region] % FOLDS
    evidence = prototypes_on_folds(X, y, fold, n_classes)
    store["prototypes"] = key, evidence
    return evidence


def prototypes_on_folds(X: np.ndarray, y: np.ndarray, fold: np.ndarray, n_classes: int) -> Prototypes:
    """Each fold of (X, y) predicted by the class means and by a Learner fit on the other folds, compared on the
    labels whose class the other folds have (a class seen by neither says nothing about which is better)."""
    model_right = np.zeros(len(y), dtype=bool)
    means_right = np.zeros(len(y), dtype=bool)
    judged = np.zeros(len(y), dtype=bool)
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        classes = np.unique(y[train])
        if len(classes) < 2:
            continue
        judged[test] = np.isin(y[test], classes)
        model_right[test] = Learner(n_classes).fit(X[train], y[train]).predict(X[test]) == y[test]
        centers = np.stack([X[train][y[train] == c].mean(axis=0) for c in classes])
        means_right[test] = classes[geometry.nearest_center(X[test], centers)] == y[test]
    n = int(judged.sum())
    if n < 2:
        return Prototypes(0.0, 0.0, float("inf"), n)
    diff = means_right[judged].astype(np.float64) - model_right[judged]
    se = float(diff.std(ddof=1) / np.sqrt(n))
    return Prototypes(float(means_right[judged].mean()), float(model_right[judged].mean()), se, n)


def n_typical(share: float, k: int) -> int:
    """TypiClust's picks in a batch of k: a positive share gets at least one, a share below 1 leaves one."""
    n = int(round(share * k))
    if 0 < share < 1 and k > 1:
        n = min(max(n, 1), k - 1)
    return n


@register(
    "auto",
    needs=("proba",),
    description="typical items of uncovered clusters while classes or regions of the pool have no label or class "
    "means predict unseen regions as well as the model, diverse uncertain items everywhere else",
    rank=0,
)
def auto(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Diverse margin, with a share of typical items of uncovered clusters while classes or regions have no
    label; plain margin when the diverse step's candidates would be half the unlabeled items; TypiClust before
    the first model (see the module doc)."""
    p = plan(ctx, k)
    return compose(ctx, k, rng, p.typical_share, p.spread)


def compose(ctx: QueryContext, k: int, rng: np.random.Generator, typical_share: float, spread: bool) -> np.ndarray:
    """A batch of k: ``typical_share`` of it from TypiClust, the rest the smallest margins, spread over
    CANDIDATES_PER_PICK times as many candidates when ``spread`` (benchmarks try other shares through this)."""
    n = n_typical(typical_share, k)
    typical = typiclust(ctx, n, rng) if n else np.empty(0, dtype=np.int64)
    if n == k:
        return typical
    mask = np.zeros(len(ctx.labeled), dtype=bool)
    mask[typical] = True
    m = k - n
    candidates = CANDIDATES_PER_PICK * m if spread else m
    picks = diverse_top(scores.margin(ctx.proba), ctx, m, rng, exclude=mask, candidates=candidates)
    return np.concatenate([typical, picks])
