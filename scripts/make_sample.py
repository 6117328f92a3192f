"""Build sample_data/fashion_mnist_sample.npz: a balanced, seeded Fashion-MNIST subset for the bundled sample.

Reads the gzip IDX files from Debian's ``dataset-fashion-mnist`` package (``apt-get install
dataset-fashion-mnist``) and keeps 200 train images per class as the pool and 100 t10k images per class as
the held-out test set, with each image's index in the original file.

    python scripts/make_sample.py [--out sample_data/fashion_mnist_sample.npz] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing alviz

from alviz.datasets import (  # noqa: E402
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    SAMPLE_FILE,
    balanced_indices,
    read_idx,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=FASHION_MNIST_DIR, help="folder with the Fashion-MNIST .gz files")
    ap.add_argument("--out", type=Path, default=REPO / "sample_data" / SAMPLE_FILE)
    ap.add_argument("--n-pool", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    out = {}
    for split, prefix, n in (("train", "pool", args.n_pool), ("t10k", "test", args.n_test)):
        images = read_idx(args.src / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(args.src / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
        rows = balanced_indices(labels, n, seed=args.seed)
        out[f"{prefix}_images"] = images[rows].astype(np.uint8)
        out[f"{prefix}_labels"] = labels[rows]
        out[f"{prefix}_source_index"] = rows.astype(np.int64)
    out["class_names"] = np.array(FASHION_MNIST_CLASSES)  # fixed-width unicode: loads without pickle

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.2f} MB): pool {out['pool_images'].shape}, test {out['test_images'].shape}")


if __name__ == "__main__":
    main()
