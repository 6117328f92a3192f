"""Embed an image pool on a Ray cluster (or a Ray started on this machine), into the same cache entry as locally.

The embedder is fitted once on the driver (pixels_pca's PCA on at most 20k seeded images, the autoencoder's or
SimSiam's training on at most 100k, nothing for a pretrained network) and becomes a *reader*: a picklable function
of an image batch (see ``alviz.embed.read_pool``, which the local path runs). The pool's images become a Ray
dataset of blocks (row number + image), an actor pool runs the reader over them with Ray Data's ``map_batches``
(one reader, so one model, per actor; a GPU per actor when the cluster has GPUs), and the rows come back to the
driver, put in pool order by their row number. Only a complete result is written, under the key
``alviz.embed.embed`` uses (``cache.save`` writes a temporary file and renames it), so the app and every later step
cannot tell which engine made it, and a failed or cancelled job leaves nothing behind.

Faults: Ray Data restarts an actor whose process dies and resubmits its batch (its actor pools default to
``max_restarts=-1`` and ``max_task_retries=-1``; Ray 2.60 warns that passing them is deprecated). A process that dies on
every batch (out of memory on each) is therefore retried until stopped (Ctrl-C); an exception raised by the
reader fails the job at once with that error.

Ray is the optional extra ``[ray]``; nothing else in alviz imports it.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from alviz.embed import Embedding, Progress, Reader, broken_extra, plan
from alviz.pool import Pool

BLOCK_BYTES = 32 << 20  # images per dataset block: about this many bytes (784 B Fashion-MNIST images: 8,192 rows)
MAX_BLOCK_ROWS = 8192


def _ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ValueError(
            f"The Ray engine needs the optional extra [ray] ({exc}); add it with `pip install -e '.[ray]'`."
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to the Ray cluster at ``address`` (``host:6379``, ``ray://host:10001`` or ``auto``), or start a
    local Ray with ``num_cpus`` (default: this machine's cores), its session files in a temporary folder under
    /tmp and no dashboard; disconnect (and stop a local one) at the end. A Ray this process already joined (a
    test's, the app's) is used as it is and left running."""
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-operator progress lines flood a terminal
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    temp = None
    if address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ValueError(f"Could not reach the Ray cluster at {address!r}: {' '.join(str(exc).split())}") from None
    else:
        temp = tempfile.mkdtemp(prefix="alviz-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        # "local": a new Ray here, even where RAY_ADDRESS names a cluster
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), _temp_dir=temp, **quiet)
    try:
        yield
    finally:
        ray.shutdown()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


class _Worker:
    """One actor of the pool: holds one reader (so one model, built on its first batch) and reads batches."""

    def __init__(self, read: Reader) -> None:
        self.read = read

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "X": np.asarray(self.read(batch["image"]), dtype=np.float32)}


