"""The Data page on a Ray cluster (AppTest): with ALVIZ_RAY_ADDRESS set, the page offers Ray, and the embedding it
makes there is the one the app uses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the Ray engine needs the optional extra: pip install -e '.[ray]'")

from alviz import datasets  # noqa: E402


def test_the_data_page_embeds_on_ray_when_a_cluster_is_named(local_ray, tmp_path, monkeypatch):
    """With ALVIZ_RAY_ADDRESS set, the Data page offers Ray; the embedding it makes there is the one the app uses."""
    from streamlit.testing.v1 import AppTest
    from test_app import APP, TIMEOUT, go_to, run

    from alviz.embed import ray_engine

    s = datasets.load_sample()
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(48):
        Image.fromarray(s.images[i]).save(folder / f"img{i:03d}.png")
    ids = sorted(f"img{i:03d}.png" for i in range(48))
    np.savez(folder / "embeddings.npz", X=np.random.default_rng(0).normal(size=(48, 4)), ids=np.array(ids))
    for name, value in {"ALVIZ_DATA": str(folder), "ALVIZ_CACHE": str(tmp_path / "cache"), "ALVIZ_UMAP": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALVIZ_DB", str(tmp_path / "labels.db"))
    monkeypatch.setenv("ALVIZ_RAY_ADDRESS", "auto")  # this process's Ray (the fixture's) is used as it is
    ray_jobs = []
    real_run = ray_engine.run_reader
    monkeypatch.setattr(ray_engine, "run_reader", lambda *a, **kw: ray_jobs.append(1) or real_run(*a, **kw))
    at = go_to(run(AppTest.from_file(APP, default_timeout=TIMEOUT)), "data")
    assert any("Embedder: precomputed" in c.value for c in at.caption)
    run(at.selectbox(key="embedder").set_value("pixels_pca"))
    run(at.checkbox(key="embed_on_ray").check())
    run(at.button(key="embed").click())
    assert any("Embedder: pixels_pca" in c.value for c in at.caption), [c.value for c in at.caption]
    assert ray_jobs == [1] and [p.name for p in (tmp_path / "cache").glob("pixels_pca-*.npz")]
