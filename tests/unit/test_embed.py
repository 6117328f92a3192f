"""Embedders: float32 rows per item, the test part too, and a disk cache that never crashes on a bad file."""

from __future__ import annotations

import time

import numpy as np
import pytest

from alviz.embed import available_for, cache, embed
from alviz.pool import Pool
from alviz.projection import pca_2d


@pytest.fixture
def image_pool() -> Pool:
    rng = np.random.default_rng(0)
    test = Pool(name="tiny-test", ids=[f"t{i}" for i in range(5)], images=rng.integers(0, 256, (5, 4, 4), np.uint8))
    return Pool(
        name="tiny",
        ids=[f"i{i}" for i in range(20)],
        images=rng.integers(0, 256, (20, 4, 4), dtype=np.uint8),
        test=test,
    )


def only_cache_file(cache_dir):
    (path,) = cache_dir.glob("*.npz")
    return path


def test_pixels_pca_gives_float32_rows_capped_by_pixels(image_pool):
    emb = embed(image_pool, "pixels_pca")
    assert emb.X.shape == (20, 16) and emb.X.dtype == np.float32  # 50 components asked, 4x4 pixels available


def test_pixels_pca_honours_n_components(image_pool):
    assert embed(image_pool, "pixels_pca", {"n_components": 3}).X.shape == (20, 3)


def test_pixels_pca_transforms_the_test_part_with_the_pool_fit(image_pool):
    emb = embed(image_pool, "pixels_pca")
    assert emb.X_test.shape == (5, 16) and emb.X_test.dtype == np.float32


def test_second_call_is_served_from_the_cache(image_pool):
    first = embed(image_pool, "pixels_pca")
    second = embed(image_pool, "pixels_pca")
    assert (first.from_cache, second.from_cache) == (False, True)
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.X_test, second.X_test)


def test_the_cache_lives_under_alviz_cache(image_pool, _private_cache):
    embed(image_pool, "pixels_pca")
    assert len(list(_private_cache.glob("pixels_pca-*.npz"))) == 1


def test_other_params_are_not_served_from_the_cache(image_pool):
    embed(image_pool, "pixels_pca", {"n_components": 3})
    assert not embed(image_pool, "pixels_pca", {"n_components": 4}).from_cache


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_a_truncated_cache_file_is_recomputed(image_pool, _private_cache, cut):
    first = embed(image_pool, "pixels_pca")
    path = only_cache_file(_private_cache)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    again = embed(image_pool, "pixels_pca")
    assert not again.from_cache and np.array_equal(again.X, first.X)


def test_a_cache_file_with_flipped_bytes_is_recomputed(image_pool, _private_cache):
    first = embed(image_pool, "pixels_pca")
    path = only_cache_file(_private_cache)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored X: its CRC no longer matches
    path.write_bytes(bytes(data))
    again = embed(image_pool, "pixels_pca")
    assert not again.from_cache and np.array_equal(again.X, first.X)


def test_a_cache_file_of_garbage_is_recomputed(image_pool, _private_cache):
    embed(image_pool, "pixels_pca")
    only_cache_file(_private_cache).write_bytes(b"garbage" * 50)
    assert not embed(image_pool, "pixels_pca").from_cache


def test_a_cache_file_from_another_cache_version_is_ignored(image_pool, _private_cache):
    embed(image_pool, "pixels_pca")
    path = only_cache_file(_private_cache)
    np.savez(path, cache_version=np.int64(cache.CACHE_VERSION + 1), X=np.zeros((20, 16), np.float32))
    again = embed(image_pool, "pixels_pca")
    assert not again.from_cache and again.X.any()


def test_a_cache_file_for_another_pool_size_is_ignored(image_pool, _private_cache):
    embed(image_pool, "pixels_pca")
    path = only_cache_file(_private_cache)
    np.savez(path, cache_version=np.int64(cache.CACHE_VERSION), X=np.zeros((3, 16), np.float32))
    assert embed(image_pool, "pixels_pca").X.shape == (20, 16)


def test_a_recomputed_cache_file_is_rewritten_good(image_pool, _private_cache):
    embed(image_pool, "pixels_pca")
    only_cache_file(_private_cache).write_bytes(b"garbage")
    embed(image_pool, "pixels_pca")
    assert embed(image_pool, "pixels_pca").from_cache


def test_cache_writes_leave_no_temporary_files(image_pool, _private_cache):
    embed(image_pool, "pixels_pca")
    assert [p.name for p in _private_cache.iterdir() if "tmp" in p.name] == []


def test_unknown_embedder_is_refused_with_the_choices(image_pool):
    with pytest.raises(ValueError, match=r"Unknown embedder 'clip'.*pixels_pca"):
        embed(image_pool, "clip")


def test_unknown_parameter_is_refused_with_the_accepted_ones(image_pool):
    with pytest.raises(ValueError, match=r"takes parameters \['n_components', 'seed'\]; got unknown \['dims'\]"):
        embed(image_pool, "pixels_pca", {"dims": 8})


def test_pixels_pca_on_a_vector_pool_is_refused(vector_pool):
    with pytest.raises(ValueError, match="needs an image pool"):
        embed(vector_pool, "pixels_pca")


def test_precomputed_returns_the_pool_vectors(pool_with_test):
    emb = embed(pool_with_test, "precomputed")
    assert emb.X is pool_with_test.vectors and emb.X_test is pool_with_test.test.vectors


def test_available_embedders_fit_the_pool_kind(image_pool, vector_pool):
    # pixels_pca first (the fast default); the learned image embedders are covered in tests/unit/test_embedders.py
    assert (available_for(image_pool)[0], available_for(vector_pool)) == ("pixels_pca", ["precomputed"])


def test_progress_is_reported_up_to_done(image_pool):
    seen = []
    embed(image_pool, "pixels_pca", progress=lambda f, msg: seen.append(f))
    assert seen[-1] == 1.0


# ------------------------------------------------------------------------------------------- projection


def test_pca_map_is_two_float32_columns(vector_pool):
    Z = pca_2d(vector_pool.vectors)
    assert Z.shape == (len(vector_pool), 2) and Z.dtype == np.float32


def test_pca_map_needs_three_items():
    with pytest.raises(ValueError, match="at least 3 items"):
        pca_2d(np.zeros((2, 5), dtype=np.float32))


@pytest.mark.slow
def test_umap_map_of_200_points_is_two_float32_columns():
    from alviz.projection import umap_2d

    X = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    start = time.perf_counter()
    Z = umap_2d(X)
    assert Z.shape == (200, 2) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert time.perf_counter() - start < 60
