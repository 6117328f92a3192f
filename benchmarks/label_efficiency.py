"""Label efficiency of every strategy: simulated learning curves, AUC and final accuracy; prints JSON.

Fashion-MNIST (pixels -> PCA 50, a balanced 10k pool / 2k test, 20 initial labels, 15 rounds of 20,
3 repeats) and scikit-learn digits (same loop). The last line is one JSON object:
{"DATA": {"STRATEGY": {"auc": x, "final": x, "seconds_per_round": x}}, ...}.

Defaults, 2026-12-02, after ``auto`` took its budget from the least-labeled class (AUC): digits auto 0.924
(0.923 before), typiclust 0.917, margin 0.912, random 0.889; Fashion-MNIST 10k auto 0.728 (0.728 before),
margin 0.727, typiclust 0.722, random 0.693.
"""

from __future__ import annotations

import argparse
import json

from alviz import datasets
from alviz.simulate import load_sim_data, run
from alviz.strategies import NEEDS_FLIP, REGISTRY


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--strategies", default=",".join(REGISTRY))
    ap.add_argument("--data", default="fashion-mnist,digits")
    args = ap.parse_args()
    table = {}
    for data in args.data.split(","):
        if data == "fashion-mnist" and not datasets.fashion_mnist_available():
            table[data] = "skipped: apt-get install dataset-fashion-mnist"
            continue
        sizes = {"n_pool": 10_000, "n_test": 2_000} if data == "fashion-mnist" else {}
        names = args.strategies.split(",")
        d = load_sim_data(data, flip=any(s in NEEDS_FLIP for s in names), **sizes)  # consistency: mirrored images
        X, y, X_test, y_test, name = d.X, d.y, d.X_test, d.y_test, d.name
        res = run(
            X,
            y,
            X_test,
            y_test,
            names,
            initial=20,
            batch=20,
            rounds=args.rounds,
            repeats=args.repeats,
            data_name=name,
            X_flip=d.X_flip,
        )
        table[name] = {
            s: {"auc": v["auc"], "final": v["accuracy_mean"][-1], "seconds_per_round": v["seconds_per_round"]}
            for s, v in sorted(res["strategies"].items(), key=lambda kv: -kv[1]["auc"])
        }
    print(json.dumps(table))


if __name__ == "__main__":
    main()
