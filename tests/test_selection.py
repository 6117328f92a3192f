"""A Plotly selection event, in every shape Streamlit hands it over, becomes sorted unique pool rows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from alviz.selection import rows_from_selection


def event(*points: dict) -> dict:
    return {"selection": {"points": list(points)}}


def test_scalar_customdata_is_the_row():
    assert rows_from_selection(event({"point_index": 0, "customdata": 7})).tolist() == [7]


def test_one_element_list_customdata_is_the_row():
    assert rows_from_selection(event({"point_index": 0, "customdata": [7]})).tolist() == [7]


def test_plotly7_dict_customdata_is_the_row():
    assert rows_from_selection(event({"point_index": 0, "customdata": {"0": 7}})).tolist() == [7]


def test_whole_float_ids_become_ints():
    assert rows_from_selection(event({"customdata": 3.0}, {"customdata": {"0": 4.0}})).tolist() == [3, 4]


def test_fractional_ids_are_dropped():
    assert rows_from_selection(event({"customdata": 3.5}, {"customdata": 2})).tolist() == [2]


def test_customdata_wins_over_point_index():
    """point_index counts within a trace and collides across traces; customdata is the global row."""
    assert rows_from_selection(event({"point_index": 1, "customdata": 9})).tolist() == [9]


def test_missing_customdata_falls_back_to_point_index():
    assert rows_from_selection(event({"point_index": 5, "x": 0.1, "y": 0.2})).tolist() == [5]


def test_null_customdata_falls_back_to_point_index():
    assert rows_from_selection(event({"point_index": 5, "customdata": None})).tolist() == [5]


def test_row_zero_is_kept():
    assert rows_from_selection(event({"customdata": 0, "point_index": 3})).tolist() == [0]


@pytest.mark.parametrize("ev", [None, {}, {"selection": None}, {"selection": {}}, event()])
def test_no_selection_gives_no_rows(ev):
    assert len(rows_from_selection(ev)) == 0


def test_attribute_style_event_reads_like_a_dict():
    points = [SimpleNamespace(customdata=4, point_index=0), SimpleNamespace(customdata=None, point_index=2)]
    ev = SimpleNamespace(selection=SimpleNamespace(points=points))
    assert rows_from_selection(ev).tolist() == [2, 4]


def test_rows_outside_the_pool_are_dropped():
    ev = event({"customdata": -1}, {"customdata": 2}, {"customdata": 10}, {"customdata": 11})
    assert rows_from_selection(ev, n_rows=10).tolist() == [2]


def test_unparseable_points_are_dropped():
    ev = event({"customdata": "not a row"}, {"x": 1.0}, {"customdata": 6})
    assert rows_from_selection(ev).tolist() == [6]


def test_result_is_sorted_unique_int64():
    ev = event({"customdata": 8}, {"customdata": [3]}, {"customdata": {"0": 8}}, {"customdata": 3.0})
    rows = rows_from_selection(ev)
    assert rows.dtype == np.int64 and rows.tolist() == [3, 8]


def test_empty_result_is_int64_too():
    assert rows_from_selection(None).dtype == np.int64
