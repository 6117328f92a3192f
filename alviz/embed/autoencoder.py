"""Convolutional autoencoder trained on the pool: each image compressed to a ``dim``-d code.

Three stride-2 convolutions take a ``size``-pixel image to a (4w, size/8, size/8) map, a linear layer to the
code; the decoder mirrors it with transposed convolutions and a sigmoid, trained on the mean squared
reconstruction error. The code (before any nonlinearity) is the embedding. Like SimSiam it trains on this pool
only, needs no weights from anywhere, saves the trained network under ``<cache>/weights/`` and reuses it.
"""

from __future__ import annotations

import numpy as np

from alviz.pool import Pool

DEFAULTS = {"epochs": 20, "batch_size": 128, "size": 32, "width": 32, "dim": 64, "lr": 0.003, "seed": 0}
VERSION = 1  # bump when the network or the training changes


def _network(channels: int, size: int, width: int, dim: int):
    from torch import nn

    w, side = int(width), int(size) // 8

    def down(i: int, o: int) -> list:
        return [nn.Conv2d(i, o, 3, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    def up(i: int, o: int) -> list:
        return [nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    encoder = nn.Sequential(
        *down(channels, w), *down(w, 2 * w), *down(2 * w, 4 * w), nn.Flatten(), nn.Linear(4 * w * side * side, dim)
    )
    decoder = nn.Sequential(
        nn.Linear(dim, 4 * w * side * side),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (4 * w, side, side)),
        *up(4 * w, 2 * w),
        *up(2 * w, w),
        nn.ConvTranspose2d(w, channels, 4, 2, 1),
        nn.Sigmoid(),
    )
    return encoder, decoder


def weights_path(pool: Pool, params: dict | None = None, cache_dir=None):
    """Where the encoder trained on this pool with these params is (or will be) saved."""
    from alviz.embed import _torch, cache

    full = {**DEFAULTS, **(params or {})}
    cache_dir = cache_dir if cache_dir is not None else cache.default_cache_dir()
    keyed = {**full, "_version": VERSION, **_torch.sample_key(len(pool))}
    key = cache.cache_key(pool.content_hash(), "autoencoder-encoder", keyed)
    return _torch.weights_file(cache_dir, key)


def _code(encoder, x):
    return encoder(x)


def reader(
    pool: Pool,
    epochs: int = 20,
    batch_size: int = 128,
    size: int = 32,
    width: int = 32,
    dim: int = 64,
    lr: float = 0.003,
    seed: int = 0,
    progress=None,
    cache_dir=None,
    **_,
):
    """The encoder trained on this pool (or the one saved by an earlier call) as a picklable function of an image
    batch; training runs here, once, and only the weights travel to wherever the batches are read."""
    from functools import partial

    import torch
    import torch.nn.functional as F

    from alviz.embed import _torch

    if pool.images is None:
        raise ValueError(f"autoencoder needs an image pool; {pool.name!r} holds {pool.kind}.")
    if len(pool) < 4:
        raise ValueError(f"autoencoder needs at least 4 images to train on; {pool.name!r} has {len(pool)}.")
    if int(size) < 8 or int(size) % 8 or int(size) > 256:
        raise ValueError(f"size must be a multiple of 8 between 8 and 256 pixels; got {size}.")
    if int(epochs) < 1 or int(dim) < 1 or int(width) < 1 or int(batch_size) < 2 or not float(lr) > 0:
        raise ValueError(
            f"epochs, dim, width >= 1, batch_size >= 2 and lr > 0 expected; got {epochs}, {dim}, {width}, "
            f"{batch_size}, {lr}."
        )
    params = dict(epochs=epochs, batch_size=batch_size, size=size, width=width, dim=dim, lr=lr, seed=seed)
    size, epochs = int(size), int(epochs)
    dev = _torch.device()
    gen = _torch.seeded(seed)
    channels = _torch.channels_of(pool.images)
    encoder, decoder = _network(channels, size, int(width), int(dim))
    path = weights_path(pool, params, cache_dir)

    if _torch.load_weights(encoder, path):
        if progress:
            progress(0.9, f"reusing the encoder trained earlier ({path.name})")
    else:
        nets = torch.nn.ModuleList([encoder, decoder]).to(dev).train()
        sample = _torch.train_rows(len(pool), seed)
        opt, sched = _torch.one_cycle(nets.parameters(), lr, 1e-5, epochs, len(sample), batch_size)

        def step(rows: torch.Tensor) -> float:
            x = _torch.to_batch(pool.images[sample[rows.numpy()]], size, dev)
            loss = F.mse_loss(decoder(encoder(x)), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            return float(loss.detach())

        _torch.train_epochs(step, len(sample), epochs, int(batch_size), gen, progress, (0.0, 0.9))
        encoder = encoder.cpu()
        _torch.save_weights(encoder, path)

    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    build = partial(_encoder, channels, size, int(width), int(dim))
    return _torch.NetReader(build, state, _code, size, 256, channels)


def _encoder(channels: int, size: int, width: int, dim: int):
    return _network(channels, size, width, dim)[0]


def embed(
    pool: Pool, progress=None, cache_dir=None, view: str | None = None, **params
) -> tuple[np.ndarray, np.ndarray | None]:
    """The trained encoder's codes for the pool and its test part; with ``view``, for the mirrored images (the
    network trained on the originals) and no test part."""
    from alviz.embed import read_trained

    return read_trained(reader, DEFAULTS, pool, params, progress, cache_dir, view)
