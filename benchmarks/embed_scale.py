"""Embedding throughput, locally and on a Ray started on this machine, and what a cluster would take for 1M images.

The same Fashion-MNIST images for both engines: the first ``--n`` of the 70k (60k train then 10k t10k, from
Debian's dataset-fashion-mnist), as one pool without a test part. The embedder is EfficientNet-Lite0 (96 px, its
defaults) when the [pretrained] extra is installed, else pixels_pca. Runs are interleaved (local, ray, local,
ray, ...), each on a cold cache; medians are reported.

- ``local``: ``alviz.embed.embed``, one process, torch's threads on every core. ``cpu_s``: the process's CPU time.
  ``local_1_thread``: the same with one torch thread: one core's rate without Ray, the anchor for a Ray worker's
  (on a loaded machine, torch's threads wait on each other and one busy core slows them all).
- ``ray``: ``alviz.embed.ray_engine.embed_ray`` with ``--workers`` actors (one CPU each) on a Ray started once
  (its start, ``ray_start_s``, is timed apart: a cluster is already up). ``cpu_s``: the driver's CPU time plus
  each worker's own (a wrapper around the reader records each worker's process CPU time after every batch).
  ``overhead_s``: the run's wall time less its rows at the steady rate (actor start, model load, first batch);
  ``per_worker_images_per_s``: the steady rate (rows after the first batch arrived, over the time since) per worker.
- ``same_rows_max_abs_diff``: the largest difference between the two engines' rows (the same cache entry).
- ``projected_1m_s``: for 1, 2 and 4 workers, ``overhead_s + 1e6 / (workers * per_worker_images_per_s)``: each
  worker with a core of its own as here, reading scaling linearly (the driver only gathers rows). A GPU worker's
  rate is another figure; measure it there with ``--address``.
- ``pixels_pca_full``: with ``--full``, the check that a folder of all 70k images (PNG files) embeds through Ray into
  the local cache entry.

Usage: ``nice -n 10 python benchmarks/embed_scale.py [--n 10000] [--repeats 3] [--workers 2] [--full]
[--out benchmarks/results/embed_scale.json]``. The last line printed is the JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alviz import datasets  # noqa: E402
from alviz.embed import EMBEDDERS, embed, plan  # noqa: E402
from alviz.pool import Pool  # noqa: E402


def fashion_images(n: int) -> Pool:
    """The first n of Fashion-MNIST's 70k images (train, then t10k) as a pool."""
    if not datasets.fashion_mnist_available():
        raise SystemExit("Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist")
    parts = [datasets.read_idx(datasets.FASHION_MNIST_DIR / f"{s}-images-idx3-ubyte.gz") for s in ("train", "t10k")]
    images = np.concatenate(parts)[:n]
    return Pool(f"fashion-mnist-first-{len(images)}", [f"fm{i:05d}" for i in range(len(images))], images=images)


class CpuLogged:
    """A reader that records its worker's process CPU time after every batch, in ``<folder>/<pid>``."""

    def __init__(self, read, folder: str) -> None:
        self.read, self.folder = read, folder

    def __call__(self, images: np.ndarray) -> np.ndarray:
        out = self.read(images)
        with open(os.path.join(self.folder, str(os.getpid())), "w") as f:
            f.write(repr(time.process_time()))
        return out


def run_local(pool: Pool, method: str, threads: int | None = None) -> dict:
    """``embed`` on a cold cache; ``threads``: torch's intra-op threads for the run (None: its default)."""
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        with tempfile.TemporaryDirectory() as cache:
            cpu, t = time.process_time(), time.perf_counter()
            emb = embed(pool, method, cache_dir=cache)
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        torch.set_num_threads(default)
    return {"wall_s": wall, "cpu_s": cpu, "images_per_s": len(pool) / wall, "X": emb.X}


def run_ray(pool: Pool, method: str, workers: int) -> dict:
    import importlib

    from alviz.embed.ray_engine import embed_ray

    module = importlib.import_module(EMBEDDERS[method].module)
    real_reader = module.reader
    arrivals = []  # (time, rows done) as rows come back

    def progress(fraction: float, message: str) -> None:
        if message.startswith("embedding"):
            arrivals.append((time.perf_counter(), round(fraction * len(pool))))

    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as cpu_dir:
        module.reader = lambda p, **kw: CpuLogged(real_reader(p, **kw), cpu_dir)
        try:
            cpu, t = time.process_time(), time.perf_counter()
            emb = embed_ray(pool, method, cache_dir=cache, workers=workers, progress=progress)
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        finally:
            module.reader = real_reader
        worker_cpu = sum(float(p.read_text()) for p in Path(cpu_dir).iterdir())
        key = plan(pool, method, None, cache).key
    (t0, n0), (t1, n1) = arrivals[0], arrivals[-1]
    rate = (n1 - n0) / (t1 - t0) if t1 > t0 else len(pool) / wall
    return {
        "wall_s": wall,
        "cpu_s": cpu + worker_cpu,
        "driver_cpu_s": cpu,
        "images_per_s": len(pool) / wall,
        "per_worker_images_per_s": rate / workers,
        "overhead_s": max(0.0, wall - len(pool) / rate),
        "key": key,
        "X": emb.X,
    }


