"""Peak server memory and time of the whole labeling flow on a big table: load, map, label, round, undo.

The flow runs in a child process (so its peak RSS, VmHWM, is its own) on a synthetic table of N x d float32
embeddings written as Parquet: the table loads through ``alviz.datasets.load`` as a user's would, the Session
opens a real SQLite store, the PCA map and its first map frame are built, 50,000 items are labeled in one
action (and two small classes), one round runs (retrain + entropy + ``auto`` query), then the big action is
undone. The anchor is the size of the embeddings themselves (N x d x 4 bytes): the ratio says how many
copies of them the flow holds at its peak. Prints one JSON object as its last line.

    python benchmarks/memory_flow.py --n 1000000 --d 256      # issue 12: under 6 GB
    python benchmarks/memory_flow.py --n 100000 --d 64        # a quick run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _write_table(path: Path, n: int, d: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(20, d)).astype(np.float32)
    writer = None
    for start in range(0, n, 100_000):  # in slices: the writer never holds a second copy of the whole table
        m = min(100_000, n - start)
        X = centers[rng.integers(0, 20, m)] + rng.normal(size=(m, d)).astype(np.float32)
        cols = {"id": pa.array([f"item-{i}" for i in range(start, start + m)])}
        cols.update({f"f{j}": pa.array(X[:, j]) for j in range(d)})
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def _flow(table: str, db: str, out: mp.Queue) -> None:
    stages: dict[str, dict] = {}

    def mark(name: str, t0: float, c0: float) -> tuple[float, float]:
        stages[name] = {"wall_s": round(time.perf_counter() - t0, 3), "cpu_s": round(_cpu() - c0, 3)}
        stages[name]["peak_rss_gb"] = round(_peak_gb(), 3)
        return time.perf_counter(), _cpu()

    from alviz import datasets
    from alviz.embed import available_for, embed
    from alviz.mapframe import MapFeed, class_coloring
    from alviz.projection import pca_2d
    from alviz.session import Session
    from alviz.store import Store

    t, c = time.perf_counter(), _cpu()
    pool = datasets.load(table)
    t, c = mark("load", t, c)
    emb = embed(pool, available_for(pool)[0])
    sess = Session(pool, emb, Store(db), annotator="bench")
    t, c = mark("session", t, c)
    Z = pca_2d(sess.X)
    frame = MapFeed().frame("pca", Z, class_coloring(sess.y, sess.class_names), ids=pool.ids)
    t, c = mark("map", t, c)
    n = len(pool)
    rng = np.random.default_rng(0)
    big = rng.choice(n, min(50_000, n // 4), replace=False)
    sess.label(big, "big", source="bulk")
    rest = np.setdiff1d(np.arange(n), big)
    sess.label(rest[:200], "small", source="bulk")
    sess.label(rest[200:400], "other", source="bulk")
    t, c = mark("label", t, c)
    sess.retrain()
    sess.score("entropy")
    sess.query("auto", 20)
    t, c = mark("round", t, c)
    sess.undo()  # the "other" action
    sess.undo()  # the "small" action
    sess.undo()  # the 50k action
    t, c = mark("undo", t, c)
    out.put({"stages": stages, "frame_bytes": len(frame), "labeled_after_undo": int(sess.n_labeled)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / f"pool{args.n}.parquet"
        t0 = time.perf_counter()
        _write_table(table, args.n, args.d, args.seed)
        print(f"table written in {time.perf_counter() - t0:.1f} s ({table.stat().st_size / 2**20:.0f} MiB)", flush=True)
        out: mp.Queue = mp.get_context("spawn").Queue()
        proc = mp.get_context("spawn").Process(target=_flow, args=(str(table), str(Path(tmp) / "l.db"), out))
        proc.start()
        result = out.get(timeout=3600)
        proc.join()
    x_gb = args.n * args.d * 4 / 2**30
    peak = max(s["peak_rss_gb"] for s in result["stages"].values())
    summary = {
        "benchmark": "memory_flow",
        "n": args.n,
        "d": args.d,
        "embeddings_gb": round(x_gb, 3),
        "peak_rss_gb": peak,
        "peak_over_embeddings": round(peak / x_gb, 2),
        **result,
    }
    for name, s in result["stages"].items():
        print(f"{name:8s} wall {s['wall_s']:7.2f} s  cpu {s['cpu_s']:7.2f} s  peak RSS {s['peak_rss_gb']:.2f} GB")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
