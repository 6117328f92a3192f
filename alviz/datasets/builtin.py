"""Datasets alviz knows by name: the bundled Fashion-MNIST sample, the full Fashion-MNIST from Debian's
``dataset-fashion-mnist``, and scikit-learn's digits. Each comes with a held-out test pool."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from alviz.datasets.arrays import read_idx
from alviz.datasets.splits import balanced_indices, stratified_split, subset
from alviz.pool import Pool

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SAMPLE_FILE = "fashion_mnist_sample.npz"


def _sample_dir() -> Path:
    """ALVIZ_SAMPLE_DATA, else the copy installed inside the package (a wheel), else the checkout's sample_data/."""
    env = os.environ.get("ALVIZ_SAMPLE_DATA")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    installed = package / "sample_data"
    return installed if installed.is_dir() else package.parent / "sample_data"


def _fashion_files(split: str) -> list[str]:
    return [f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"]


def fashion_mnist_available() -> bool:
    """True when Debian's ``dataset-fashion-mnist`` files are installed."""
    return all((FASHION_MNIST_DIR / f).is_file() for f in _fashion_files("train") + _fashion_files("t10k"))


def load_sample() -> Pool:
    """The bundled balanced Fashion-MNIST subset: 2,000 pool images and 1,000 held-out test images.

    Ids use the index in the original Fashion-MNIST files, so labels made on the sample carry over to the
    full dataset loaded by ``load_fashion_mnist``.
    """
    where = _sample_dir()
    path = where if where.is_file() else where / SAMPLE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"Sample data not found at {path}. Set ALVIZ_SAMPLE_DATA to the folder holding {SAMPLE_FILE}, "
            "or rebuild it with `python scripts/make_sample.py` (needs `apt-get install dataset-fashion-mnist`)."
        )
    with np.load(path, allow_pickle=False) as z:
        need = {"pool_images", "pool_labels", "pool_source_index", "test_images", "test_labels"}
        need |= {"test_source_index", "class_names"}
        missing = sorted(need - set(z.files))
        if missing:
            raise ValueError(f"{path} lacks keys {missing}; it has {sorted(z.files)}.")
        d = {k: z[k] for k in need}
    class_names = [str(c) for c in d["class_names"]]
    test = Pool(
        name="sample-test",
        ids=np.char.add("fmnist-test-", d["test_source_index"].astype(str)),
        images=d["test_images"],
        y_true=d["test_labels"],
        class_names=class_names,
    )
    return Pool(
        name="sample",
        ids=np.char.add("fmnist-train-", d["pool_source_index"].astype(str)),
        images=d["pool_images"],
        y_true=d["pool_labels"],
        class_names=class_names,
        test=test,
        notes=["Fashion-MNIST (c) Zalando SE, MIT License; balanced subset, see sample_data/."],
    )


def load_fashion_mnist(n_pool: int | None = None, n_test: int | None = None, seed: int = 0) -> Pool:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (60k train as pool, 10k t10k as test).

    ``n_pool`` / ``n_test`` take a balanced, seeded subset of each split; None keeps the whole split.
    """
    if not fashion_mnist_available():
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {FASHION_MNIST_DIR} (expected "
            f"{_fashion_files('train') + _fashion_files('t10k')}). "
            "Install them with `sudo apt-get install dataset-fashion-mnist`."
        )

    def split(name: str, prefix: str, n: int | None, pool_name: str) -> Pool:
        images = read_idx(FASHION_MNIST_DIR / f"{name}-images-idx3-ubyte.gz")
        labels = read_idx(FASHION_MNIST_DIR / f"{name}-labels-idx1-ubyte.gz").astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f"Fashion-MNIST {name}: {len(images)} images but {len(labels)} labels.")
        rows = np.arange(len(labels)) if n is None else balanced_indices(labels, n, seed)
        return Pool(
            name=pool_name,
            ids=np.char.add(prefix, rows.astype(str)),
            images=images[rows],
            y_true=labels[rows],
            class_names=list(FASHION_MNIST_CLASSES),
        )

    name = "fashion-mnist" if n_pool is None else f"fashion-mnist-{n_pool}"
    pool = split("train", "fmnist-train-", n_pool, name)
    pool.test = split("t10k", "fmnist-test-", n_test, f"{name}-test")
    pool.notes.append("Fashion-MNIST (c) Zalando SE, MIT License.")
    return pool


def load_digits_pool(test_fraction: float = 0.2, seed: int = 0) -> Pool:
    """scikit-learn's 1,797 8x8 digits as uint8 images, with a stratified held-out test pool."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # load_digits pixels are counts 0..16; scale to the 0..255 range every image embedder expects.
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    y = digits.target.astype(np.int64)
    kw = {"ids": np.array([f"digits-{i}" for i in range(len(y))]), "images": images, "y_true": y}
    class_names = [str(d) for d in range(10)]
    train, test = stratified_split(y, test_fraction, seed)
    test_pool = None
    if len(test):
        test_pool = Pool(name="digits-test", class_names=class_names, **subset(kw, test))
    return Pool(name="digits", class_names=class_names, test=test_pool, **subset(kw, train))
