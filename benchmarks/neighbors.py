"""'Find more like these': exact chunked search vs the kNN-graph index, at 10k and 100k items (d=64).

Prints one JSON object. Per size: index build seconds (NN-descent graph, the digest and the disk write; the
numba JIT of the first build in a process is reported apart as ``jit_warmup_s``), reading the graph back from
disk, and for a 1-item and a 1,000-item selection the median query seconds of the exact search and of the
index, and the index's mean recall@50 against the exact answer; ``app_uses`` says which one the app's default
settings pick (exact up to INDEX_THRESHOLD items, and for selections within EXACT_BUDGET). 1% of the pool
counts as labeled and is left out, as in the app.

Data: a synthetic embedding-like set (points near a 16-dimensional mixture of 50 clusters, mapped into 64
dimensions plus noise) or, with ``--data gaussian``, plain Gaussian noise in 64-d (the hardest case for any
graph index: no structure at all). A 1,000-item selection is a lasso-like patch: an item and its 999 nearest.

    .venv/bin/python benchmarks/neighbors.py [--sizes 10000,100000] [--data mixture|gaussian] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from alviz import geometry, neighbors

N_ANSWER = 50


def embedding_like(n: int, d: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "gaussian":
        return rng.normal(size=(n, d)).astype(np.float32)
    latent_d, clusters = 16, 50
    centers = rng.normal(scale=4.0, size=(clusters, latent_d))
    Z = centers[rng.integers(0, clusters, n)] + rng.normal(size=(n, latent_d))
    W = rng.normal(size=(latent_d, d)) / np.sqrt(latent_d)
    return (Z @ W + 0.1 * rng.normal(size=(n, d))).astype(np.float32)


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(n: int, d: int, kind: str, repeats: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    X = embedding_like(n, d, rng, kind)
    labeled = np.zeros(n, dtype=bool)
    labeled[rng.choice(n, n // 100, replace=False)] = True

    index = neighbors.index_for(X, seed=seed)
    t0 = time.perf_counter()
    index.wait()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    neighbors._load(index.cache_dir, neighbors.digest(X), n)
    load_s = time.perf_counter() - t0

    singles = [np.array([r]) for r in rng.choice(n, 20, replace=False)]
    patches = [geometry.nearest(X, np.array([r]), np.arange(n), k=1000)[0][0] for r in rng.choice(n, 5, replace=False)]
    out: dict = {"n": n, "d": d, "index_build_s": round(build_s, 2), "index_disk_load_s": round(load_s, 3)}
    for name, selections in (("select_1", singles), ("select_1000", patches)):
        recalls = []
        for rows in selections:
            exact = neighbors.exact_search(X, rows, N_ANSWER, exclude=labeled)
            found, how = neighbors.more_like(X, rows, N_ANSWER, exclude=labeled, threshold=0, exact_budget=0)
            assert how == "index", how
            recalls.append(len(np.intersect1d(exact, found)) / len(exact))
        rows = selections[0]
        exact_s = _median(lambda rows=rows: neighbors.exact_search(X, rows, N_ANSWER, exclude=labeled), repeats)
        index_s = _median(
            lambda rows=rows: neighbors.more_like(X, rows, N_ANSWER, exclude=labeled, threshold=0, exact_budget=0),
            repeats,
        )
        out[name] = {
            "exact_query_s": round(exact_s, 4),
            "index_query_s": round(index_s, 4),
            "speedup": round(exact_s / index_s, 1),
            f"recall_at_{N_ANSWER}": round(float(np.mean(recalls)), 4),
            "recall_min": round(float(np.min(recalls)), 4),
            "selections": len(selections),
            "app_uses": neighbors.more_like(X, rows, N_ANSWER, exclude=labeled)[1],  # with the default settings
        }
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--data", choices=("mixture", "gaussian"), default="mixture")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ALVIZ_CACHE"] = tmp  # never touch the user's cache
        t0 = time.perf_counter()
        warm = np.random.default_rng(1).normal(size=(neighbors.BRUTE_FORCE_MAX + 1000, 8)).astype(np.float32)
        neighbors.knn_graph(warm, method="nndescent")
        jit_s = time.perf_counter() - t0
        results = [bench(int(n), args.dims, args.data, args.repeats) for n in args.sizes.split(",")]
    json.dump(
        {
            "benchmark": "neighbors",
            "data": args.data,
            "graph_k": neighbors.GRAPH_K,
            "answer_n": N_ANSWER,
            "labeled_share": 0.01,
            "index_threshold": neighbors.INDEX_THRESHOLD,
            "jit_warmup_s": round(jit_s, 1),
            "cpus": os.cpu_count(),
            "results": results,
        },
        sys.stdout,
        indent=2,
    )
    print()


if __name__ == "__main__":
    main()
