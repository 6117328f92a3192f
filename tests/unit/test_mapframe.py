"""The map's wire format: coordinates go once, a label sends only the rows it changed, selections decode."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from alviz.figures import class_color
from alviz.mapframe import (
    MAP_UNLABELED,
    MapFeed,
    Ring,
    class_coloring,
    decode_frame,
    decode_selection,
    encode_frame,
    value_coloring,
)

N = 1000
Z = np.random.default_rng(0).normal(size=(N, 2)).astype(np.float32)
NAMES = ["cat", "dog"]


def unlabeled() -> np.ndarray:
    return np.full(N, -1)


def test_a_frame_round_trips_its_header_and_aligned_arrays():
    arrays = {"a": np.arange(5, dtype=np.uint8), "b": np.linspace(0, 1, 3, dtype=np.float32)}
    data = encode_frame({"hello": "wörld"}, arrays)
    header, back = decode_frame(data)
    assert header["hello"] == "wörld"
    assert back["a"].tolist() == [0, 1, 2, 3, 4] and back["b"].tolist() == pytest.approx([0, 0.5, 1])
    start = 8 + int.from_bytes(data[4:8], "little")
    assert all((start + (-start) % 4 + t["offset"]) % 4 == 0 for t in header["arrays"])


def test_the_first_frame_carries_coordinates_and_every_code():
    feed = MapFeed()
    header, arrays = decode_frame(feed.frame("pca", Z, class_coloring(unlabeled(), NAMES)))
    assert np.array_equal(arrays["x"], Z[:, 0]) and np.array_equal(arrays["y"], Z[:, 1])
    assert len(arrays["codes"]) == N and header["codes_ver"] == 1


def test_a_label_action_sends_only_the_changed_rows_and_no_coordinates():
    feed = MapFeed()
    y = unlabeled()
    feed.frame("pca", Z, class_coloring(y, NAMES))
    y[[3, 7, 9]] = 1
    header, arrays = decode_frame(feed.frame("pca", Z, class_coloring(y, NAMES)))
    assert "x" not in arrays and "codes" not in arrays
    assert arrays["delta_rows"].tolist() == [3, 7, 9]
    assert header["palette"][arrays["delta_codes"][0]] == class_color(1)
    assert (header["codes_base"], header["codes_ver"]) == (1, 2)


def test_an_unchanged_rerun_sends_a_small_frame_with_the_same_sequence_number():
    feed = MapFeed()
    first, _ = decode_frame(feed.frame("pca", Z, class_coloring(unlabeled(), NAMES)))
    data = feed.frame("pca", Z, class_coloring(unlabeled(), NAMES))
    again, arrays = decode_frame(data)
    assert again["seq"] == first["seq"] and not arrays and len(data) < 10_000


def test_a_resync_makes_the_next_frame_whole_again():
    feed = MapFeed()
    feed.frame("pca", Z, class_coloring(unlabeled(), NAMES))
    feed.reset()
    _, arrays = decode_frame(feed.frame("pca", Z, class_coloring(unlabeled(), NAMES)))
    assert {"x", "y", "codes"} <= set(arrays)


def test_a_new_layout_sends_new_coordinates():
    feed = MapFeed()
    feed.frame("pca", Z, class_coloring(unlabeled(), NAMES))
    _, arrays = decode_frame(feed.frame("umap", Z * 2, class_coloring(unlabeled(), NAMES)))
    assert np.array_equal(arrays["x"], Z[:, 0] * 2)


def test_recoloring_most_points_sends_the_codes_whole():
    feed = MapFeed()
    feed.frame("pca", Z, class_coloring(unlabeled(), NAMES))
    _, arrays = decode_frame(feed.frame("pca", Z, value_coloring(np.linspace(0, 1, N), "entropy")))
    assert len(arrays["codes"]) == N and "delta_rows" not in arrays


def test_rings_and_a_cleared_selection_reach_the_browser():
    feed = MapFeed()
    feed.clear_selection()
    header, arrays = decode_frame(
        feed.frame("pca", Z, class_coloring(unlabeled(), NAMES), [Ring("last query", "#111111", np.array([4, 2]))])
    )
    assert arrays["ring0"].tolist() == [4, 2] and header["rings"][0]["name"] == "last query"
    assert header["clear_selection"] == 1
    assert {"label": "last query", "color": "#111111", "ring": True} in header["legend"]


def test_item_ids_travel_with_the_coordinates():
    ids = np.array([f"img-{i}.png" for i in range(N)])
    _, arrays = decode_frame(MapFeed().frame("pca", Z, class_coloring(unlabeled(), NAMES), ids=ids))
    assert bytes(arrays["ids"]).decode().split("\n")[:2] == ["img-0.png", "img-1.png"]


def test_class_codes_color_labels_pseudo_labels_and_unlabeled_items_apart():
    classes = np.array([0, -1, -1, 1])
    col = class_coloring(classes, NAMES, pseudo=(np.array([1, 3]), np.array([0, 0])))
    colors = [col.palette[c] for c in col.codes]
    assert colors[0] == class_color(0) and colors[3] == class_color(1)  # a human label beats a pseudo-label
    assert colors[2] == MAP_UNLABELED
    assert colors[1] not in (class_color(0), MAP_UNLABELED)  # a pale tint: pseudo, not human
    assert [e["label"] for e in col.legend] == ["cat (1)", "dog (1)", "pseudo-labeled, pale (1)", "unlabeled (1)"]


def test_value_codes_span_the_scale_and_missing_values_are_grey():
    col = value_coloring(np.array([0.0, 0.5, 1.0, np.nan]), "margin")
    assert col.codes[0] == 0 and col.codes[2] == 253 and 120 < col.codes[1] < 133
    assert col.palette[col.codes[3]] == MAP_UNLABELED
    assert col.colorbar["min"] == "0" and col.colorbar["max"] == "1"


def test_a_selection_comes_back_as_ids_or_as_a_bitmask():
    ids = np.array([2, 7, 999], np.uint32)
    payload = {"n": N, "enc": "ids", "b64": base64.b64encode(ids.tobytes()).decode()}
    assert decode_selection(payload, N).tolist() == [2, 7, 999]
    mask = np.zeros(N, bool)
    mask[[0, 8, 999]] = True
    bits = np.packbits(mask, bitorder="little")
    payload = {"n": N, "enc": "bits", "b64": base64.b64encode(bits.tobytes()).decode()}
    assert decode_selection(payload, N).tolist() == [0, 8, 999]


def test_a_selection_from_another_pool_or_an_empty_one_is_handled():
    assert decode_selection({"n": N + 1, "enc": "ids", "b64": ""}, N) is None
    assert decode_selection(None, N) is None
    assert decode_selection({"n": N, "enc": "ids", "b64": ""}, N).tolist() == []
