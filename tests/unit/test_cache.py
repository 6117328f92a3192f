"""alviz's one disk cache: entries round-trip, a bad or stale file reads as absent, keys digest their parts."""

from __future__ import annotations

import numpy as np

from alviz import cache


def test_an_entry_round_trips_and_leaves_no_temporary_file(tmp_path):
    cache.save(tmp_path / "c", "k", {"X": np.arange(6, dtype=np.float32).reshape(2, 3), "names": np.array(["a"])})
    got = cache.load(tmp_path / "c", "k")
    np.testing.assert_array_equal(got["X"], np.arange(6).reshape(2, 3))
    assert got["names"].tolist() == ["a"] and set(got) == {"X", "names"}
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["k.npz"]


def test_a_missing_garbage_or_other_version_entry_reads_as_absent(tmp_path):
    assert cache.load(tmp_path, "absent") is None
    cache.entry_path(tmp_path, "garbage").write_bytes(b"not a zip" * 10)
    assert cache.load(tmp_path, "garbage") is None
    np.savez(cache.entry_path(tmp_path, "old"), cache_version=np.int64(cache.CACHE_VERSION - 1), X=np.zeros(2))
    assert cache.load(tmp_path, "old") is None


def test_a_key_digests_its_parts_in_order_without_joining_them():
    key = cache.make_key("folder", iter(["a", "bc"]), length=24)
    assert key == cache.make_key("folder", "abc", length=24) and len(key) == len("folder-") + 24
    assert cache.make_key("folder", ["bc", "a"]) != cache.make_key("folder", ["a", "bc"])


def test_the_cache_folder_comes_from_alviz_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVIZ_CACHE", str(tmp_path / "here"))
    assert cache.default_cache_dir() == tmp_path / "here"