def _dataset(parts: list[np.ndarray], workers: int):
    """The images of all parts (same image shape) as one Ray dataset of (row, image) blocks, row numbers running on
    from part to part; at least two blocks per worker, at most BLOCK_BYTES each. Blocks go to the object store one
    at a time, so the driver never holds a second copy of the pool."""
    import pyarrow as pa
    from ray.data.extensions import ArrowTensorArray

    ray = _ray()
    n = sum(map(len, parts))
    rows = int(max(64, min(MAX_BLOCK_ROWS, BLOCK_BYTES // max(1, parts[0][0].nbytes), -(-n // (2 * workers)))))
    refs, offset = [], 0
    for images in parts:
        for start in range(0, len(images), rows):
            block = np.ascontiguousarray(images[start : start + rows])
            row = np.arange(offset + start, offset + start + len(block))
            refs.append(ray.put(pa.table({"row": row, "image": ArrowTensorArray.from_numpy(block)})))
        offset += len(images)
    return ray.data.from_arrow_refs(refs), rows


def cluster_workers() -> tuple[int, int]:
    """(CPUs, GPUs) of the Ray cluster this process is connected to."""
    res = _ray().cluster_resources()
    return int(res.get("CPU", 0)), int(res.get("GPU", 0))


def run_reader(
    read: Reader,
    parts: list[np.ndarray],
    workers: int | None = None,
    batch_size: int = 1024,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """``read`` over the images of ``parts`` on the connected Ray cluster: one (N_part, d) float32 array per part,
    row i for image i.

    ``workers`` actors (default: one per GPU when the cluster has GPUs, else one per CPU), each asking for a GPU
    (or its share of one) or one CPU. ``progress(fraction, message)`` hears the rows done out of N as they arrive;
    it may raise (a cancel button, Ctrl-C) to stop the job, which then stops Ray's work and returns nothing."""
    ray = _ray()
    cpus, gpus = cluster_workers()
    workers = int(workers or gpus or max(1, cpus))
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}.")
    n = sum(map(len, parts))
    ds, block_rows = _dataset(parts, workers)
    out = ds.map_batches(
        _Worker,
        fn_constructor_args=(read,),
        batch_size=int(min(batch_size, block_rows)),
        batch_format="numpy",
        zero_copy_batch=False,  # torch wants writable arrays
        compute=ray.data.ActorPoolStrategy(size=workers),  # its actors restart, and retry their batch, when killed
        num_gpus=min(1.0, gpus / workers) if gpus else None,  # more workers than GPUs share them
        num_cpus=None if gpus else 1,
    )
    X, seen, done = None, np.zeros(n, dtype=bool), 0
    where = f"{workers} Ray worker{'s' if workers > 1 else ''}" + (" (GPU)" if gpus else "")
    for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
        rows = batch["row"]
        if X is None:
            X = np.empty((n, batch["X"].shape[1]), dtype=np.float32)
        X[rows] = batch["X"]
        seen[rows] = True
        done += len(rows)
        if progress:
            progress(done / n, f"embedding {done:,}/{n:,} images on {where}")
    if X is None or not seen.all() or done != n:  # a lost or repeated block must never pass as a whole embedding
        raise RuntimeError(f"the Ray job returned {done:,} rows covering {int(seen.sum()):,} of {n:,} images.")
    bounds = np.cumsum([len(images) for images in parts])[:-1]
    return np.split(X, bounds)


def embed_ray(
    pool: Pool,
    method: str = "pixels_pca",
    params: dict | None = None,
    cache_dir: Path | None = None,
    address: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Embedding:
    """``alviz.embed.embed`` with the reading fanned out over Ray: the same cache entry, the same rows (within
    float tolerance), in the same order. From the cache when it holds the entry (no Ray started then).

    ``address``: a Ray cluster to connect to; None starts a local Ray with this machine's cores. Training (for
    learned embedders) runs here, on the driver, once; its network is saved as locally and reused by both engines.
    """
    p = plan(pool, method, params, cache_dir)
    if p.info.needs != "images":
        raise ValueError(f"The Ray engine embeds image pools; {method} embeds {p.info.needs}: run it without Ray.")
    hit = p.cached(pool, progress)
    if hit is not None:
        return hit
    _ray()  # a clear message before any training when the extra is missing
    module = importlib.import_module(p.info.module)
    try:
        read = module.reader(pool, **p.params, progress=progress, cache_dir=p.cache_dir)
    except ImportError as exc:
        raise broken_extra(p.info, exc) from exc
    parts = [pool.images]
    if pool.test is not None and pool.test.images is not None:
        parts.append(pool.test.images)
    with ray_session(address):
        if len({images.shape[1:] for images in parts}) == 1:  # one dataset, one actor pool
            out = run_reader(read, parts, workers, progress=progress)
        else:  # a test part of another image size: its own run (one image shape per dataset)
            out = [run_reader(read, [images], workers, progress=progress)[0] for images in parts]
    return p.save(pool, out[0], out[1] if len(out) > 1 else None)
