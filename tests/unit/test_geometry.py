"""The ground floor: distances, nearest items and k-means."""

from __future__ import annotations

import numpy as np

from alviz import geometry


def test_nearest_finds_the_k_closest_candidates_in_order():
    X = np.array([[0, 0], [1, 0], [5, 0], [2, 0], [10, 0]], dtype=np.float32)
    idx, dist = geometry.nearest(X, np.array([0]), np.array([2, 3, 4, 1]), k=2)
    assert idx.tolist() == [[1, 3]] and dist.tolist() == [[1.0, 2.0]]


def test_min_sqdist_is_the_squared_distance_to_the_nearest_center_across_blocks(monkeypatch):
    monkeypatch.setattr(geometry, "CENTERS", 2)  # several blocks of centers
    X = np.array([[0, 0], [3, 4], [10, 0]], dtype=np.float32)
    centers = np.array([[100, 100], [0, 1], [3, 0], [50, 0], [10, 0]], dtype=np.float32)
    np.testing.assert_allclose(geometry.min_sqdist(X, centers), [1.0, 16.0, 0.0])


def test_nearest_center_and_kmeans_agree_on_well_separated_blobs():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 20]).astype(np.float32)
    labels, centers = geometry.kmeans(X, 2, rng)
    assert len(set(labels[:50].tolist())) == 1 and labels[0] != labels[50]
    assert geometry.nearest_center(X, centers).tolist() == labels.tolist()
