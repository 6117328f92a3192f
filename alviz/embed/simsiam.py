"""SimSiam: self-supervised pretraining on the pool itself, no labels and no downloaded weights.

Chen & He, "Exploring Simple Siamese Representation Learning" (CVPR 2021): two augmented views of each image
go through one backbone and a projector; a small predictor head maps one view's projection onto the other's,
and the target side is detached (stop-gradient), which is what keeps the representation from collapsing.
The loss is the symmetric negative cosine similarity, so it runs from 0 down to -1.

The backbone is a small CIFAR-style ResNet built from torchvision's ``BasicBlock`` (see ``_torch.small_resnet``),
trained on ``size``-pixel images. Augmentations are made in batches on the device: random resized crops with
horizontal flips (one affine warp per image), brightness/contrast jitter. The embedding is the backbone's
multi-scale readout (its last two stages pooled to 2x2 grids: 48 x ``width`` dims, then power-normalized by
``_torch.power_normalize``), which a short training improves most. The trained backbone is saved under
``<cache>/weights/`` and reused when the same pool and params are asked again.

Defaults are sized for a CPU: a width-32 network on 32 px images, trained for ``epochs="auto"``: enough epochs for
about TARGET_STEPS optimizer steps, within MIN_EPOCHS..MAX_EPOCHS. A small pool gets more epochs because a short
training, not the pool, was what held it back. Fashion-MNIST 2k, 2 cores, raw readout: 15 epochs (470 steps,
3 min) gave a linear probe of 0.834 and active-learning AUCs (margin / random) of 0.729 / 0.705, below
pixels->PCA's 0.727 / 0.713; 40 epochs (1,280 steps, 8 min) gave 0.839 and 0.747 / 0.728, and 0.849 and
0.751 / 0.733 power-normalized. From about 5,300 items on, 15 epochs already make that many steps (10k: 2,340
steps, about 15 min idle (1 min an epoch), 27 min on a busy machine; power-normalized 0.883 and 0.745 / 0.718
against pixels->PCA's 0.831 and 0.733 / 0.693). On a GPU the same takes seconds.
"""

from __future__ import annotations

import math

import numpy as np

from alviz.pool import Pool

DEFAULTS = {
    "epochs": "auto",
    "batch_size": 64,
    "size": 32,
    "width": 32,
    "lr": 0.002,
    "min_scale": 0.5,
    "seed": 0,
}
MIN_EPOCHS, MAX_EPOCHS = 15, 40
TARGET_STEPS = 1250  # optimizer steps that "auto" aims for (see the module doc)
VERSION = 2  # bump when the embedding changes (2: power-normalized readout), so cached embeddings are recomputed
WEIGHTS_VERSION = 1  # bump when the network or its training changes, so saved backbones are not reused


