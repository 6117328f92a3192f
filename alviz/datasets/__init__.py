"""Loaders that turn data on disk into a ``Pool``.

Sources: datasets known by name (``builtin``: the bundled Fashion-MNIST sample, the full Fashion-MNIST from
Debian's ``dataset-fashion-mnist``, scikit-learn's digits), a folder of images (``folders``; subfolders = classes),
a CSV/Parquet table of embeddings or texts and an ``.npz`` with ``X``/``y`` (``tables``). ``paths`` keeps every
user path inside the data root; ``arrays`` reads users' numpy and IDX files without trusting them. Every loader
returns numpy arrays inside a ``Pool`` and raises ``ValueError`` or ``FileNotFoundError`` saying what it expected
and what it found.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from alviz.datasets.arrays import read_arrays, read_idx
from alviz.datasets.builtin import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    SAMPLE_FILE,
    fashion_mnist_available,
    load_digits_pool,
    load_fashion_mnist,
    load_sample,
)
from alviz.datasets.folders import EMBEDDING_FILES, load_image_folder, read_folder_embeddings
from alviz.datasets.images import ImageTooLarge
from alviz.datasets.paths import TABLE_SUFFIXES, confine, data_root, wrong_kind
from alviz.datasets.splits import balanced_indices
from alviz.datasets.tables import MIN_ITEMS, TableColumns, empty_texts, inspect_table, load_npz_xy, load_table
from alviz.pool import Pool

__all__ = [
    "EMBEDDING_FILES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "MIN_ITEMS",
    "SAMPLE_FILE",
    "TABLE_SUFFIXES",
    "ImageTooLarge",
    "TableColumns",
    "balanced_indices",
    "confine",
    "data_root",
    "empty_texts",
    "fashion_mnist_available",
    "inspect_table",
    "load",
    "load_digits_pool",
    "load_fashion_mnist",
    "load_image_folder",
    "load_npz_xy",
    "load_sample",
    "load_table",
    "read_arrays",
    "read_folder_embeddings",
    "read_idx",
    "wrong_kind",
]

_ACCEPTED = '"sample", "fashion-mnist", "digits", a folder of images, a .csv or .parquet table, or an .npz with X/y'


def load(source: str | os.PathLike, progress: Callable[[float, str], None] | None = None, **kwargs) -> Pool:
    """Load a pool by name or path; ``kwargs`` go to the matching loader, ``progress`` to an image folder's."""
    key = str(source).strip()
    named = {"sample": load_sample, "fashion-mnist": load_fashion_mnist, "digits": load_digits_pool}
    if key.lower() in named:
        return named[key.lower()](**kwargs)
    path = confine(Path(key).expanduser())
    if path.is_dir():
        return load_image_folder(path, progress=progress, **kwargs)
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return load_table(path, **kwargs)
    if suffix == ".npz":
        return load_npz_xy(path, **kwargs)
    if not path.exists() and not suffix:
        raise ValueError(f"Unknown data source {key!r}: no such folder. Expected {_ACCEPTED}.")
    raise ValueError(f"Cannot load {key!r}. Expected {_ACCEPTED}.")
