"""Shared fixtures: tiny hand-made pools whose right answers are known by construction, real SQLite files."""

from __future__ import annotations

import numpy as np
import pytest

from alviz.embed import Embedding
from alviz.pool import Pool
from alviz.session import Session
from alviz.store import Store


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own embedding cache: never read or write ~/.cache/alviz."""
    cache_dir = tmp_path / "alviz-cache"
    monkeypatch.setenv("ALVIZ_CACHE", str(cache_dir))
    return cache_dir


OFFSETS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 0.25, -0.25, 0.75])


def blobs(n_per_class: int = 6, n_classes: int = 2, prefix: str = "item") -> tuple[np.ndarray, ...]:
    """Clusters on a line, class c at x = 10 c, with the same y offsets in every class (so y tells nothing
    about the class, exactly). Rows c * n_per_class .. (c + 1) * n_per_class - 1 are class c.
    Returns (ids, X float32, y)."""
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = np.stack([10.0 * y, np.tile(OFFSETS[:n_per_class], n_classes)], axis=1)
    ids = np.array([f"{prefix}-{i:03d}" for i in range(len(y))])
    return ids, X.astype(np.float32), y.astype(np.int64)


@pytest.fixture
def vector_pool() -> Pool:
    """12 items in two clusters (rows 0-5 and 6-11), no ground truth, no test part."""
    ids, X, _ = blobs()
    return Pool(name="blobs", ids=ids, vectors=X)


@pytest.fixture
def pool_with_test() -> Pool:
    """Two clusters with ground truth, and a held-out test pool drawn from the same clusters."""
    ids, X, y = blobs()
    test_ids, X_test, y_test = blobs(n_per_class=4, prefix="test")
    test = Pool(name="blobs-test", ids=test_ids, vectors=X_test, y_true=y_test, class_names=["left", "right"])
    return Pool(name="blobs", ids=ids, vectors=X, y_true=y, class_names=["left", "right"], test=test)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "labels.db"


@pytest.fixture
def make_session(db_path):
    """Build a Session over a pool with its precomputed vectors, on a fresh Store of the test's database."""

    def make(pool: Pool, annotator: str = "alice", project: str | None = None, db=None) -> Session:
        X_test = pool.test.vectors if pool.test is not None else None
        embedding = Embedding(pool.vectors, X_test, "precomputed")
        return Session(pool, embedding, Store(db or db_path), project=project, annotator=annotator)

    return make
