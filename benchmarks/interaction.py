"""Time the two interactions a labeler waits on, at 2k and 10k points; prints one JSON object.

lasso_label_recolor: a lasso payload of ~10% of the map (as Streamlit hands it over) -> row ids ->
  one stored bulk-label action (SQLite commit) -> the recolored map figure -> its JSON (what Streamlit sends).
retrain_rescore: fit on the labels -> probabilities for the whole pool -> test accuracy -> the round stored ->
  entropy recomputed -> the uncertainty-colored figure serialized.
Browser rendering is not included (see DESIGN.md section 5 for those round trips). Medians of repeats.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.io as pio

from alviz import datasets
from alviz.embed import embed
from alviz.figures import map_figure
from alviz.projection import pca_2d
from alviz.selection import rows_from_selection
from alviz.session import Session
from alviz.store import Store


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(pool, repeats: int, tmp: Path) -> dict:
    emb = embed(pool, "pixels_pca", cache_dir=tmp / "cache")
    Z = pca_2d(emb.X)  # layout does not change the timing of what is measured
    sess = Session(pool, emb, Store(tmp / f"{pool.name}.db"), annotator="bench")
    rng = np.random.default_rng(0)
    # Start like a real session: 20 labels per class from the oracle, one model.
    seed_rows = np.concatenate([rng.choice(np.flatnonzero(pool.y_true == c), 20, replace=False) for c in range(10)])
    for c in range(10):
        sess.label(seed_rows[pool.y_true[seed_rows] == c], pool.class_names[c], source="single")
    sess.retrain()
    n_sel = len(pool) // 10

    def lasso_label_recolor(i: int) -> None:
        picked = rng.choice(len(pool), n_sel, replace=False)
        payload = {
            "selection": {
                "points": [
                    {
                        "point_index": int(r),
                        "customdata": int(r),
                        "x": float(Z[r, 0]),
                        "y": float(Z[r, 1]),
                        "curve_number": 0,
                    }
                    for r in picked
                ]
            }
        }
        rows = rows_from_selection(payload, len(pool))
        sess.label(rows, pool.class_names[i % 10], source="bulk")
        fig = map_figure(Z, classes=sess.y, class_names=sess.class_names)
        pio.to_json(fig, validate=False)

    def retrain_rescore(i: int) -> None:
        sess.retrain()
        fig = map_figure(Z, values=sess.score("entropy"), value_name="entropy")
        pio.to_json(fig, validate=False)

    return {
        "n_points": len(pool),
        "n_selected": n_sel,
        "lasso_label_recolor_s": round(_median_seconds(lasso_label_recolor, repeats), 4),
        "retrain_rescore_s": round(_median_seconds(retrain_rescore, repeats), 4),
        "n_labeled_at_end": sess.n_labeled,
    }


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    out = {"repeats": repeats, "results": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pools = [datasets.load_sample()]
        if datasets.fashion_mnist_available():
            pools.append(datasets.load_fashion_mnist(n_pool=10_000, n_test=2_000))
        for pool in pools:
            out["results"].append({"pool": pool.name, **bench(pool, repeats, tmp)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
