"""Explore's 'find more like these' and Train's learning curves by label source, through streamlit's AppTest
on the bundled sample (PCA map, no UMAP). A lasso is simulated by writing the chart's selection state."""

from __future__ import annotations

import pytest
from _helpers import APP
from streamlit.testing.v1 import AppTest
from test_app import label_selection, run, select_rows  # the same simulated lasso as the app tests

from alviz.datasets import load_sample


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("ALVIZ_UMAP", "0")
    monkeypatch.setenv("ALVIZ_RETRAIN_EVERY", "0")
    monkeypatch.setenv("ALVIZ_DB", str(tmp_path / "labels.db"))
    monkeypatch.setenv("ALVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALVIZ_DATA", "sample")
    monkeypatch.setenv("ALVIZ_ANNOTATOR", "tester")
    return run(AppTest.from_file(APP, default_timeout=60))


def test_find_more_like_these_rings_unlabeled_neighbours_by_exact_search_on_a_small_pool(app):
    select_rows(app, [0, 1, 2])
    at = app.button(key="find_similar").click().run()
    # AppTest reruns the whole script, where the button's st.rerun(scope="fragment") is refused: that one error
    # only (its text is redacted by client.showErrorDetails)
    assert len(at.exception) <= 1
    similar = app.session_state["similar"]
    assert len(similar) == 50 and not set(similar.tolist()) & {0, 1, 2}
    assert app.session_state["similar_how"] == "exact"


def test_train_page_draws_learning_curves_by_label_source_after_a_round(app):
    pool = load_sample()
    y, names = pool.y_true, pool.class_names
    for c in (1, 8):
        select_rows(app, [int(r) for r in (y == c).nonzero()[0][:15]])
        label_selection(app, names[c])
    app.switch_page("views/train.py")
    run(app)
    run(app.button(key="retrain").click())
    assert "source_curves" in {c.key for c in app.get("plotly_chart")}
    assert any("Learning curves by label source" in str(m.value) for m in app.markdown)
