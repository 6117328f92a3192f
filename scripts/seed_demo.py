"""Seed a demo database: a few rounds of labeling on the bundled sample, answered by its ground truth.

For workshops and screenshots: `python scripts/seed_demo.py demo.db && ALVIZ_DB=demo.db make app`.
One bulk action deliberately labels a mixed cluster with its majority class, so the Train page has
disputed bulk labels to show.
"""

from __future__ import annotations

import sys

import numpy as np

from alviz import datasets
from alviz.embed import embed
from alviz.session import Session
from alviz.store import Store


def main(db: str, rounds: int = 6) -> None:
    pool = datasets.load_sample()
    sess = Session(pool, embed(pool, "pixels_pca"), Store(db), annotator="demo")
    truth, names = pool.y_true, pool.class_names
    rng = np.random.default_rng(0)
    # a lasso over a region: the 60 items nearest one random item, labeled with their majority class
    center = rng.integers(len(pool))
    region = np.argsort(((sess.X - sess.X[center]) ** 2).sum(axis=1))[:60]
    sess.label(region, names[np.bincount(truth[region]).argmax()], source="bulk")
    for row in sess.query("random", 20, seed=1):
        sess.label([row], names[truth[row]], source="single")
    sess.retrain()
    for r in range(rounds):
        for row in sess.query("auto", 20, seed=r):  # answered in the queue, the suggestion shown
            source = "accepted" if sess.predicted[row] == truth[row] else "corrected"
            sess.label([row], names[truth[row]], source=source)
        print(sess.retrain())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo.db")
