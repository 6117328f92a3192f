"""Raw pixels -> PCA: the fast default embedder for small images."""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.decomposition import PCA

from alviz.pool import Pool

DEFAULTS = {"n_components": 50, "seed": 0}
# 2: rows are the exact projection onto the fitted basis (transform), as the mirrored view's are
# 3: the basis is fitted on at most FIT_SAMPLE images (a seeded sample), so that one fit serves any engine and size
VERSION = 3
# A basis fitted on a 20k sample explains as much of a large pool's variance as one fitted on all of it
# (benchmarks/README.md), and the fit stays seconds however large the pool (a 1M pool's pixels do not fit twice).
FIT_SAMPLE = 20_000


def flatten_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, 3]) uint8 -> (N, H*W[*3]) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def fit(images: np.ndarray, n_components: int = 50, seed: int = 0) -> PCA:
    """PCA of the pixels of all images, or of FIT_SAMPLE of them drawn with ``seed`` when there are more."""
    rows = np.arange(len(images))
    if len(rows) > FIT_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), FIT_SAMPLE, replace=False))
    X = flatten_images(images[rows])
    n_components = int(min(n_components, X.shape[0] - 1, X.shape[1]))
    pca = PCA(n_components=n_components, random_state=seed, svd_solver="randomized" if len(X) > 5000 else "auto")
    return pca.fit(X)


def project(pca: PCA, images: np.ndarray) -> np.ndarray:
    """Images onto the fitted basis: the exact projection (transform; fit_transform's U·S differs from it by the
    randomized solver's error), so that an image is embedded the same in any batch, view or engine."""
    return pca.transform(flatten_images(images)).astype(np.float32)


def reader(pool: Pool, n_components: int = 50, seed: int = 0, progress=None, **_):
    """The fitted embedder as a picklable function of an image batch (what a Ray actor runs)."""
    if pool.images is None:
        raise ValueError(f"pixels_pca needs an image pool; {pool.name!r} holds {pool.kind}.")
    if pool.test is not None and pool.test.images is not None and pool.test.images.shape[1:] != pool.images.shape[1:]:
        raise ValueError("test images differ in shape from pool images")
    if progress:
        progress(0.1, "fitting PCA")
    return partial(project, fit(pool.images, n_components, seed))


def embed(
    pool: Pool, n_components: int = 50, seed: int = 0, progress=None, view: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """PCA fit on the pool's pixels; with ``view`` ("hflip"), the PCA fit on the *original* pixels (the same basis
    as without it) applied to the mirrored images, and no test part."""
    from alviz.embed import read_pool

    read = reader(pool, n_components, seed, progress)
    return read_pool(read, pool, view, progress, 0.2)
