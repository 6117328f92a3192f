"""CPU cost of one active-learning round, beside a plain LogisticRegression + margin round; prints JSON.

A round is what the app does after labels come in: ``Session.retrain()`` (fit, pseudo-label comparison,
evaluation without ground truth, one stored round), ``score("margin")`` for the map colour, and
``query("auto", k)``. Each strategy's ``query`` is also timed alone on the same model. The anchor is what a
bare script would do: ``LogisticRegression().fit`` on the labels, ``predict_proba`` on the pool, top-k margin.

Data: Gaussian blobs (10 overlapping classes, float32) without ground truth in the pool, so evaluation takes the
cross-validation path. Each (N, d) runs in its own process, so its peak RSS is its own. Per repeat the anchor
and the alviz round alternate (interleaved), then the k queried items get their synthetic labels, so every
repeat is a new round. Times are medians over repeats: CPU seconds (``time.process_time``: every thread of
the process, plus waited-for children) and wall seconds. ``typiclust_first`` is the first TypiClust query on a
fresh embedding (it builds the per-embedding clustering; later queries reuse it).

    .venv/bin/python benchmarks/round_cost.py --n 10000,100000 --d 64,256 --repeats 3
    .venv/bin/python benchmarks/round_cost.py --n 1000000 --d 256 --repeats 1 --strategies auto,typiclust

Measured 2026-12-02 (2 shared cores, busy; CPU seconds, medians; labels 20 / 200, k = 20):

| N x d | round before | round after | plain LR + margin | TypiClust after (first query) |
|---|---|---|---|---|
| 100k x 256 | 4.8 / 6.1 | 0.33 / 0.40 | 0.23 / 0.20 | 0.15 / 0.24 (0.30 / 0.95) |
| 1M x 256 | 24 / 50 | 1.35 / 0.91 | 1.02 / 1.01 | 0.32 / 0.67 (0.27 / 1.1) |

Before at 100k x 256: TypiClust 3.6-4.1, BADGE 1.1-1.8, k-center 0.5-0.8, density_entropy 3.1-3.5 CPU-s a query;
after 0.15-0.24, 0.19-0.30, 0.20-0.23 and 0.01-0.02. Peak RSS: 0.83-0.97 GB before, 0.62 GB after at 100k x 256;
5.5-6.6 GB before, 1.7 GB after at 1M x 256 (of which 1 GB is the embedding).

The last line is one JSON object: {"runs": [{"n", "d", "labels", "anchor": {...}, "round": {...},
"ratio_cpu", "strategies": {NAME: {...}}, "peak_rss_mb"}, ...]}.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

N_CLASSES = 10
STRATEGIES = "margin,auto,typiclust,badge,kcenter,density_entropy,egl,loss_prediction,vote_entropy"


def blobs(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X (n, d) float32, y (n,)): 10 Gaussian classes that overlap enough for a linear model to err (~90%)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 3.0 / np.sqrt(d), (N_CLASSES, d)).astype(np.float32)  # centers ~4 sigma apart
    y = rng.integers(0, N_CLASSES, n)
    X = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):  # in chunks: no float64 (n, d) temporary at 1M
        stop = min(start + 65536, n)
        X[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
        X[start:stop] += centers[y[start:stop]]
    return X, y


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its waited-for children."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def timed(fn) -> tuple[object, float, float]:
    c0, w0 = _cpu(), time.perf_counter()
    out = fn()
    return out, _cpu() - c0, time.perf_counter() - w0


def anchor_round(X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """The plain script: fit on the labels, probabilities for the pool, the k smallest margins."""
    from sklearn.linear_model import LogisticRegression

    labeled = y >= 0
    model = LogisticRegression(max_iter=1000).fit(X[labeled], y[labeled])
    p = model.predict_proba(X)
    top2 = np.partition(p, -2, axis=1)[:, -2:]
    score = top2[:, 0] - top2[:, 1]  # minus the margin: larger is more uncertain
    score[labeled] = -np.inf
    return np.argpartition(-score, k)[:k]


def one(n: int, d: int, labels: int, repeats: int, k: int, strategies: list[str], seed: int) -> dict:
    from alviz.embed import Embedding
    from alviz.pool import Pool
    from alviz.session import Session
    from alviz.store import Store

    X, y_true = blobs(n, d, seed)
    pool = Pool(name=f"blobs-{n}x{d}", ids=np.arange(n).astype(str), vectors=X)  # no ground truth: CV path
    names = [f"c{c}" for c in range(N_CLASSES)]
    with tempfile.TemporaryDirectory() as tmp:
        sess = Session(pool, Embedding(pool.vectors, None, "precomputed"), Store(Path(tmp) / "bench.db"), seed=seed)
        rng = np.random.default_rng(seed)
        # the first labels: every class, then at random
        first = np.concatenate([np.flatnonzero(y_true == c)[:2] for c in range(N_CLASSES)])
        rest = rng.choice(np.setdiff1d(np.arange(n), first), max(labels - len(first), 0), replace=False)
        rows = np.concatenate([first, rest])[:labels]
        sess.label_each(rows, [names[c] for c in y_true[rows]], "bulk")
        y_anchor = np.where(sess.labeled, y_true, -1)
        anchor, rnd = {"cpu_s": [], "wall_s": []}, {"cpu_s": [], "wall_s": []}
        per = {s: {"cpu_s": [], "wall_s": []} for s in strategies}
        first_typiclust = None
        for r in range(repeats):
            _, c, w = timed(lambda y_anchor=y_anchor: anchor_round(X, y_anchor, k))
            anchor["cpu_s"].append(c)
            anchor["wall_s"].append(w)

            def alviz_round(r: int = r) -> np.ndarray:
                sess.retrain()
                sess.score("margin")
                return sess.query("auto", k, seed=r)

            picked, c, w = timed(alviz_round)
            rnd["cpu_s"].append(c)
            rnd["wall_s"].append(w)
            for s in strategies:
                _, c, w = timed(lambda s=s, r=r: sess.query(s, k, seed=r))
                if s == "typiclust" and first_typiclust is None:
                    first_typiclust = {"cpu_s": round(c, 4), "wall_s": round(w, 4)}
                per[s]["cpu_s"].append(c)
                per[s]["wall_s"].append(w)
            # the queried items get their labels: the next repeat is the next round
            sess.label_each(picked, [names[c] for c in y_true[picked]], "queue")
            y_anchor = np.where(sess.labeled, y_true, -1)

    def med(t: dict) -> dict:
        return {key: round(statistics.median(v), 4) for key, v in t.items()}

    a, b = med(anchor), med(rnd)
    return {
        "n": n,
        "d": d,
        "labels": labels,
        "k": k,
        "repeats": repeats,
        "anchor": a,
        "round": b,
        "ratio_cpu": round(b["cpu_s"] / max(a["cpu_s"], 1e-9), 2),
        "strategies": {s: med(t) for s, t in per.items()},
        "typiclust_first": first_typiclust,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000,100000", help="pool sizes, comma-separated")
    ap.add_argument("--d", default="64,256", help="dimensions, comma-separated")
    ap.add_argument("--labels", default="20,200", help="labels before the first round, comma-separated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=20, help="items per query")
    ap.add_argument("--strategies", default=STRATEGIES, help="queries timed alone ('' for none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one (n, d, labels) in this process
    args = ap.parse_args()
    strategies = [s for s in args.strategies.split(",") if s]
    if args.one:
        print(json.dumps(one(int(args.n), int(args.d), int(args.labels), args.repeats, args.k, strategies, args.seed)))
        return
    runs = []
    for n in map(int, args.n.split(",")):
        for d in map(int, args.d.split(",")):
            for labels in map(int, args.labels.split(",")):
                cmd = [sys.executable, __file__, "--one", "--n", str(n), "--d", str(d), "--labels", str(labels)]
                cmd += ["--repeats", str(args.repeats), "--k", str(args.k), "--seed", str(args.seed)]
                cmd += ["--strategies", args.strategies]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    runs.append({"n": n, "d": d, "labels": labels, "error": proc.stderr.strip()[-2000:]})
                    continue
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # progress while the rest runs
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
