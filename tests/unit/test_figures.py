"""Figures: learning curves, the confusion matrix; montages tile."""

from __future__ import annotations

import numpy as np
import pytest

from alviz.figures import confusion_figure, coverage_figure, learning_curve_figure, stability_figure
from alviz.gallery import montage


def test_learning_curve_has_one_line_per_curve():
    fig = learning_curve_figure({"entropy": ([10, 20], [0.5, 0.7]), "random": ([10, 20], [0.4, 0.6])})
    assert [t.name for t in fig.data] == ["entropy", "random"] and fig.data[1].line.dash == "dash"


def test_confusion_figure_is_row_normalized_and_drops_classes_without_test_items():
    cm = np.array([[3, 1, 0], [0, 0, 0], [0, 2, 2]])
    heat = confusion_figure(cm, ["a", "b", "c"]).data[0]
    assert list(heat.y) == ["a", "c"] and np.asarray(heat.z).tolist() == [[0.75, 0.25, 0.0], [0.0, 0.5, 0.5]]


def test_stability_figure_plots_the_share_that_changed_from_round_two_with_the_stop_line():
    fig = stability_figure([0.9, 0.995, 1.0])
    (line,) = fig.data
    assert list(line.x) == [2, 3, 4] and np.allclose(line.y, [0.1, 0.005, 0.0])
    (stop,) = fig.layout.shapes
    assert stop.y0 == stop.y1 == pytest.approx(0.01) and fig.layout.annotations[0].text == "stop line (1%)"


def test_coverage_figure_plots_coverage_against_labels():
    (line,) = coverage_figure([10, 20], [0.3, 0.5]).data
    assert list(line.x) == [10, 20] and list(line.y) == [0.3, 0.5]


# ------------------------------------------------------------------------------------------------ montage


def test_montage_tiles_gray_images_into_an_rgb_grid():
    images = np.zeros((5, 3, 4), dtype=np.uint8)
    out = montage(images, columns=2, scale=2, pad=1)
    # 3 rows x 2 columns of 6x8 tiles, 1 px of padding around each
    assert out.shape == (3 * (6 + 1) + 1, 2 * (8 + 1) + 1, 3) and out.dtype == np.uint8


def test_montage_places_each_upscaled_image_in_reading_order():
    images = np.arange(1, 4, dtype=np.uint8)[:, None, None, None] * np.ones((3, 2, 2, 3), dtype=np.uint8)
    out = montage(images, columns=2, scale=3, pad=1)
    assert (out[1:7, 1:7] == 1).all() and (out[1:7, 8:14] == 2).all() and (out[8:14, 1:7] == 3).all()


def test_montage_uses_fewer_columns_than_asked_when_there_are_fewer_images():
    assert montage(np.zeros((2, 4, 4), dtype=np.uint8), columns=12, scale=1, pad=0).shape == (4, 8, 3)


def test_montage_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one image"):
        montage(np.zeros((0, 4, 4), dtype=np.uint8))


def test_a_learning_curve_of_one_round_ticks_each_count_once():
    one = learning_curve_figure({"this session": ([40], [0.6]), "random": ([40], [0.59])})
    assert one.layout.xaxis.dtick == 1 and one.layout.xaxis.tickformat == ",d"
    many = learning_curve_figure({"this session": ([20, 40, 60], [0.5, 0.6, 0.7])})
    assert many.layout.xaxis.dtick is None  # Plotly's own steps over a long curve
