"""Image embedders compared on Fashion-MNIST: time, peak memory, linear probe, and active-learning AUC.

For each pool size (balanced subsets of the 60k training images; 2,000 held-out t10k images as the test part)
and each image embedder installed here, with its default parameters:

- ``seconds``: wall time of ``alviz.embed.embed`` on a cold cache (training included for SimSiam and the
  autoencoder; the test part is embedded too); ``cpu_seconds``, the process's CPU time over the same span, and
  ``load_avg_after``, the machine's 1-minute load average when it ended: on a shared machine, wall time
  stretches with the load and CPU time much less;
- ``peak_rss_mib``: the embedding process's peak resident memory (each embedder runs in a fresh process, so
  one's peak does not hide another's), and ``rss_before_mib``, the same process before embedding (the data);
- ``probe_acc``: 5-fold stratified cross-validated accuracy of a linear probe (standardized features,
  logistic regression) on the pool, with ``probe_std`` over the folds;
- ``auc_margin`` / ``auc_random``: ``alviz.simulate.run``'s AUC (mean test accuracy over the learning curve:
  20 initial labels, 15 rounds of 20, 3 repeats, logistic regression) for margin sampling and random picks.

Usage: ``python benchmarks/embedders.py [--sizes 2000,10000] [--methods pixels_pca,simsiam] [--out res.json]``.
The last line printed is one JSON object: {"sizes": {"2000": {"simsiam": {...}, ...}}, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IMAGE_EMBEDDERS = ["pixels_pca", "efficientnet_lite0", "simsiam", "autoencoder"]
N_TEST = 2000


def _rss_mib() -> float:
    """This process's peak resident memory, MiB. Linux's VmHWM starts afresh at exec; ru_maxrss does not (a
    child would report its parent's peak), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def load_pool(n_pool: int):
    from alviz import datasets

    if datasets.fashion_mnist_available():
        return datasets.load_fashion_mnist(n_pool=n_pool, n_test=N_TEST, seed=0)
    if n_pool == 2000:  # the bundled sample is a balanced 2k subset with 1k test images
        return datasets.load_sample()
    raise SystemExit("Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist")


def child(method: str, n_pool: int, out: str) -> None:
    """Embed in this (fresh) process and save X, X_test and the measurements to ``out``."""
    from alviz.embed import embed

    pool = load_pool(n_pool)
    before = _rss_mib()
    with tempfile.TemporaryDirectory() as cache_dir:
        start, cpu_start = time.perf_counter(), time.process_time()
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            if time.perf_counter() - last[0] > 10 or fraction >= 1.0:  # a sign of life on stderr
                last[0] = time.perf_counter()
                print(f"  {method} n={n_pool}: {fraction:4.0%} {message}", file=sys.stderr, flush=True)

        emb = embed(pool, method, cache_dir=Path(cache_dir), progress=progress)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    np.savez(
        out,
        X=emb.X,
        X_test=emb.X_test,
        y=pool.y_true,
        y_test=pool.test.y_true,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        load=os.getloadavg()[0],
        peak=_rss_mib(),
        before=before,
    )


def linear_probe(X: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    scores = cross_val_score(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    return float(scores.mean()), float(scores.std())


def measure(method: str, n_pool: int) -> dict:
    from alviz.simulate import run

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "emb.npz"
        cmd = [sys.executable, __file__, "--child", method, "--n", str(n_pool), "--out", str(out)]
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        if proc.returncode != 0:
            return {"error": f"exit {proc.returncode} (see stderr)"}
        with np.load(out) as z:
            r = {k: z[k] for k in z.files}
    X, X_test, y, y_test = r["X"], r["X_test"], r["y"], r["y_test"]
    probe, probe_std = linear_probe(X, y)
    sim = run(X, y, X_test, y_test, ["margin", "random"], initial=20, batch=20, rounds=15, repeats=3, seed=0)
    s = sim["strategies"]
    return {
        "dims": int(X.shape[1]),
        "seconds": round(float(r["seconds"]), 1),
        "cpu_seconds": round(float(r["cpu_seconds"]), 1),
        "load_avg_after": round(float(r["load"]), 1),
        "peak_rss_mib": round(float(r["peak"])),
        "rss_before_mib": round(float(r["before"])),
        "probe_acc": round(probe, 4),
        "probe_std": round(probe_std, 4),
        "auc_margin": s["margin"]["auc"],
        "auc_random": s["random"]["auc"],
        "final_margin": s["margin"]["accuracy_mean"][-1],
        "final_random": s["random"]["accuracy_mean"][-1],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,10000")
    ap.add_argument("--methods", default=",".join(IMAGE_EMBEDDERS))
    ap.add_argument("--out", help="also write the JSON here (updated after each measurement)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n, args.out)
        return

    import torch

    from alviz.embed import EMBEDDERS

    table: dict = {
        "data": "fashion-mnist (balanced pool subsets, 2,000 t10k test images)",
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "sizes": {},
    }
    for n in [int(s) for s in args.sizes.split(",")]:
        row = table["sizes"].setdefault(str(n), {})
        for method in args.methods.split(","):
            if not EMBEDDERS[method].installed:
                row[method] = f"skipped: needs `{EMBEDDERS[method].install_command}`"
                continue
            print(f"{method} on {n:,} images …", file=sys.stderr, flush=True)
            row[method] = measure(method, n)
            print(f"  {json.dumps(row[method])}", file=sys.stderr, flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(table, indent=1))
    print(json.dumps(table))


if __name__ == "__main__":
    main()
