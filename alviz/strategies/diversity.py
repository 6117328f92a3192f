"""Strategies that look at the geometry of the pool: expected model change, core-set, BADGE,
density-weighted entropy and TypiClust. All vectorised: no Python loop over the pool.

A round must cost the same at 1M items as at 100k: k-center and BADGE compare every pick with every candidate,
so they look at a candidate pool of at most ``CANDIDATES`` items (k-center: a uniform sample of the unlabeled
items, which keeps its aim of covering the pool; BADGE: the items of longest gradient embedding, the only ones
its D² sampling is likely to reach). TypiClust and density share one clustering per embedding
(``alviz.strategies.clustering``) instead of a k-means over the pool per query.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from alviz import geometry, scores
from alviz.strategies import clustering
from alviz.strategies.base import QueryContext, register, top_k_unlabeled
from alviz.strategies.uncertainty import random

CANDIDATES_PER_PICK = 10  # diverse_top spreads a batch over k clusters of the 10·k best-scoring items
CANDIDATES = 20_000  # items k-center and BADGE choose among; the whole unlabeled pool below this
MAX_REFERENCE = 10_000  # labeled items k-center measures distances to (a uniform sample beyond)
ROWS = 32_768  # rows per block when a pool-wide quantity is computed in pieces
# TypiClust past the fine clustering: Lloyd iterations of its per-query k-means of the sample (its cost grows with
# the labels; fewer iterations than the fine clustering's kept the same AUC, see benchmarks/README.md)
PAST_FINE_ITERATIONS = 4


def model_features(ctx: QueryContext, rows: np.ndarray | slice | None = None) -> np.ndarray:
    """Embeddings of ``rows`` (default: all) as the model's linear head sees them (scaled), with a bias column."""
    X = ctx.X if rows is None else ctx.X[rows]
    scale = getattr(ctx.model, "scale", None)
    Xs = scale(X) if callable(scale) else X
    return np.hstack([np.asarray(Xs, dtype=np.float32), np.ones((len(Xs), 1), dtype=np.float32)])


def feature_norms(ctx: QueryContext) -> np.ndarray:
    """(N,) length of every item's model features, block by block (no scaled copy of the pool)."""
    scale = getattr(ctx.model, "scale", None)
    out = np.empty(len(ctx.X), dtype=np.float32)
    for start in range(0, len(ctx.X), ROWS):
        block = ctx.X[start : start + ROWS]
        f = np.asarray(scale(block) if callable(scale) else block, dtype=np.float32)
        out[start : start + len(f)] = np.sqrt(np.einsum("ij,ij->i", f, f) + 1.0)  # + 1: the bias column
    return out


