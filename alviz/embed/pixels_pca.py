"""Raw pixels -> PCA: the fast default embedder for small images."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from alviz.pool import Pool

DEFAULTS = {"n_components": 50, "seed": 0}
VERSION = 2  # 2: rows are the exact projection onto the fitted basis (transform), as the mirrored view's are


def flatten_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, 3]) uint8 -> (N, H*W[*3]) float32 in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def embed(
    pool: Pool, n_components: int = 50, seed: int = 0, progress=None, view: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """PCA fit on the pool's pixels; with ``view`` ("hflip"), the PCA fit on the *original* pixels (the same basis
    as without it) applied to the mirrored images, and no test part."""
    if pool.images is None:
        raise ValueError(f"pixels_pca needs an image pool; {pool.name!r} holds {pool.kind}.")
    X = flatten_images(pool.images)
    n_components = int(min(n_components, X.shape[0] - 1, X.shape[1]))
    pca = PCA(n_components=n_components, random_state=seed, svd_solver="randomized" if len(X) > 5000 else "auto")
    if progress:
        progress(0.1, "fitting PCA")
    # fit, then transform: the exact projection onto the basis (fit_transform's U·S differs from it by the randomized
    # solver's error), so an image and its mirrored view are embedded by the very same map
    pca.fit(X)
    if view is not None:
        from alviz.embed import apply_view

        Z = pca.transform(flatten_images(apply_view(pool.images, view))).astype(np.float32)
        if progress:
            progress(1.0, "done")
        return Z, None
    Z = pca.transform(X).astype(np.float32)
    Z_test = None
    if pool.test is not None and pool.test.images is not None:
        if pool.test.images.shape[1:] != pool.images.shape[1:]:
            raise ValueError("test images differ in shape from pool images")
        Z_test = pca.transform(flatten_images(pool.test.images)).astype(np.float32)
    if progress:
        progress(1.0, "done")
    return Z, Z_test
