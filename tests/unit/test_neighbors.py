"""'Find more like these' on a big pool: the kNN-graph index agrees with the exact search, answers only once it
is built (exact search until then, never a wait), is cached in memory and on disk, and refuses bad selections."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from alviz import geometry, neighbors
from alviz.pool import Pool


def test_exact_search_returns_exactly_the_true_nearest_items_nearest_first():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 8)).astype(np.float32)
    sel = np.array([3, 70])
    got = neighbors.exact_search(X, sel, 10)
    d = np.min(((X[:, None, :] - X[None, sel, :]) ** 2).sum(-1), axis=1)
    d[sel] = np.inf
    assert got.tolist() == np.argsort(d)[:10].tolist()


def test_exact_search_leaves_out_excluded_items_and_refuses_an_empty_selection():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    exclude = np.zeros(10, bool)
    exclude[4] = True
    assert 4 not in neighbors.exact_search(X, [3], 3, exclude=exclude).tolist()
    with pytest.raises(ValueError, match="Select at least one item"):
        neighbors.exact_search(X, [], 3)


def clustered(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(8, d))
    return (centers[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture
def fresh_index(monkeypatch):
    """Force the index on small pools and small selections, with an empty in-memory cache of graphs."""
    monkeypatch.setattr(neighbors, "INDEX_THRESHOLD", 100)
    monkeypatch.setattr(neighbors, "EXACT_BUDGET", 0)
    monkeypatch.setattr(neighbors, "_graphs", {})


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return len(np.intersect1d(found, exact)) / len(exact)


def test_index_finds_what_the_exact_search_finds_once_built(make_session, fresh_index):
    X = clustered(800)
    sess = make_session(Pool(name="big", ids=[f"i{i}" for i in range(len(X))], vectors=X))
    sess.label(np.arange(0, 800, 37), "a", source="bulk")  # labeled items are left out by both searches
    neighbors.index_for(sess.X).wait(timeout=60)
    patch = geometry.nearest(X, np.array([250]), np.arange(len(X)), k=30)[0][0]  # what a lasso selects
    for rows in ([5], [17, 400], patch.tolist()):
        found = sess.more_like(np.array(rows), 30)
        assert sess.last_neighbor_search == "index"
        exact = neighbors.exact_search(X, np.array(rows), 30, exclude=sess.labeled)
        assert recall(found, exact) >= 0.95
        assert not sess.labeled[found].any() and not np.isin(found, rows).any()


def test_exact_search_answers_at_once_while_the_index_builds(make_session, fresh_index, monkeypatch):
    X = clustered(300, seed=2)
    sess = make_session(Pool(name="building", ids=[f"i{i}" for i in range(len(X))], vectors=X))
    release = threading.Event()
    real = neighbors.knn_graph

    def slow_graph(*args, **kwargs):
        release.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(neighbors, "knn_graph", slow_graph)
    try:
        found = sess.more_like(np.array([3, 4]), 10)
        assert sess.last_neighbor_search == "exact (index building)"
        assert found.tolist() == neighbors.exact_search(X, np.array([3, 4]), 10).tolist()
    finally:
        release.set()
    neighbors.index_for(sess.X).wait(timeout=60)
    sess.more_like(np.array([3, 4]), 10)
    assert sess.last_neighbor_search == "index"


def test_a_failed_build_leaves_the_exact_search_answering_and_says_why(fresh_index, monkeypatch):
    X = clustered(300, seed=8)

    def broken(*args, **kwargs):
        raise MemoryError("no room for the graph")

    monkeypatch.setattr(neighbors, "knn_graph", broken)
    with pytest.raises(MemoryError):
        neighbors.index_for(X).wait(timeout=60)
    found, how = neighbors.more_like(X, [3], 10)
    assert how == "exact (the index failed: no room for the graph)"
    assert found.tolist() == neighbors.exact_search(X, [3], 10).tolist()


def test_small_pools_keep_the_exact_search(make_session):
    X = clustered(300, seed=3)
    sess = make_session(Pool(name="small", ids=[f"i{i}" for i in range(len(X))], vectors=X))
    found = sess.more_like(np.array([1]), 5)
    assert sess.last_neighbor_search == "exact"
    assert found.tolist() == neighbors.exact_search(X, np.array([1]), 5).tolist()


def test_a_selection_cheap_to_search_exactly_is_searched_exactly_even_with_an_index(fresh_index, monkeypatch):
    X = clustered(500, seed=9)
    neighbors.index_for(X).wait(timeout=60)
    monkeypatch.setattr(neighbors, "EXACT_BUDGET", 2 * len(X) * X.shape[1])  # two rows' worth
    assert neighbors.more_like(X, [1, 2], 5)[1] == "exact"
    assert neighbors.more_like(X, [1, 2, 3], 5)[1] == "index"


def test_the_graph_is_read_back_from_disk_and_a_damaged_file_is_rebuilt(fresh_index, monkeypatch):
    X = clustered(400, seed=4)
    built = neighbors.NeighborIndex(X).wait(timeout=60)
    monkeypatch.setattr(neighbors, "_graphs", {})  # a new process: nothing in memory

    def no_build(*args, **kwargs):
        raise AssertionError("the graph should have come from disk")

    monkeypatch.setattr(neighbors, "knn_graph", lambda *a, **k: no_build())
    assert np.array_equal(neighbors.NeighborIndex(X.copy()).wait(timeout=60), built)

    key = neighbors._cache_key(neighbors.digest(X))
    bad = built.copy()
    bad[0, 0] = len(X) + 5  # points outside the pool: never trusted
    neighbors.cache.save(neighbors.cache.default_cache_dir(), key, {"graph": bad, "graph_version": np.int64(1)})
    monkeypatch.setattr(neighbors, "_graphs", {})
    monkeypatch.setattr(neighbors, "knn_graph", lambda *a, **k: built)
    assert neighbors.NeighborIndex(X).wait(timeout=60).max() < len(X)


def test_a_walk_cut_off_from_enough_items_falls_back_to_the_exact_answer(fresh_index):
    # two far-apart clusters: the graph of a 60-item cluster (more items than neighbours per item) cannot lead
    # out of it to 80 answers
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 1, (60, 4)), rng.normal(100, 1, (300, 4))]).astype(np.float32)
    assert neighbors.graph_search(X, neighbors.knn_graph(X), np.array([0]), 80) is None
    neighbors.index_for(X).wait(timeout=60)
    found, how = neighbors.more_like(X, [0], 80)
    assert how == "exact" and found.tolist() == neighbors.exact_search(X, [0], 80).tolist()


def test_bad_selections_get_clear_messages_and_a_repeated_row_counts_once(make_session, fresh_index):
    X = clustered(200, seed=6)
    sess = make_session(Pool(name="msgs", ids=[f"i{i}" for i in range(len(X))], vectors=X))
    with pytest.raises(ValueError, match="Select at least one item"):
        sess.more_like(np.array([], dtype=np.int64), 5)
    with pytest.raises(ValueError, match=r"Row indices must lie in 0\.\.199"):
        sess.more_like(np.array([3, 200]), 5)
    with pytest.raises(ValueError, match=r"Row indices must lie in 0\.\.199"):
        sess.more_like(np.array([-1]), 5)
    with pytest.raises(ValueError, match="n must be positive"):
        sess.more_like(np.array([3]), 0)
    assert sess.more_like(np.array([3, 3, 4]), 5).tolist() == sess.more_like(np.array([3, 4]), 5).tolist()


@pytest.mark.slow
def test_nn_descent_graph_recalls_the_exact_neighbors():
    X = clustered(neighbors.BRUTE_FORCE_MAX + 1000, seed=7)
    approx = neighbors.knn_graph(X, k=15, method="nndescent")
    exact = neighbors.knn_graph(X, k=15, method="exact")
    hits = sum(len(np.intersect1d(a, e)) for a, e in zip(approx, exact, strict=True))
    assert hits / exact.size >= 0.95