@register(
    "egl",
    needs=("proba", "model"),
    description="items whose label, whatever it is, would change the model most (expected gradient length)",
    rank=90,
)
def egl(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Items whose label, whatever it turns out to be, would move the model most (random before a model)."""
    if ctx.proba is None:
        return random(ctx, k, rng)
    return top_k_unlabeled(scores.expected_gradient_length(ctx.proba, feature_norms(ctx)), ctx.labeled, k, rng)


@register(
    "kcenter",
    description="items farthest from everything labeled, so that the labels cover the pool (core-set)",
    rank=70,
)
def kcenter(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy core-set: repeatedly the unlabeled item farthest from everything labeled or picked, among a
    uniform sample of at most CANDIDATES unlabeled items (distances to at most MAX_REFERENCE labeled ones)."""
    X = np.asarray(ctx.X, dtype=np.float32)
    cand = np.flatnonzero(~ctx.labeled)
    if len(cand) > CANDIDATES:
        cand = np.sort(rng.choice(cand, CANDIDATES, replace=False))
    Xc = X[cand]
    picked: list[int] = []  # positions in cand
    ref = np.flatnonzero(ctx.labeled)
    if len(ref):
        if len(ref) > MAX_REFERENCE:
            ref = rng.choice(ref, MAX_REFERENCE, replace=False)
        dist = geometry.min_sqdist(Xc, X[ref])
    else:  # nothing labeled: start from a random item
        picked.append(int(rng.choice(len(cand))))
        dist = geometry.min_sqdist(Xc, Xc[picked])
    xx = np.einsum("ij,ij->i", Xc, Xc)
    dist[picked] = -np.inf
    while len(picked) < k:
        i = int(np.argmax(dist))
        picked.append(i)
        # one mat-vec per pick: ||x - c||² = ||x||² - 2 x·c + ||c||², no (M, d) temporary
        np.minimum(dist, xx - 2.0 * (Xc @ Xc[i]) + xx[i], out=dist)
        dist[i] = -np.inf
    return cand[np.asarray(picked)]


@register(
    "badge",
    needs=("proba", "model"),
    description="uncertain items that also differ from one another (k-means++ on gradient embeddings)",
    rank=60,
)
def badge(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """BADGE: k-means++ seeding over gradient embeddings g = (p - e_ŷ) ⊗ x.

    Uncertain items have long gradients, different items point different ways: one pass gives both.
    The (N, C·d) gradient matrix is never built: g_i·g_j = (a_i·a_j)(x_i·x_j) with a = p - e_ŷ.
    """
    if ctx.proba is None:
        return random(ctx, k, rng)
    cand = np.flatnonzero(~ctx.labeled)
    a = ctx.proba[cand].astype(np.float32)
    a[np.arange(len(a)), a.argmax(axis=1)] -= 1.0
    aa = np.einsum("ij,ij->i", a, a)
    if len(cand) > CANDIDATES:  # the longest (p - e_ŷ): confident items have near-zero gradients
        keep = np.sort(np.argpartition(-aa, CANDIDATES)[:CANDIDATES])
        cand, a, aa = cand[keep], a[keep], aa[keep]
    x = model_features(ctx, cand)
    norm2 = aa * np.einsum("ij,ij->i", x, x)
    picked = [int(np.argmax(norm2))]  # positions in cand; the longest gradient first, as BADGE does
    d2 = np.full(len(cand), np.inf, dtype=np.float32)
    while True:
        c = picked[-1]
        np.minimum(d2, np.maximum(norm2 + norm2[c] - 2.0 * (a @ a[c]) * (x @ x[c]), 0.0), out=d2)
        d2[picked] = 0.0
        if len(picked) == k:
            break
        total = float(d2.sum(dtype=np.float64))
        if total > 0:  # k-means++: sample proportionally to the squared distance to the nearest center
            nxt = int(np.searchsorted(np.cumsum(d2, dtype=np.float64), rng.random() * total, side="right"))
            nxt = min(nxt, len(cand) - 1)
        else:  # every candidate coincides with a center: any unpicked one will do
            nxt = int(rng.choice(np.setdiff1d(np.arange(len(cand)), picked)))
        if d2[nxt] == 0.0:
            nxt = int(np.argmax(d2)) if total > 0 else nxt
        picked.append(nxt)
    return cand[np.asarray(picked)]


def density(X: np.ndarray, rng: np.random.Generator | None = None, n_clusters: int = 20) -> np.ndarray:
    """Representativeness: cosine similarity of each item to the center of its k-means cluster.

    Clusters come from the embedding's shared clustering (``rng`` is accepted for compatibility and unused: the
    result depends on the embedding alone), and the (N,) result is kept per embedding: computed once."""
    store = clustering.derived(X)
    key = ("density", n_clusters)
    if key not in store:
        fine = clustering.fine_clusters(X)
        _, centers = clustering.coarse(fine, n_clusters, np.random.default_rng(clustering.SEED))
        cunit = centers / np.maximum(np.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
        out = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), ROWS):
            block = np.asarray(X[start : start + ROWS], dtype=np.float32)
            near = geometry.nearest_center(block, centers)
            norms = np.maximum(np.linalg.norm(block, axis=1), 1e-12)
            out[start : start + len(block)] = np.einsum("ij,ij->i", block, cunit[near]) / norms
        store[key] = out
    return store[key]


def diverse_top(
    score: np.ndarray,
    ctx: QueryContext,
    k: int,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
    candidates: int | None = None,
) -> np.ndarray:
    """The highest-scoring unlabeled items (outside ``exclude``), at most one per k-means cluster of the
    ``candidates`` best (default CANDIDATES_PER_PICK·k), so that one batch does not ask the same question k
    times; with ``candidates`` <= k, simply the k best (ties: lower index)."""
    taken = ctx.labeled if exclude is None else ctx.labeled | exclude
    cand = np.flatnonzero(~taken)
    n_cand = max(CANDIDATES_PER_PICK * k if candidates is None else candidates, k)
    if len(cand) > n_cand:  # keep the n_cand best and all that tie with the last: no sort of a 1M pool
        s = score[cand]
        kth = np.partition(s, len(s) - n_cand)[len(s) - n_cand]
        if not np.isnan(kth):
            cand = cand[s >= kth]
    cand = cand[np.argsort(-score[cand], kind="stable")[:n_cand]]
    if len(cand) <= k:
        return cand
    with threadpool_limits(limits=1):  # k-means of ~10·k points: threads only contend
        labels, _ = geometry.kmeans(ctx.X[cand], k, rng)
    _, first = np.unique(labels, return_index=True)  # cand is sorted by score: a cluster's first member is its best
    picked = cand[first]
    if len(picked) < k:  # fewer non-empty clusters than k: fill with the next best
        rest = cand[~np.isin(cand, picked)]
        picked = np.concatenate([picked, rest[: k - len(picked)]])
    return picked[np.argsort(-score[picked], kind="stable")][:k]


@register(
    "density_entropy",
    needs=("proba",),
    description="uncertain items of dense regions before outliers (entropy weighted by representativeness)",
    rank=80,
)
def density_entropy(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """Entropy weighted by representativeness, so that outliers do not crowd out typical doubts.

    Before a model, the most representative items.
    """
    dens = np.clip(density(ctx.X, rng), 0.0, None)
    score = dens if ctx.proba is None else scores.entropy(ctx.proba) * dens
    return top_k_unlabeled(score, ctx.labeled, k, rng)


def typicality(X: np.ndarray, members: np.ndarray, rng: np.random.Generator, knn: int = 20) -> np.ndarray:
    """1 / mean distance to the knn nearest members of the same cluster (a sample of 1,000 for big ones)."""
    ref = members if len(members) <= 1000 else rng.choice(members, 1000, replace=False)
    kk = min(knn, len(ref) - 1)
    if kk < 1:
        return np.ones(len(members), dtype=np.float32)
    d2 = geometry.sqdist(X[members], X[ref])
    nearest = np.partition(d2, kk, axis=1)[:, 1 : kk + 1]  # column 0 is (mostly) the item itself
    return (1.0 / (np.sqrt(nearest).mean(axis=1) + 1e-12)).astype(np.float32)


@register(
    "typiclust",
    description="the most typical item of each of the largest clusters without a label: for the first labels",
    rank=20,
)
def typiclust(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """TypiClust (Hacohen et al., 2022): for tiny budgets, the most typical item of each of the largest
    clusters that hold no label yet. Clusters: k-means with (labeled + k) centers over a sample of at most
    ``clustering.SAMPLE`` items, merged from the embedding's shared fine clustering while that has enough clusters
    (up to 500), else computed on the sample; picks come from that sample (the whole pool below it), so a query
    costs the same at 1M items as at 10k."""
    X = ctx.X
    fine = clustering.fine_clusters(X)
    rows = fine.sample  # the candidates and what cluster sizes are counted on
    labeled_rows = np.flatnonzero(ctx.labeled)
    wanted = int(ctx.labeled.sum()) + k
    if wanted <= int((fine.sizes > 0).sum()):
        of_fine, _ = clustering.coarse(fine, wanted, rng)
        labels = of_fine[fine.labels]
        covering = of_fine[fine.assign(X[labeled_rows])]
    else:  # more clusters than the shared fine clustering has (past ~500 labels): k-means of the sample itself.
        # Capped at the fine count, a batch spread over too few clusters and lost to scikit-activeml's TypiClust.
        with threadpool_limits(limits=1, user_api="blas"):
            labels, centers = geometry.lloyd(X[rows], min(wanted, len(rows)), rng, iterations=PAST_FINE_ITERATIONS)
            covering = geometry.nearest_center(X[labeled_rows], centers)
    n_clusters = int(max(labels.max(), covering.max(initial=-1))) + 1
    sizes = np.bincount(labels, minlength=n_clusters).astype(np.int64)
    covered = np.bincount(covering, minlength=n_clusters).astype(np.int64)
    taken = ctx.labeled[rows].copy()
    free = np.bincount(labels[~taken], minlength=n_clusters)
    picked: list[int] = []
    while len(picked) < k and free.any():
        open_ = np.flatnonzero(free > 0)
        # fewest labels first, then the largest cluster
        c = open_[np.lexsort((-sizes[open_], covered[open_]))[0]]
        members = np.flatnonzero(labels == c)
        typ = typicality(X, rows[members], rng)
        typ[taken[members]] = -np.inf
        i = int(members[np.argmax(typ)])
        picked.append(int(rows[i]))
        taken[i] = True
        free[c] -= 1
        covered[c] += 1
    if len(picked) < k:  # every sampled item is labeled: the rest at random from the pool
        rest = np.flatnonzero(~ctx.labeled)
        rest = rest[~np.isin(rest, picked)]
        picked.extend(rng.choice(rest, k - len(picked), replace=False).tolist())
    return np.asarray(picked, dtype=np.int64)
