"""One image file to one small uint8 array: decoded at reduced scale, bounded in pixels, aspect kept, padded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def max_image_pixels() -> int:
    """Pixels per image alviz decodes at most (``ALVIZ_MAX_IMAGE_PIXELS``; 40 MP, a large camera's photo)."""
    return int(os.environ.get("ALVIZ_MAX_IMAGE_PIXELS") or 40_000_000)


class ImageTooLarge(ValueError):
    """An image with more pixels than alviz decodes (``ALVIZ_MAX_IMAGE_PIXELS``): "WxH pixels, limit N pixels"."""

    def __init__(self, width: int, height: int, limit: int):
        super().__init__(f"{width}x{height} pixels, limit {limit:,} pixels")


def image_to_array(path: Path, size: int) -> np.ndarray:
    """Open one image and return it as uint8 (size, size) gray or (size, size, 3) RGB, aspect kept, padded."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img.draft(img.mode, (size, size))  # JPEG only: decode at reduced scale, much faster for photos
        limit = max_image_pixels()
        if img.width * img.height > limit:  # a few KB of PNG can claim gigabytes once decoded
            raise ImageTooLarge(img.width, img.height, limit)
        img.load()
        if max(img.size) > 4 * size:  # shrink before converting: a big RGBA copy costs 4 bytes a pixel
            img.thumbnail((4 * size, 4 * size), Image.Resampling.BOX)
        img = ImageOps.exif_transpose(img)
        mode = img.mode
        if mode in ("I", "F") or mode.startswith("I;16"):
            # 16/32-bit data (microscopy, scans) rarely fills its range: stretch each image to 0..255,
            # or a 12-bit image would come out nearly black.
            a = np.asarray(img, dtype=np.float64)
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
            arr = np.round(a).astype(np.uint8)
        elif mode in ("1", "L"):
            arr = np.asarray(img.convert("L"))
        else:
            # Transparent pixels composite on white (how viewers show them); P, CMYK, etc. go through RGBA.
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
            alpha = rgba[..., 3:] / 255.0
            arr = np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
            # Gray-alpha, and palette images whose palette is gray (common in GIFs), stay gray.
            if mode in ("LA", "La") or (mode in ("P", "PA") and (arr == arr[..., :1]).all()):
                arr = arr[..., 0]
    h, w = arr.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(Image.fromarray(arr).resize((nw, nh), Image.Resampling.LANCZOS))
    # Pad with the image's own border color, so the bars carry no signal an embedder could latch onto.
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    fill = np.median(border, axis=0).astype(np.uint8)
    out = np.empty((size, size) + small.shape[2:], dtype=np.uint8)
    out[...] = fill
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return out


def stack_images(arrays: list[np.ndarray]) -> np.ndarray | None:
    """One array of the images: gray only if every image is; a gray image joins a color set as R=G=B."""
    if not arrays:
        return None
    if all(a.ndim == 2 for a in arrays):
        return np.stack(arrays)
    return np.stack([np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays])