def medians(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if isinstance(runs[0][k], float)]
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in keys} | {"runs": len(runs)}


def full_check(workers: int) -> dict:
    """All 70k images written as PNG files to a folder, loaded as alviz loads a folder, embedded with pixels_pca
    locally and through Ray: the cache entry's name and the rows."""
    from PIL import Image

    from alviz.embed.ray_engine import embed_ray

    images = fashion_images(70_000).images
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as a:
        with tempfile.TemporaryDirectory() as b:
            t = time.perf_counter()
            for i, image in enumerate(images):
                Image.fromarray(image).save(os.path.join(folder, f"fm{i:05d}.png"))
            write_s = time.perf_counter() - t
            t = time.perf_counter()
            pool = datasets.load(folder)
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            local = embed(pool, "pixels_pca", cache_dir=a)
            local_s = time.perf_counter() - t
            t = time.perf_counter()
            on_ray = embed_ray(pool, "pixels_pca", cache_dir=b, workers=workers)
            ray_s = time.perf_counter() - t
            same_entry = sorted(os.listdir(a)) == sorted(os.listdir(b)) and len(os.listdir(a)) == 1
    return {
        "n": len(pool),
        "folder": "70k PNG files",
        "write_s": round(write_s, 2),
        "load_s": round(load_s, 2),
        "local_s": round(local_s, 2),
        "ray_s": round(ray_s, 2),
        "same_cache_entry": same_entry,
        "max_abs_diff": float(np.abs(local.X - on_ray.X).max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--method", default=None, help="default: efficientnet_lite0 when installed, else pixels_pca")
    ap.add_argument("--full", action="store_true", help="also embed a folder of all 70k with pixels_pca through Ray")
    ap.add_argument("--out", default="benchmarks/results/embed_scale.json")
    args = ap.parse_args()
    method = args.method or ("efficientnet_lite0" if EMBEDDERS["efficientnet_lite0"].installed else "pixels_pca")
    pool = fashion_images(args.n)

    import ray

    from alviz.embed.ray_engine import ray_session

    t = time.perf_counter()
    with ray_session(num_cpus=args.workers):
        ray_start = time.perf_counter() - t
        ray.get(ray.remote(lambda: 0).remote())  # the session answers before the clock starts
        local, single, on_ray = [], [], []
        for i in range(args.repeats):
            local.append(run_local(pool, method))
            on_ray.append(run_ray(pool, method, args.workers))
            single.append(run_local(pool, method, threads=1))
            print(
                f"repeat {i + 1}: local {local[-1]['images_per_s']:.1f} img/s, ray {on_ray[-1]['images_per_s']:.1f} "
                f"img/s ({on_ray[-1]['per_worker_images_per_s']:.1f} per worker), local on one thread "
                f"{single[-1]['images_per_s']:.1f} img/s, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
        diff = max(float(np.abs(a["X"] - b["X"]).max()) for a, b in zip(local + single, on_ray * 2, strict=True))
        full = full_check(args.workers) if args.full else None
    ray_med = medians(on_ray)
    result = {
        "method": method,
        "n_images": len(pool),
        "cores": os.cpu_count(),
        "workers": args.workers,
        "ray_version": ray.__version__,
        "ray_start_s": round(ray_start, 2),
        "local": medians(local),
        "local_1_thread": medians(single),
        "ray": ray_med,
        "ray_over_local_images_per_s": round(ray_med["images_per_s"] / medians(local)["images_per_s"], 3),
        "same_rows_max_abs_diff": diff,
        "projected_1m_s": {
            str(w): round(ray_med["overhead_s"] + 1e6 / (w * ray_med["per_worker_images_per_s"]), 1) for w in (1, 2, 4)
        },
        "load_avg_after": round(os.getloadavg()[0], 2),
        "note": "2 cores shared with other work: wall times stretch with the load; CPU seconds hold better",
    }
    if full is not None:
        result["pixels_pca_full"] = full
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
