"""alviz's strategies against scikit-activeml's, side by side in one process; prints one JSON object.

Every strategy of a (pool, budget, repeat) starts from the same random initial labels, queries the same pool,
is scored on the same held-out test part, and learns with the same learner: alviz's ``Learner`` (a globally
scaled logistic regression) and, as a second column so a learner difference cannot hide, plain scikit-learn
``LogisticRegression``. The learner of a column is also the model that model-based strategies (margin, BADGE,
QBC, auto, ...) query with; model-free ones (random, TypiClust, CoreSet, ProbCover) pick the same items whatever
the learner, so one run of theirs is scored by both.

AUC is the mean test accuracy over the rounds (the learning curve's area divided by its width); final is the
last round's accuracy; std is over repeats; seconds (wall and CPU) per round count the query model's fit and the
query. ``auto_vs_best_peer`` is the paired difference, repeat by repeat, of auto minus the scikit-activeml
strategy of best mean AUC (and of best mean final accuracy), with its standard error.

Pools: scikit-learn digits; Fashion-MNIST 10k pool / 2k test as pixels -> PCA 50 and as EfficientNet-Lite0
features -> PCA 50 (the ``[pretrained]`` extra; skipped with a note without it; the 50-d PCA, fit on the pool
without labels, keeps the protocol's 50-d embedding and scikit-activeml's full-pool k-means affordable); the
bundled sample. Budgets: low = 20 initial + 15 rounds of 20, high = 100 initial + 10 rounds of 100.
ProbCover gets L2-normalized embeddings, as in its paper (its default ball radii 0.2..2.0 assume unit vectors).

Needs the ``[bench]`` extra (scikit-activeml). Smoke run: ``python benchmarks/peers.py --quick``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from alviz.model import Learner, one_blas_thread
from alviz.strategies import QueryContext, select

POOLS = ("digits", "fmnist-pca", "fmnist-effnet", "sample")
BUDGETS = {"low": (20, 20, 15), "high": (100, 100, 10)}  # initial labels, batch, rounds
LEARNERS = ("alviz", "sklearn")
ALVIZ = ("random", "margin", "entropy", "least_confidence", "kcenter", "badge", "typiclust", "auto")
PEERS = ("random", "margin", "entropy", "least_confident", "coreset", "badge", "typiclust", "probcover", "qbc")
MODEL_FREE = {"alviz/random", "alviz/kcenter", "alviz/typiclust"} | {
    f"skactiveml/{s}" for s in ("random", "coreset", "typiclust", "probcover")
}


# ---------------------------------------------------------------- learners


class PlainLR:
    """scikit-learn's LogisticRegression on the raw embedding, speaking in all n_classes like alviz's Learner."""

    def __init__(self, n_classes: int, random_state: int = 0) -> None:
        self.n_classes = n_classes
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> PlainLR:
        with one_blas_thread():
            self.lr = LogisticRegression(max_iter=1000, random_state=self.random_state).fit(X, y)
        self.classes_ = self.lr.classes_.astype(np.int64)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), self.n_classes), dtype=np.float32)
        with one_blas_thread():
            out[:, self.classes_] = self.lr.predict_proba(X)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


def make_learner(kind: str, n_classes: int, seed: int) -> Learner | PlainLR:
    return Learner(n_classes, random_state=seed) if kind == "alviz" else PlainLR(n_classes, seed)


class LearnerEstimator(ClassifierMixin, BaseEstimator):
    """A column's learner as a scikit-learn estimator, for scikit-activeml's ``SklearnClassifier`` to wrap."""

    def __init__(self, kind: str = "alviz", n_classes: int = 10, random_state: int = 0) -> None:
        self.kind = kind
        self.n_classes = n_classes
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> LearnerEstimator:
        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:  # a bootstrap that drew one class: predict it
            self.learner_ = None
            return self
        self.learner_ = make_learner(self.kind, self.n_classes, self.random_state).fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.learner_ is None:
            return np.ones((len(X), 1))
        return self.learner_.predict_proba(X)[:, self.classes_].astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


# ---------------------------------------------------------------- strategies

Query = Callable[[np.ndarray, np.ndarray, object, int], np.ndarray]  # (labeled mask, y_known, model, k) -> rows


def alviz_query(name: str, X: np.ndarray, rng: np.random.Generator) -> Query:
    def query(labeled: np.ndarray, y_known: np.ndarray, model, k: int) -> np.ndarray:
        ctx = QueryContext(X=X, labeled=labeled, y=y_known, proba=model.predict_proba(X), model=model)
        return select(name, ctx, k, rng)

    return query


def peer_query(name: str, X: np.ndarray, kind: str, n_classes: int, seed: int) -> Query:
    """A scikit-activeml strategy object for one run (ProbCover keeps its distance graph between rounds)."""
    from skactiveml import pool as skpool
    from skactiveml.classifier import SklearnClassifier
    from sklearn.ensemble import BaggingClassifier

    rs = np.random.RandomState(seed)
    classes = np.arange(n_classes)

    def clf(estimator) -> SklearnClassifier:
        return SklearnClassifier(estimator, classes=classes, missing_label=-1, random_state=seed)

    base = LearnerEstimator(kind, n_classes, seed)
    Xq = X
    if name == "probcover":
        Xq = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    methods = {"margin": "margin_sampling", "entropy": "entropy", "least_confident": "least_confident"}
    if name in methods:
        strat, extra = skpool.UncertaintySampling(method=methods[name], missing_label=-1, random_state=rs), {}
        extra = {"clf": clf(base)}
    elif name == "badge":
        strat, extra = skpool.Badge(missing_label=-1, random_state=rs), {"clf": clf(base)}
    elif name == "qbc":
        bag = BaggingClassifier(base, n_estimators=5, random_state=seed)
        strat, extra = skpool.QueryByCommittee(missing_label=-1, random_state=rs), {"ensemble": clf(bag)}
    else:
        cls = {
            "random": skpool.RandomSampling,
            "coreset": skpool.CoreSet,
            "typiclust": skpool.TypiClust,
            "probcover": skpool.ProbCover,
        }[name]
        strat, extra = cls(missing_label=-1, random_state=rs), {}

    def query(labeled: np.ndarray, y_known: np.ndarray, model, k: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ProbCover's purity warning, k-means' convergence notes
            return np.asarray(strat.query(Xq, y_known, batch_size=k, **extra), dtype=np.int64)

    return query


# ---------------------------------------------------------------- the loop


@dataclass
class Curve:
    acc: dict[str, list[float]]  # learner -> test accuracy per point
    wall: float  # mean seconds per round (query model fit + query)
    cpu: float


def run_curve(
    strategy: str, data: tuple, init: np.ndarray, batch: int, rounds: int, learners: tuple[str, ...], seed: int
) -> Curve:
    """One learning curve per learner; the first learner is the query model."""
    X, y, X_test, y_test = data
    n_classes = int(max(y.max(), y_test.max()) + 1)
    family, name = strategy.split("/")
    if family == "alviz":
        query = alviz_query(name, X, np.random.default_rng(seed))
    else:
        query = peer_query(name, X, learners[0], n_classes, seed)
    labeled = np.zeros(len(X), dtype=bool)
    labeled[init] = True
    acc: dict[str, list[float]] = {k: [] for k in learners}
    walls, cpus = [], []
    for r in range(rounds + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        models = {}
        for kind in learners:
            models[kind] = make_learner(kind, n_classes, seed).fit(X[labeled], y[labeled])
            if kind == learners[0]:
                t_fit, c_fit = time.perf_counter() - t0, time.process_time() - c0
        if r == rounds:
            t1, c1 = time.perf_counter(), time.process_time()
        else:
            y_known = np.where(labeled, y, -1)
            t1, c1 = time.perf_counter(), time.process_time()
            picked = query(labeled, y_known, models[learners[0]], batch)
            if len(np.unique(picked)) != batch or labeled[picked].any():
                raise RuntimeError(f"{strategy} returned {len(picked)} rows, not {batch} distinct unlabeled ones")
            walls.append(t_fit + time.perf_counter() - t1)
            cpus.append(c_fit + time.process_time() - c1)
        for kind, m in models.items():
            acc[kind].append(float((m.predict(X_test) == y_test).mean()))
        if r < rounds:
            labeled = labeled.copy()
            labeled[picked] = True
    return Curve(acc, float(np.mean(walls)), float(np.mean(cpus)))


# ---------------------------------------------------------------- pools


def load_pool(name: str) -> tuple[tuple | None, str]:
    """((X, y, X_test, y_test), note); None and the reason when the pool cannot be had here."""
    from alviz import datasets
    from alviz.simulate import load_sim_data

    if name in ("digits", "sample"):
        d = load_sim_data(name)
        return (d.X, d.y, d.X_test, d.y_test), f"{name}: pixels -> PCA 50"
    if not datasets.fashion_mnist_available():
        return None, "skipped: Fashion-MNIST needs `apt-get install dataset-fashion-mnist`"
    if name == "fmnist-pca":
        d = load_sim_data("fashion-mnist", n_pool=10_000, n_test=2_000)
        return (d.X, d.y, d.X_test, d.y_test), "Fashion-MNIST 10k/2k: pixels -> PCA 50"
    if name == "fmnist-effnet":
        from alviz.embed import EMBEDDERS, embed

        info = EMBEDDERS["efficientnet_lite0"]
        if not all(importlib.util.find_spec(p) is not None for p in info.packages):
            return None, f"skipped: EfficientNet-Lite0 needs `{info.install_command}`"
        pool = datasets.load("fashion-mnist", n_pool=10_000, n_test=2_000)
        emb = embed(pool, "efficientnet_lite0")
        pca = PCA(50, random_state=0).fit(emb.X)
        X, X_test = pca.transform(emb.X).astype(np.float32), pca.transform(emb.X_test).astype(np.float32)
        return (X, pool.y_true, X_test, pool.test.y_true), "Fashion-MNIST 10k/2k: EfficientNet-Lite0 96 px -> PCA 50"
    raise ValueError(f"Unknown pool {name!r}; valid pools are: {', '.join(POOLS)}.")


# ---------------------------------------------------------------- summary


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.asarray(a) - np.asarray(b)
    se = round(float(d.std(ddof=1) / np.sqrt(len(d))), 4) if len(d) > 1 else None  # JSON has no NaN
    return {"mean": round(float(d.mean()), 4), "se": se}


def summarize(runs: dict[str, list[Curve]], kind: str) -> dict:
    table, auc, final = {}, {}, {}
    for s, curves in runs.items():
        acc = np.array([c.acc[kind] for c in curves])  # (repeats, points)
        auc[s], final[s] = acc.mean(axis=1), acc[:, -1]
        table[s] = {
            "auc": round(float(auc[s].mean()), 4),
            "auc_std": round(float(auc[s].std()), 4),
            "final": round(float(final[s].mean()), 4),
            "final_std": round(float(final[s].std()), 4),
            "seconds_per_round": round(float(np.median([c.wall for c in curves])), 4),
            "cpu_seconds_per_round": round(float(np.median([c.cpu for c in curves])), 4),
        }
    table = dict(sorted(table.items(), key=lambda kv: -kv[1]["auc"]))
    out = {"strategies": table}
    peers = [s for s in runs if s.startswith("skactiveml/")]
    if "alviz/auto" in runs and peers:
        best_auc = max(peers, key=lambda s: auc[s].mean())
        best_final = max(peers, key=lambda s: final[s].mean())
        out["auto_vs_best_peer"] = {
            "best_peer_by_auc": best_auc,
            "auc_diff": paired(auc["alviz/auto"], auc[best_auc]),
            "best_peer_by_final": best_final,
            "final_diff": paired(final["alviz/auto"], final[best_final]),
        }
        d = out["auto_vs_best_peer"]
        out["auto_meets_target"] = bool(
            d["auc_diff"]["mean"] >= 0 and d["final_diff"]["mean"] >= -(d["final_diff"]["se"] or 0.0)
        )
    return out


def run_job(
    pool: str,
    budget: str,
    strategies: list[str],
    learners: tuple[str, ...],
    repeats: int,
    rounds: int | None,
    seed: int,
    on_repeat: Callable[[dict, dict], None] | None = None,
) -> tuple[dict, dict | None]:
    """One (pool, budget): every strategy, every repeat. BLAS and OpenMP on one thread, for every strategy alike:
    scikit-learn's threaded k-means and distances ran 8-10x slower on shared cores (oversubscribed)."""
    with threadpool_limits(limits=1):
        data, note = load_pool(pool)
        if data is None:
            return {"note": note}, None
        X, y, X_test, y_test = (np.asarray(a) for a in data)
        data = (X.astype(np.float32), y.astype(np.int64), X_test.astype(np.float32), y_test.astype(np.int64))
        head = {"note": note, "n_pool": len(X), "n_test": len(X_test)}
        initial, batch, n_rounds = BUDGETS[budget]
        n_rounds = rounds or n_rounds
        runs: dict[str, dict[str, list[Curve]]] = {k: {s: [] for s in strategies} for k in learners}
        for rep in range(repeats):
            init = np.random.default_rng(seed + 1000 * rep).choice(len(X), initial, replace=False)
            for s in strategies:
                shared = s in MODEL_FREE  # picks do not depend on the learner: one run scored by all
                for kind in learners[:1] if shared else learners:
                    order = learners if shared else (kind,)
                    t0 = time.perf_counter()
                    c = run_curve(s, data, init, batch, n_rounds, order, seed + rep)
                    for k2 in order:
                        runs[k2][s].append(Curve({k2: c.acc[k2]}, c.wall, c.cpu))
                    print(
                        f"{pool} {budget} rep {rep} {s} [{'+'.join(order)}]: auc {np.mean(c.acc[kind]):.3f}"
                        f" ({time.perf_counter() - t0:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
            if on_repeat and rep < repeats - 1:  # a partial table after each repeat (single process)
                on_repeat(head, tabulate(runs, initial, batch, n_rounds, rep + 1))
    return head, tabulate(runs, initial, batch, n_rounds, repeats)


def tabulate(runs: dict[str, dict[str, list[Curve]]], initial: int, batch: int, rounds: int, done: int) -> dict:
    table = {"initial": initial, "batch": batch, "rounds": rounds, "repeats_done": done}
    table["learners"] = {k: summarize(by_strategy, k) for k, by_strategy in runs.items()}
    return table


def se(diff: dict) -> str:
    return "n/a" if diff["se"] is None else f"{diff['se']:.3f}"


def markdown(results: list[dict], learner: str = "alviz") -> str:
    """A README table from result JSONs: per pool and budget, auto against the best peer, whether it meets the
    target (``auto_meets_target``: the rounded differences can hide a miss), and the two TypiClusts."""
    lines = [
        "| pool | budget | repeats | auto AUC / final | best peer (AUC) | its AUC / final"
        " | auto - best: AUC, final (± SE) | target met | TypiClust alviz / scikit-activeml |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for pool, entry in res["pools"].items():
            for budget, table in entry.get("budgets", {}).items():
                t = table["learners"].get(learner)
                if not t or "auto_vs_best_peer" not in t:
                    continue
                rows, d = t["strategies"], t["auto_vs_best_peer"]
                auto, peer = rows["alviz/auto"], rows[d["best_peer_by_auc"]]
                typ = [rows.get(f"{f}/typiclust", {}).get("auc", float("nan")) for f in ("alviz", "skactiveml")]
                a, f = d["auc_diff"], d["final_diff"]
                lines.append(
                    f"| {pool} | {budget} | {table.get('repeats_done')}"
                    f" | {auto['auc']:.3f} / {auto['final']:.3f}"
                    f" | {d['best_peer_by_auc'].split('/')[1]} | {peer['auc']:.3f} / {peer['final']:.3f}"
                    f" | {a['mean']:+.3f} ± {se(a)}, {f['mean']:+.3f} ± {se(f)}"
                    f" | {'yes' if t.get('auto_meets_target') else 'no'}"
                    f" | {typ[0]:.3f} / {typ[1]:.3f} |"
                )
    return "\n".join(lines)


def merge(results: list[dict], names: list[str]) -> dict:
    """Saved runs filed side by side. A later run of the same pool, budget and learner with as many repeats
    replaces the strategies it ran and auto's comparison, and keeps the earlier run's other strategies: a re-run of
    auto and the best peers after a change to alviz (the same seeds: the peers' picks do not depend on alviz)."""
    merged: dict = {"protocol": results[0]["protocol"], "sources": [], "pools": {}}
    for res, name in zip(results, names, strict=True):
        merged["sources"] += [s for s in dict.fromkeys(res.get("sources", [name])) if s not in merged["sources"]]
        for pool, entry in res["pools"].items():
            into = merged["pools"].setdefault(pool, {k: v for k, v in entry.items() if k != "budgets"})
            for budget, table in entry.get("budgets", {}).items():
                table.setdefault("repeats_done", res.get("repeats"))
                old = into.setdefault("budgets", {}).get(budget)
                if old is not None and old.get("repeats_done") == table["repeats_done"]:
                    for learner, t in table["learners"].items():
                        rows = {**old["learners"].get(learner, {}).get("strategies", {}), **t["strategies"]}
                        t["strategies"] = dict(sorted(rows.items(), key=lambda kv: -kv[1]["auc"]))
                        best = t.get("auto_vs_best_peer", {}).get("best_peer_by_auc")
                        top = next((s for s in t["strategies"] if s.startswith("skactiveml/")), best)
                        if best and top != best:
                            warn = f"{pool} {budget} {learner}: the kept {top} beats the re-run's best peer"
                            print(warn, file=sys.stderr)
                    table["learners"] = {**old["learners"], **table["learners"]}
                into["budgets"][budget] = table
    return merged


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", default=",".join(POOLS))
    ap.add_argument("--budgets", default="low,high")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--learners", default=",".join(LEARNERS), help="the first is the query model's learner too")
    ap.add_argument("--alviz", default=",".join(ALVIZ), help="alviz strategies")
    ap.add_argument("--peers", default=",".join(PEERS), help="scikit-activeml strategies")
    ap.add_argument("--rounds", type=int, default=None, help="override the budgets' round counts")
    ap.add_argument("--quick", action="store_true", help="smoke run: digits, low budget, 2 repeats, 3 rounds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="processes, one per (pool, budget) at a time")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument(
        "--table", nargs="+", metavar="JSON", help="print a table of saved results (merged into --out), run nothing"
    )
    args = ap.parse_args(argv)
    if args.table:
        results = []
        for path in args.table:
            with open(path) as f:
                results.append(json.load(f))
        merged = merge(results, [os.path.basename(p) for p in args.table])
        if args.out:
            with open(args.out, "w") as f:
                f.write(json.dumps(merged) + "\n")
        print(markdown([merged], args.learners.split(",")[0]))
        return merged
    if importlib.util.find_spec("skactiveml") is None:
        sys.exit("benchmarks/peers.py needs scikit-activeml: pip install -e '.[bench]'")
    if args.quick:
        args.pools, args.budgets, args.repeats, args.rounds = "digits", "low", 2, 3
        args.alviz, args.peers = "random,margin,typiclust,auto", "random,margin,typiclust"
    learners = tuple(args.learners.split(","))
    bad = [x for x in learners if x not in LEARNERS] + [b for b in args.budgets.split(",") if b not in BUDGETS]
    if bad or args.repeats < 1:
        sys.exit(f"unknown learner or budget {bad}; learners: {LEARNERS}, budgets: {tuple(BUDGETS)}; repeats >= 1")
    strategies = [f"alviz/{s}" for s in args.alviz.split(",") if s] + [
        f"skactiveml/{s}" for s in args.peers.split(",") if s
    ]
    result: dict = {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "repeats": args.repeats, "pools": {}}
    jobs = [(p, b) for p in args.pools.split(",") for b in args.budgets.split(",")]
    work = partial(
        run_job, strategies=strategies, learners=learners, repeats=args.repeats, rounds=args.rounds, seed=args.seed
    )

    def keep(pool: str, budget: str, head: dict, table: dict | None) -> None:
        """File the finished (pool, budget) and rewrite --out: a long run that is stopped keeps what it did."""
        entry = result["pools"].setdefault(pool, head)
        if table is not None:
            entry.setdefault("budgets", {})[budget] = table
        if args.out:
            with open(args.out, "w") as f:
                f.write(json.dumps(result) + "\n")

    if args.jobs > 1:  # one process per (pool, budget); each process single-threaded
        with ProcessPoolExecutor(args.jobs) as ex:
            futures = {ex.submit(work, p, b): (p, b) for p, b in jobs}
            for fut in as_completed(futures):
                keep(*futures[fut], *fut.result())
    else:
        for p, b in jobs:
            keep(p, b, *work(p, b, on_repeat=partial(keep, p, b)))
    text = json.dumps(result)
    print(text)
    return result


if __name__ == "__main__":
    main()
