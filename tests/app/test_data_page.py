"""The Data page says what it did (issue 13 §5): refusals and notes of the loaders, shown as one line each."""

from __future__ import annotations

import numpy as np
import pytest
import test_app as base
from streamlit.testing.v1 import AppTest
from test_app import APP, TABLE, TIMEOUT, _load_path, go_to, plain, run

app, db = base.app, base.db  # the app's fixtures: a fresh store and cache, the sample loaded

FOLDER = "Image folder on this machine"


def _csv(path, rows: int, with_id: bool = True):
    head = ("id," if with_id else "") + "e0,e1,e2,word"
    lines = [(f"r{i}," if with_id else "") + f"{i * 0.1},{i * 0.2},{i * 0.3},w{i}" for i in range(rows)]
    path.write_text(head + "\n" + "\n".join(lines) + "\n")
    return path


def test_a_two_row_table_is_refused_on_the_data_page(app, tmp_path):
    go_to(app, "data")
    _load_path(app, TABLE, "CSV or Parquet path", str(_csv(tmp_path / "two.csv", 2)))
    assert "two.csv has 2 rows; alviz needs at least 3 items" in plain(app.error)
    assert "Current pool: sample" in [s.value for s in app.subheader]


def test_explore_shows_one_line_when_the_pool_is_too_small_to_map(db, tmp_path, monkeypatch):
    npz = tmp_path / "two.npz"
    np.savez(npz, X=np.eye(2, 4), y=np.array([0, 1]))
    monkeypatch.setenv("ALVIZ_DATA", str(npz))
    at = run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    go_to(at, "explore")
    assert "at least 3" in plain(at.error)


def test_a_table_under_image_folder_and_a_folder_under_table_are_named(app, tmp_path):
    csv = _csv(tmp_path / "emb.csv", 5)
    go_to(app, "data")
    run(app.radio(key="data_kind").set_value(FOLDER))
    (box,) = [t for t in app.text_input if t.label == "Folder path"]
    run(box.input(str(csv)))
    assert "'emb.csv' is a file, not a folder of images" in plain(app.error)
    assert not [b for b in app.button if b.key == "load"]

    run(app.radio(key="data_kind").set_value(TABLE))
    (box,) = [t for t in app.text_input if t.label == "CSV or Parquet path"]
    run(box.input(str(tmp_path)))
    assert "is a folder, not a CSV or Parquet table" in plain(app.error)
    assert not [b for b in app.button if b.key == "load"]


@pytest.mark.parametrize("with_id", [True, False])
def test_the_data_page_lists_used_and_ignored_columns_and_row_keyed_labels(app, tmp_path, with_id):
    go_to(app, "data")
    _load_path(app, TABLE, "CSV or Parquet path", str(_csv(tmp_path / "emb.csv", 5, with_id)))
    assert not app.error, plain(app.error)
    info = plain(app.info)
    assert "Embedding: 3 numeric columns (e0, e1, e2)" in info
    assert "Ignored column 'word': text, not numbers." in info
    assert ("No id column: labels are keyed by row number (0 to 4)" in info) is not with_id
