"""The pool: the items to label, in one fixed order, with what we know about them.

A ``Pool`` is a plain container of numpy arrays. Row ``i`` everywhere in alviz (embeddings, map
points, labels, scores) means item ``ids[i]``. Ground truth (``y_true``) is optional and is used
only to evaluate models and to drive simulations, never shown to the user as a label.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

UNLABELED = -1


@dataclass(eq=False)
class Pool:
    """Items to label.

    ids: (N,) str, unique item ids (stable across sessions: labels are stored by id).
    images: (N, H, W) or (N, H, W, 3) uint8, or None.
    vectors: (N, d) float32 precomputed embedding, or None.
    texts: (N,) str, or None.
    y_true: (N,) int index into ``class_names``, -1 where unknown; None when no ground truth.
    class_names: known class names (from the dataset); users may add more while labeling.
    test: an optional held-out pool with ground truth, used only to measure accuracy.
    """

    name: str
    ids: np.ndarray
    images: np.ndarray | None = None
    vectors: np.ndarray | None = None
    texts: np.ndarray | None = None
    y_true: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    test: Pool | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        n = len(self.ids)
        if n == 0:
            raise ValueError(f"Pool {self.name!r} is empty: no items were found.")
        uniq, counts = np.unique(self.ids, return_counts=True)
        if len(uniq) != n:
            dup = uniq[counts > 1][:5].tolist()
            raise ValueError(f"Pool {self.name!r} has duplicate ids, e.g. {dup}; ids must be unique.")
        for attr in ("images", "vectors", "texts", "y_true"):
            arr = getattr(self, attr)
            if arr is not None and len(arr) != n:
                raise ValueError(f"Pool {self.name!r}: {attr} has {len(arr)} rows, ids has {n}.")
        if self.images is None and self.vectors is None and self.texts is None:
            raise ValueError(f"Pool {self.name!r} has neither images, vectors nor texts.")
        if self.vectors is not None:
            self.vectors = np.asarray(self.vectors, dtype=np.float32)
            if self.vectors.ndim != 2:
                raise ValueError(f"vectors must be 2-D (N, d); got shape {self.vectors.shape}.")
            if not np.isfinite(self.vectors).all():
                bad = int((~np.isfinite(self.vectors)).any(axis=1).sum())
                raise ValueError(f"vectors contain NaN or inf in {bad} rows; clean or drop them first.")
        if self.y_true is not None:
            self.y_true = np.asarray(self.y_true, dtype=np.int64)
            if self.y_true.max(initial=-1) >= len(self.class_names):
                raise ValueError("y_true refers to a class index beyond class_names.")
        self._index = {item_id: i for i, item_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kind(self) -> str:
        """'images', 'vectors' or 'texts': what the gallery can show."""
        if self.images is not None:
            return "images"
        if self.texts is not None:
            return "texts"
        return "vectors"

    @property
    def has_ground_truth(self) -> bool:
        return self.y_true is not None and bool((self.y_true >= 0).any())

    def index_of(self, item_ids: list[str] | np.ndarray) -> np.ndarray:
        """Row indices of the given ids; ids not in the pool are skipped."""
        rows = [self._index[i] for i in item_ids if i in self._index]
        return np.asarray(rows, dtype=np.int64)

    def content_hash(self) -> str:
        """A short digest of the pool's content, for caches keyed by data (computed once: pools don't change)."""
        if getattr(self, "_hash", None):
            return self._hash
        h = hashlib.sha1()
        h.update(self.name.encode())
        h.update("\0".join(self.ids.tolist()).encode())
        for arr in (self.images, self.vectors):
            if arr is not None:
                h.update(str(arr.shape).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        if self.texts is not None:
            h.update("\0".join(map(str, self.texts)).encode())
        if self.test is not None:
            h.update(self.test.content_hash().encode())
        self._hash = h.hexdigest()[:16]
        return self._hash

    def summary(self) -> dict:
        """Plain facts for a UI or CLI to show."""
        out = {"name": self.name, "items": len(self), "kind": self.kind, "classes": len(self.class_names)}
        if self.images is not None:
            out["image_shape"] = tuple(self.images.shape[1:])
        if self.vectors is not None:
            out["dims"] = int(self.vectors.shape[1])
        out["ground_truth"] = self.has_ground_truth
        out["test_items"] = len(self.test) if self.test is not None else 0
        return out
