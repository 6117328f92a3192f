"""Human decisions needed to reach 95% of the full-label accuracy, with three ways of working.

A simulated annotator answers from the ground truth. Decisions: one lasso+label action, one accept (of a
page of suggestions), one correction, one single label: each counts 1.
(a) single_queue: a queue of 10 items per round (strategy auto) with no suggestions: 1 decision per item.
(b) queue_with_suggestions: the same queue shows the model's suggestions; the annotator corrects the wrong
    ones (1 each) and accepts the rest of the page with one click (1), as "Accept all shown" does.
(c) lasso_then_queue: on the UMAP map the annotator lassoes clusters (k-means on the map) whose gallery looks
    pure (majority class ≥ 80%) and labels each with its majority class (1 each); a mixed cluster is lassoed
    again in four smaller parts, each labeled if it looks pure (1 each); then the annotator reviews the bulk
    labels the model disputes (1 each) and continues as in (b).
The last line printed is one JSON object:
{"single_queue": N, "queue_with_suggestions": N, "lasso_then_queue": N, "lasso_label_accuracy": x, ...}.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.cluster import KMeans

from alviz import datasets, insight
from alviz.embed import embed
from alviz.model import Learner
from alviz.projection import umap_2d
from alviz.strategies import QueryContext, select

PAGE = 10
PURE = 0.8  # the majority share at which a gallery looks like one class to the annotator
MAX_ROUNDS = 400


def accuracy(X, y, mask, X_test, y_test, n_classes) -> tuple[float, Learner | None]:
    if len(np.unique(y[mask])) < 2:
        return 0.0, None
    m = Learner(n_classes).fit(X[mask], y[mask])
    return float((m.predict(X_test) == y_test).mean()), m


def queue_loop(X, truth, X_test, y_test, n_classes, target, given, suggestions: bool, decisions: int, seed=0):
    """Rounds of PAGE queued items until the target accuracy; returns total decisions."""
    rng = np.random.default_rng(seed)
    for _ in range(MAX_ROUNDS):
        mask = given >= 0
        acc, model = accuracy(X, given, mask, X_test, y_test, n_classes)
        if acc >= target:
            return decisions
        proba = None if model is None else model.predict_proba(X)
        ctx = QueryContext(X=X, labeled=mask, y=given, proba=proba, model=model)
        rows = select("auto", ctx, PAGE, rng)
        if suggestions and proba is not None:
            wrong = proba[rows].argmax(axis=1) != truth[rows]
            decisions += int(wrong.sum()) + int((~wrong).any())  # corrections + one "accept the rest"
        else:
            decisions += len(rows)
        given[rows] = truth[rows]
    return decisions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-pool", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=2_000)
    ap.add_argument("--clusters", type=int, default=60)
    args = ap.parse_args()
    if datasets.fashion_mnist_available():
        pool = datasets.load_fashion_mnist(n_pool=args.n_pool, n_test=args.n_test)
    else:
        pool = datasets.load_sample()
    emb = embed(pool, "pixels_pca")
    X, X_test, truth, y_test = emb.X, emb.X_test, pool.y_true, pool.test.y_true
    C = len(pool.class_names)
    full_acc, _ = accuracy(X, truth, np.ones(len(X), bool), X_test, y_test, C)
    target = 0.95 * full_acc
    start = np.full(len(X), -1)

    out = {"data": pool.name, "full_label_accuracy": round(full_acc, 4), "target": round(target, 4)}
    out["single_queue"] = queue_loop(X, truth, X_test, y_test, C, target, start.copy(), False, 0)
    out["queue_with_suggestions"] = queue_loop(X, truth, X_test, y_test, C, target, start.copy(), True, 0)

    # (c) lasso on the map: the clusters a person sees as blobs, labeled when their gallery looks pure
    Z = umap_2d(X)
    blobs = KMeans(args.clusters, n_init=3, random_state=0).fit_predict(Z)
    given, decisions, lasso_rows = start.copy(), 0, []
    for b in range(args.clusters):
        members = np.flatnonzero(blobs == b)
        # a mixed blob: the annotator lassoes its parts separately (4 smaller lassos looked at in turn)
        parts = [members]
        if np.bincount(truth[members], minlength=C).max() / len(members) < PURE:
            sub = KMeans(4, n_init=3, random_state=0).fit_predict(Z[members])
            parts = [members[sub == s] for s in range(4)]
        for part in parts:
            counts = np.bincount(truth[part], minlength=C)
            if len(part) and counts.max() / len(part) >= PURE:
                given[part] = counts.argmax()
                decisions += 1
                lasso_rows.append(part)
    lasso_rows = np.concatenate(lasso_rows) if lasso_rows else np.empty(0, np.int64)
    out["lasso_actions"] = decisions
    out["lasso_labeled_items"] = len(lasso_rows)
    out["lasso_label_accuracy"] = round(float((given[lasso_rows] == truth[lasso_rows]).mean()), 4)
    # review what the model disputes among the lasso labels (a fix or a keep: 1 decision each)
    _, model = accuracy(X, given, given >= 0, X_test, y_test, C)
    if model is not None:
        disputed = insight.disputed_labels(model.predict_proba(X), given, lasso_rows, threshold=0.8)
        decisions += len(disputed.rows)
        given[disputed.rows] = truth[disputed.rows]
        out["disputed_reviewed"] = len(disputed.rows)
    out["lasso_then_queue"] = queue_loop(X, truth, X_test, y_test, C, target, given, True, decisions)
    out["ratio_lasso_vs_single"] = round(out["lasso_then_queue"] / out["single_queue"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
