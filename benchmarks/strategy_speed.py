"""Seconds per select() call for every strategy at N = 10k and 100k, d = 256, k = 100; prints JSON.

Usage: strategy_speed.py [REPEATS] [NAME,NAME,...] (default: 3 repeats, every registered strategy; ``random`` is
always measured too, as the anchor). ``seconds`` are median wall times, ``cpu_seconds`` the median process CPU time
(above the wall time when a strategy uses several threads).

The pool is a synthetic mixture of 10 Gaussian clusters with 200 labeled items; the model, its
probabilities and a 5-member committee are computed once, outside the timing: only selection is timed.
``consistency`` gets a noisy copy of X as a stand-in for the mirrored images' embedding (its cost is the model's
prediction on it, whatever the vectors).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from alviz.model import Learner, committee_proba, fit_committee
from alviz.strategies import REGISTRY, QueryContext, select


def make_context(n: int, d: int = 256, n_classes: int = 10, n_labeled: int = 200, seed: int = 0) -> QueryContext:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (n_classes, d)).astype(np.float32)
    y_true = rng.integers(0, n_classes, n)
    X = (centers[y_true] + rng.normal(0, 4, (n, d))).astype(np.float32)
    labeled = np.zeros(n, dtype=bool)
    labeled[rng.choice(n, n_labeled, replace=False)] = True
    y = np.where(labeled, y_true, -1)
    model = Learner(n_classes).fit(X[labeled], y[labeled])
    cp = committee_proba(fit_committee(X[labeled], y[labeled], n_classes), X)
    X_flip = (X + rng.normal(0, 1, (n, d))).astype(np.float32)  # stands in for the mirrored images' embedding
    proba = model.predict_proba(X)
    return QueryContext(X=X, labeled=labeled, y=y, proba=proba, committee_proba=cp, model=model, X_flip=X_flip)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    names = list(REGISTRY) if len(sys.argv) < 3 else ["random", *(n for n in sys.argv[2].split(",") if n != "random")]
    out: dict = {"d": 256, "k": 100, "repeats": repeats, "seconds": {}, "cpu_seconds": {}}
    for n in (10_000, 100_000):
        ctx = make_context(n)
        row, cpu_row = {}, {}
        for name in names:
            times, cpu = [], []
            for r in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                select(name, ctx, 100, np.random.default_rng(r))
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            row[name] = round(statistics.median(times), 4)
            cpu_row[name] = round(statistics.median(cpu), 4)
        out["seconds"][str(n)] = row
        out["cpu_seconds"][str(n)] = cpu_row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