def _augment(x, gen, min_scale: float):
    """A random resized crop (area min_scale..1, aspect 3/4..4/3) with a 50% horizontal flip, then, with
    probability 0.8, brightness/contrast jitter. ``x``: (B, C, S, S) in [0, 1]; random draws on the CPU."""
    import torch
    import torch.nn.functional as F

    n, dev = len(x), x.device

    def uniform(lo: float, hi: float, shape=(n,)):
        return torch.empty(shape).uniform_(lo, hi, generator=gen)

    side = uniform(min_scale, 1.0).sqrt()
    aspect = uniform(math.log(3 / 4), math.log(4 / 3)).exp().sqrt()
    sx, sy = (side * aspect).clamp(max=1.0), (side / aspect).clamp(max=1.0)
    tx, ty = uniform(-1.0, 1.0) * (1 - sx), uniform(-1.0, 1.0) * (1 - sy)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = F.affine_grid(theta.to(dev), list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    brightness = uniform(-0.2, 0.2, (n, 1, 1, 1)).to(dev)
    contrast = uniform(0.6, 1.4, (n, 1, 1, 1)).to(dev)
    apply = (torch.rand(n, 1, 1, 1, generator=gen) < 0.8).float().to(dev)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    jittered = ((y - mean) * contrast + mean + brightness).clamp(0.0, 1.0)
    return apply * jittered + (1 - apply) * y


def _heads(dim: int):
    """SimSiam's projector (2 layers, BN, the last without affine) and bottleneck predictor (dim -> dim/4 -> dim)."""
    from torch import nn

    projector = nn.Sequential(
        nn.Linear(dim, dim, bias=False),
        nn.BatchNorm1d(dim),
        nn.ReLU(inplace=True),
        nn.Linear(dim, dim, bias=False),
        nn.BatchNorm1d(dim, affine=False),
    )
    hidden = max(dim // 4, 8)
    predictor = nn.Sequential(
        nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim)
    )
    return projector, predictor


def weights_path(pool: Pool, params: dict | None = None, cache_dir=None):
    """Where the backbone trained on this pool with these params is (or will be) saved."""
    from alviz.embed import _torch, cache

    full = {**DEFAULTS, **(params or {})}
    # keyed by the epochs actually trained: "auto" at 10k and an explicit 15 share one backbone
    full["epochs"] = resolve_epochs(full["epochs"], min(len(pool), _torch.TRAIN_SAMPLE), full["batch_size"])
    cache_dir = cache_dir if cache_dir is not None else cache.default_cache_dir()
    keyed = {**full, "_version": WEIGHTS_VERSION, **_torch.sample_key(len(pool))}
    key = cache.cache_key(pool.content_hash(), "simsiam-backbone", keyed)
    return _torch.weights_file(cache_dir, key)


def resolve_epochs(epochs: int | str, n_items: int, batch_size: int) -> int:
    """The epochs to train for: ``"auto"`` (about TARGET_STEPS optimizer steps, within MIN_EPOCHS..MAX_EPOCHS)
    or a whole number given by the caller."""
    if epochs == "auto":
        steps_per_epoch = -(-n_items // max(2, min(int(batch_size), n_items)))
        return int(min(MAX_EPOCHS, max(MIN_EPOCHS, -(-TARGET_STEPS // steps_per_epoch))))
    try:
        return int(epochs)
    except (TypeError, ValueError):
        raise ValueError(f'epochs must be a whole number or "auto"; got {epochs!r}.') from None


def _check(pool: Pool, epochs, batch_size, size, width, lr, min_scale) -> None:
    if pool.images is None:
        raise ValueError(f"simsiam needs an image pool; {pool.name!r} holds {pool.kind}.")
    if len(pool) < 4:
        raise ValueError(f"simsiam needs at least 4 images to train on; {pool.name!r} has {len(pool)}.")
    if int(epochs) < 1 or int(batch_size) < 2 or int(width) < 4:
        raise ValueError(f"epochs >= 1, batch_size >= 2 and width >= 4 expected; got {epochs}, {batch_size}, {width}.")
    if not 8 <= int(size) <= 256:
        raise ValueError(f"size must be between 8 and 256 pixels; got {size}.")
    if not 0.05 <= float(min_scale) <= 1.0 or not float(lr) > 0:
        raise ValueError(f"min_scale must be in [0.05, 1] and lr > 0; got {min_scale}, {lr}.")


def _features(backbone, x):
    """The readout: the last two stages pooled to 2x2 grids, power-normalized."""
    from alviz.embed import _torch

    return _torch.power_normalize(backbone.features(x))


def reader(
    pool: Pool,
    epochs: int | str = "auto",
    batch_size: int = 64,
    size: int = 32,
    width: int = 32,
    lr: float = 0.002,
    min_scale: float = 0.5,
    seed: int = 0,
    progress=None,
    cache_dir=None,
    **_,
):
    """The backbone trained on this pool (or the one saved by an earlier call) as a picklable function of an image
    batch; training runs here, once, and only the weights travel to wherever the batches are read."""
    from functools import partial

    import torch
    import torch.nn.functional as F

    from alviz.embed import _torch

    params = dict(epochs=epochs, batch_size=batch_size, size=size, width=width, lr=lr, min_scale=min_scale, seed=seed)
    sample = _torch.train_rows(len(pool), seed)  # training runs on at most TRAIN_SAMPLE images
    epochs = resolve_epochs(epochs, len(sample), batch_size)
    _check(pool, epochs, batch_size, size, width, lr, min_scale)
    size = int(size)
    dev = _torch.device()
    gen = _torch.seeded(seed)
    channels = _torch.channels_of(pool.images)
    backbone = _torch.small_resnet(channels, int(width))
    path = weights_path(pool, params, cache_dir)

    if _torch.load_weights(backbone, path):
        if progress:
            progress(0.9, f"reusing the backbone trained earlier ({path.name})")
    else:
        projector, predictor = _heads(backbone.dim)
        nets = torch.nn.ModuleList([backbone, projector, predictor]).to(dev).train()
        opt, sched = _torch.one_cycle(nets.parameters(), lr, 1e-4, epochs, len(sample), batch_size)

        def step(rows: torch.Tensor) -> float:
            x = _torch.to_batch(pool.images[sample[rows.numpy()]], size, dev)
            x1, x2 = _augment(x, gen, float(min_scale)), _augment(x, gen, float(min_scale))
            z1, z2 = projector(backbone(x1)), projector(backbone(x2))
            p1, p2 = predictor(z1), predictor(z2)
            loss = -(F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean()) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            return float(loss.detach())

        _torch.train_epochs(step, len(sample), epochs, int(batch_size), gen, progress, (0.0, 0.9))
        backbone = backbone.cpu()
        _torch.save_weights(backbone, path)

    state = {k: v.detach().cpu() for k, v in backbone.state_dict().items()}
    build = partial(_torch.small_resnet, channels, int(width))
    return _torch.NetReader(build, state, _features, size, 256, channels)


def embed(
    pool: Pool, progress=None, cache_dir=None, view: str | None = None, **params
) -> tuple[np.ndarray, np.ndarray | None]:
    """The trained backbone's features for the pool and its test part; with ``view``, for the mirrored images (the
    network trained on the originals) and no test part."""
    from alviz.embed import read_trained

    return read_trained(reader, DEFAULTS, pool, params, progress, cache_dir, view)
