"""Maps of big pools: PCA fit on a sample, UMAP fit on a sample then placed in chunks by a worker process that
ends with the server (even a killed one), graphs built there, and an ``alviz app`` that takes its server down
with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _helpers import ROOT

from alviz import cache, neighbors, projection


def clusters(n: int, d: int = 16, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centers = rng.normal(scale=8.0, size=(k, d))
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def map_purity(Z: np.ndarray, y: np.ndarray) -> float:
    """Share of each item's 10 nearest neighbours on the map that come from its own cluster."""
    d2 = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nearest = np.argsort(d2, axis=1)[:, :10]
    return float((y[nearest] == y[:, None]).mean())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status waits to be read


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


# ------------------------------------------------------------------------------------------------------ PCA


def test_pca_of_a_big_pool_fit_on_a_sample_spans_the_same_plane_as_the_exact_fit():
    X, y = clusters(3_000, d=32)
    sampled = projection.pca_2d(X, fit_rows=500)
    exact = projection.pca_2d(X, fit_rows=len(X))
    # the same plane: each sampled axis is (up to sign and a little rotation) a mix of the exact axes
    fit, *_ = np.linalg.lstsq(exact, sampled, rcond=None)
    residual = sampled - exact @ fit
    assert residual.std() < 0.05 * sampled.std()
    assert sampled.dtype == np.float32 and sampled.shape == (len(X), 2)
    assert np.array_equal(sampled, projection.pca_2d(X, fit_rows=500))  # seeded: the same map every time


# --------------------------------------------------------------------------------------- the worker's API


def test_a_map_already_in_the_cache_is_done_at_once_without_a_worker(tmp_path):
    X, _ = clusters(200)
    Z = np.random.default_rng(1).normal(size=(len(X), 2)).astype(np.float32)
    cache.save(tmp_path, projection.data_key(X, "umap", projection.UMAP_DEFAULTS), {"Z": Z})
    proj = projection.BackgroundProjector(cache_dir=tmp_path, warm=False, graphs=False)
    key = proj.request(X)
    assert proj.status(key) == "done" and proj.progress(key) == (1.0, "done")
    assert np.array_equal(proj.result(key), Z) and np.array_equal(proj.partial(key), Z)
    assert proj._executor is None  # nothing was started
    assert proj.progress("never-asked") == (0.0, "failed: never requested")


def test_graphs_of_big_pools_go_to_the_builder_and_are_read_from_where_it_stored_them(tmp_path):
    X, _ = clusters(neighbors.BRUTE_FORCE_MAX + 200, d=8, seed=3)
    calls = []

    def build_exactly(X: np.ndarray, digest: str, cache_dir: Path, seed: int) -> None:
        calls.append(digest)
        neighbors.save_graph(cache_dir, digest, neighbors.knn_graph(X, k=neighbors.GRAPH_K, method="exact"))

    neighbors.build_with(build_exactly)
    try:
        graph = neighbors.NeighborIndex(X, cache_dir=tmp_path).wait(timeout=120)
    finally:
        neighbors.build_with(None, only_if=build_exactly)
    assert calls == [neighbors.digest(X)]
    assert graph.shape == (len(X), neighbors.GRAPH_K)
    assert neighbors._builder is None  # unhooked: the next build is local again


# ------------------------------------------------------------------------------------------- processes


def test_a_killed_server_leaves_no_umap_worker_and_no_resource_tracker(tmp_path):
    parent = tmp_path / "server.py"
    parent.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r})
            from multiprocessing import resource_tracker
            from alviz.projection import BackgroundProjector

            proj = BackgroundProjector(cache_dir={str(tmp_path)!r}, warm=False, graphs=False)
            worker = proj.worker_pid(timeout=120)
            print(worker, resource_tracker._resource_tracker._pid, flush=True)
            time.sleep(600)
            """
        )
    )
    server = subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, text=True)
    try:
        worker, tracker = (int(p) for p in server.stdout.readline().split())
        assert alive(worker) and alive(tracker)
        server.send_signal(signal.SIGKILL)  # no clean-up code runs in the server
        server.wait(timeout=10)
        assert wait_until(lambda: not alive(worker), timeout=30), "the worker outlived its server"
        assert wait_until(lambda: not alive(tracker), timeout=30), "the resource tracker outlived the server"
    finally:
        if server.poll() is None:
            server.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_alviz_app_stops_the_streamlit_server_it_started(tmp_path, sig):
    port = _free_port()
    cmd = [sys.executable, "-m", "alviz.cli", "app", "--port", str(port), "--headless"]
    cmd += ["--db", str(tmp_path / "labels.db")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # its own process group, so that the clean-up below can reach a server the wrapper left behind
    app = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _healthy(port), timeout=90), "the server never answered"
        app.send_signal(sig)
        app.wait(timeout=30)
        assert wait_until(lambda: not _healthy(port), timeout=10), "the server still answers after alviz app ended"
    finally:
        try:
            os.killpg(app.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------------------------------------ UMAP (slow)


@pytest.mark.slow
def test_a_big_pool_is_mapped_from_a_sample_then_placed_in_chunks_and_its_graph_is_built_in_the_worker(tmp_path):
    X, y = clusters(6_000, seed=2)
    proj = projection.BackgroundProjector(cache_dir=tmp_path, warm=False)
    try:
        key = proj.request(X, {"sample": 1_000, "exact_max": 2_000, "chunk": 2_000})
        seen = []
        while proj.status(key) == "running":
            seen.append(proj.progress(key)[0])
            time.sleep(0.5)
        assert proj.status(key) == "done", proj.status(key)
        Z = proj.result(key)
        assert Z.shape == (len(X), 2) and Z.dtype == np.float32 and np.isfinite(Z).all()
        assert seen == sorted(seen) and proj.progress(key) == (1.0, "done")
        rows = np.random.default_rng(0).choice(len(X), 1_500, replace=False)
        assert map_purity(Z[rows], y[rows]) > 0.9  # the clusters stay apart on the map

        proj.build_graph(X, neighbors.digest(X), tmp_path)  # in the worker, which still holds the pool
        graph = neighbors.NeighborIndex(X, cache_dir=tmp_path)._build()
        assert graph.shape == (len(X), neighbors.GRAPH_K)
        assert (y[graph[:, :5]] == y[:, None]).mean() > 0.95
    finally:
        proj.shutdown()
