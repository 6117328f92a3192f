"""Time to a 2-D map: alviz's PCA and UMAP beside plain scikit-learn PCA and plain umap-learn, same run.

    .venv/bin/python benchmarks/map_cost.py                       # 10k and 100k, d=64
    .venv/bin/python benchmarks/map_cost.py --sizes 1000000 --d 256 --anchor-max 0
    .venv/bin/python benchmarks/map_cost.py --small               # 3k and 30k, a quick look

Every measurement runs in a fresh child process (so CPU seconds and peak RSS are its own) on synthetic float32
blobs (20 Gaussian clusters, seeded). For alviz the child is the worker as the app runs it: numba warmed first
(reported apart as ``warm_cpu_s``, paid once per server), then ``projection.umap_2d`` (sample fit + chunked
``transform`` above ``EXACT_MAX`` items) and ``projection.pca_2d``. The anchor is what alviz did before: plain
``umap.UMAP(...).fit_transform`` on every item (also warmed first) and ``PCA(2).fit_transform`` on every item.
Anchors and alviz alternate per size. ``first_map_s`` is the wall time until the sample's map existed.
``purity`` is the share of each item's 10 nearest neighbours on the map (5,000 items drawn) that come from its
own cluster: a cheap check that the sample-fit map keeps what the whole fit keeps.

The last line printed is one JSON object.

Measured 2026-12-02 on 2 shared cores (load 7-13 from other work: wall times are inflated, CPU seconds are not),
CPU-s / wall s, alviz vs anchor:

    pool        PCA                       UMAP (time to the whole map)          first (sample) map   purity
    10k x 64    0.06 / 0.2 | 0.06 / 0.2   12.2 / 76  | 11.0 / 60  (exact fit)   -                    1.00 | 1.00
    100k x 64   0.07 / 0.5 | 0.09 / 0.4   19.8 / 83  | 71.9 / 134             8.6 CPU-s            0.996 | 1.00
    10k x 256   0.10 / 0.2 | 0.46 / 0.8   11.5 / 17  | 11.2 / 19  (exact fit)   -                    1.00 | 1.00
    100k x 256  1.5 / 3.9  | 2.0 / 5.7    20.9 / 22  | 58.5 / 93              7.7 CPU-s, 7.9 s     0.998 | 1.00
    1M x 256    2.3 / 6.9  | 12.5 / 54    172 / 607  | not run                10.0 CPU-s, 75 s     0.993

The numba warm-up (``warm_cpu_s``) is 42-54 CPU-s, paid once per worker. Peak RSS of the 1M x 256 UMAP child:
1.74 GB, of which 1.27 GB is the pool itself.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def blobs(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(20, d)).astype(np.float32)
    y = rng.integers(0, 20, n)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):  # in parts: no float64 copy of a 1M pool
        part = slice(start, min(start + 100_000, n))
        X[part] = centers[y[part]] + rng.standard_normal((len(y[part]), d), dtype=np.float32)
    return X, y


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _purity(Z: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    from sklearn.neighbors import NearestNeighbors

    rows = np.random.default_rng(seed).choice(len(Z), min(5_000, len(Z)), replace=False)
    nn = NearestNeighbors(n_neighbors=11).fit(Z)
    _, idx = nn.kneighbors(Z[rows])
    return float((y[idx[:, 1:]] == y[rows, None]).mean())


def child(spec: dict) -> dict:
    sys.path.insert(0, str(ROOT))
    from alviz import projection

    X, y = blobs(spec["n"], spec["d"], spec["seed"])
    out = {k: spec[k] for k in ("what", "n", "d")}
    out["data_rss_mb"] = round(_peak_rss_mb(), 1)
    if spec["what"] in ("alviz_umap", "anchor_umap"):
        c0, t0 = _cpu(), time.perf_counter()
        projection.warm_numba()
        out["warm_cpu_s"], out["warm_wall_s"] = round(_cpu() - c0, 1), round(time.perf_counter() - t0, 1)
    c0, t0 = _cpu(), time.perf_counter()
    first = []
    if spec["what"] == "alviz_pca":
        Z = projection.pca_2d(X)
    elif spec["what"] == "anchor_pca":
        from sklearn.decomposition import PCA

        Z = PCA(n_components=2, random_state=0).fit_transform(X)
    elif spec["what"] == "alviz_umap":
        kwargs = {"sample": spec["sample"]} if spec.get("sample") else {}

        def progress(placed: int, total: int, Z, message: str) -> None:
            if Z is not None and not first:
                first.append((time.perf_counter() - t0, _cpu() - c0))
            print(f"  {time.perf_counter() - t0:7.1f} s  {message}", file=sys.stderr, flush=True)

        Z = projection.umap_2d(X, progress=progress, **kwargs)
    elif spec["what"] == "anchor_umap":
        Z = projection._umap(15, 0.1, 0).fit_transform(X)
    else:
        raise ValueError(f"unknown measurement {spec['what']!r}")
    out["cpu_s"], out["wall_s"] = round(_cpu() - c0, 2), round(time.perf_counter() - t0, 2)
    if first:
        out["first_map_s"], out["first_map_cpu_s"] = round(first[0][0], 1), round(first[0][1], 1)
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out["purity"] = round(_purity(np.asarray(Z, dtype=np.float32), y), 3)
    return out


def measure(what: str, n: int, d: int, args: argparse.Namespace) -> dict:
    spec = {"what": what, "n": n, "d": d, "seed": args.seed, "sample": args.sample}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        return {"what": what, "n": n, "d": d, "error": proc.stderr.strip().splitlines()[-1:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated pool sizes")
    parser.add_argument("--d", type=int, default=64, help="dimensions (64 or 256)")
    parser.add_argument("--anchor-max", type=int, default=100_000, help="plain umap-learn only up to this size")
    parser.add_argument("--no-umap", action="store_true", help="PCA only")
    parser.add_argument("--sample", type=int, default=0, help="UMAP sample size (default projection.SAMPLE_SIZE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="3k and 30k: a quick look")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sizes = [3_000, 30_000] if args.small else [int(s) for s in args.sizes.split(",")]
    results = []
    for n in sizes:
        results.append(measure("alviz_pca", n, args.d, args))
        results.append(measure("anchor_pca", n, args.d, args))
        if args.no_umap:
            continue
        results.append(measure("alviz_umap", n, args.d, args))
        if n <= args.anchor_max:
            results.append(measure("anchor_umap", n, args.d, args))
    print(json.dumps({"benchmark": "map_cost", "d": args.d, "results": results}))


if __name__ == "__main__":
    main()
