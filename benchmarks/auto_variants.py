"""Candidate regime rules for ``auto``, run on the protocol of ``benchmarks/peers.py``; prints one JSON object.

Why: issue 15's last row to miss was Fashion-MNIST on EfficientNet-Lite0 features at 20 + 15 x 20, where TypiClust
leads diverse margin for most of the budget while on the same images as pixels -> PCA it trails from the second
round. A rule that tells the two apart must do so from what a session has (the embedding, the labels, the model),
and must not cost the other pools. The variants here are the ones worth re-running; those already dropped are
in benchmarks/README.md.

- ``share25`` / ``share50`` / ``share75``: auto with at least that share of every batch from TypiClust.
- ``proto``: TypiClust while a nearest-class-mean classifier predicts the labeled items as well as the linear
  model does under 5-fold cross-validation (mean paired difference >= -1 SE), auto otherwise.
- ``proto_regions``: the same with folds made of whole regions of the embedding (2 coarse clusters per class),
  so both classifiers are judged on parts of the pool they have no label from, as TypiClust's picks are.

``auto`` itself now runs ``proto_regions``, with "at least as many right" in place of "within one SE", while
TypiClust's clusters are large (``auto.TYPICAL_CLUSTER``):
``--typical-cluster`` sweeps that bound, ``--typical-cluster 0`` gives auto as it was before (the variants above
were measured against that auto), ``--no-prototype-test`` keeps the bound and drops the class-mean test.

Same seeds, initial labels and learner as peers.py (alviz's ``Learner``); ``--strategies`` adds any registered
strategy or scikit-activeml peer (``skactiveml/typiclust``) for a side-by-side run. Example:
``python benchmarks/auto_variants.py --pools fmnist-effnet,fmnist-pca --variants proto_regions --repeats 5``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402  (a sibling script, not a package)

from alviz.strategies import auto as auto_module  # noqa: E402
from alviz.strategies.base import QueryContext, register  # noqa: E402
from alviz.strategies.diversity import typiclust  # noqa: E402

VARIANTS = ("share25", "share50", "share75", "proto", "proto_regions")


def with_share(ctx: QueryContext, k: int, rng: np.random.Generator, share: float) -> np.ndarray:
    """auto, with at least ``share`` of the batch from TypiClust."""
    if ctx.proba is None:
        return typiclust(ctx, k, rng)
    plan = auto_module.plan(ctx, k)
    return auto_module.compose(ctx, k, rng, max(share, plan.typical_share), plan.spread)


def prototype_evidence(ctx: QueryContext, by_region: bool, folds: int = 5, cap: int = 1000) -> tuple[float, float]:
    """Mean and standard error, over the labeled items (a sample of ``cap``), of (nearest class mean right) -
    (linear model right) when each item is held out in a fold: folds of items, or of regions (auto's own test)."""
    if by_region:
        proto = auto_module.prototype_evidence(ctx)
        return (proto.means - proto.model, proto.se) if proto is not None else (-1.0, 0.0)
    rng = np.random.default_rng(0)
    rows = np.flatnonzero(ctx.labeled)
    if len(rows) > cap:
        rows = np.sort(rng.choice(rows, cap, replace=False))
    fold = rng.permutation(len(rows)) % folds
    proto = auto_module.prototypes_on_folds(ctx.X[rows], ctx.y[rows], fold, ctx.proba.shape[1])
    return proto.means - proto.model, proto.se


def prototype_rule(ctx: QueryContext, k: int, rng: np.random.Generator, by_region: bool) -> np.ndarray:
    if ctx.proba is None:
        return typiclust(ctx, k, rng)
    mean, se = prototype_evidence(ctx, by_region)
    return typiclust(ctx, k, rng) if mean >= -se else auto_module.auto(ctx, k, rng)


def register_variants() -> None:
    for pct in (25, 50, 75):
        register(f"share{pct}", needs=("proba",), description="auto with a TypiClust share (benchmark)", rank=9000)(
            lambda ctx, k, rng, s=pct / 100: with_share(ctx, k, rng, s)
        )
    for name, by_region in (("proto", False), ("proto_regions", True)):
        register(name, needs=("proba",), description="auto or TypiClust by prototype evidence (benchmark)", rank=9000)(
            lambda ctx, k, rng, b=by_region: prototype_rule(ctx, k, rng, b)
        )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", default=",".join(peers.POOLS))
    ap.add_argument("--budgets", default="low")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--strategies", default="alviz/auto,alviz/typiclust", help="baselines run beside the variants")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--typical-cluster",
        type=int,
        default=auto_module.TYPICAL_CLUSTER,
        help="auto's TYPICAL_CLUSTER; 0 turns its TypiClust-while-prototypes-do-as-well regime off (auto as before)",
    )
    ap.add_argument("--no-prototype-test", action="store_true", help="that regime on cluster size alone")
    args = ap.parse_args(argv)
    auto_module.TYPICAL_CLUSTER = args.typical_cluster or 10**12
    if args.no_prototype_test:
        auto_module.prototype_evidence = lambda ctx: auto_module.Prototypes(1.0, 0.0, 0.0, 0)
    register_variants()
    names = [f"alviz/{v}" for v in args.variants.split(",") if v] + [s for s in args.strategies.split(",") if s]
    out: dict = {"protocol": "benchmarks/peers.py's, alviz learner only", "pools": {}}
    with threadpool_limits(limits=1):
        for pool in args.pools.split(","):
            data, note = peers.load_pool(pool)
            if data is None:
                out["pools"][pool] = {"note": note}
                continue
            X, y, X_test, y_test = (np.asarray(a) for a in data)
            data = (X.astype(np.float32), y.astype(np.int64), X_test.astype(np.float32), y_test.astype(np.int64))
            for budget in args.budgets.split(","):
                initial, batch, rounds = peers.BUDGETS[budget]
                table = {}
                for name in names:
                    acc = []
                    for rep in range(args.repeats):
                        init = np.random.default_rng(args.seed + 1000 * rep).choice(len(X), initial, replace=False)
                        curve = peers.run_curve(name, data, init, batch, rounds, ("alviz",), args.seed + rep)
                        acc.append(curve.acc["alviz"])
                    acc = np.array(acc)
                    table[name] = {
                        "auc": round(float(acc.mean()), 4),
                        "final": round(float(acc[:, -1].mean()), 4),
                        "curve": [round(float(v), 4) for v in acc.mean(axis=0)],
                    }
                    print(
                        f"{pool} {budget} {name}: auc {acc.mean():.4f} final {acc[:, -1].mean():.4f}", file=sys.stderr
                    )
                out["pools"].setdefault(pool, {"note": note})[budget] = table
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
