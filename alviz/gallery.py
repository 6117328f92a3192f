"""Thumbnails for the selection gallery: one tiled image is far cheaper to send than many small ones."""

from __future__ import annotations

import numpy as np


def montage(images: np.ndarray, columns: int = 12, scale: int = 2, pad: int = 2) -> np.ndarray:
    """Tile (n, H, W[, 3]) uint8 images into one RGB image, each upscaled by an integer factor."""
    if len(images) == 0:
        raise ValueError("montage needs at least one image")
    imgs = images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=3)
    imgs = imgs.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, _ = imgs.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        out[y0 : y0 + h, x0 : x0 + w] = imgs[k]
    return out
