"""VAAL, Variational Adversarial Active Learning (Sinha, Ebrahimi & Darrell, ICCV 2019), on the embedding.

A small variational autoencoder learns a latent space of the pool; a discriminator learns to tell the latent
codes of labeled items from those of unlabeled ones, while the VAE is also trained to fool it (to map both to
codes the discriminator calls "labeled"). What the discriminator can still tell apart is what the labels do not
represent, so VAAL queries the items it is most confident are unlabeled.

The paper works on pixels with a convolutional VAE; here the input is the embedding (standardized), so both nets
are two-layer MLPs and a query costs the same on a CPU whatever the pool size: a fixed number of steps on
batches drawn from the labeled and the unlabeled items, then one scoring pass over the unlabeled ones.
Seeded from the query's rng (the nets' initial weights and every batch), so a seed gives the same picks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alviz.strategies.base import QueryContext, register, top_k_unlabeled
from alviz.strategies.uncertainty import random

STEPS = 100  # optimizer steps of the VAE and of the discriminator each (more picked worse in the test pool of
# tests/unit/test_vaal.py: the VAE learns to fool the discriminator)
BATCH = 128  # items per side (labeled / unlabeled) in a step
HIDDEN, LATENT = 128, 32
ADVERSARIAL = 1.0  # weight of the VAE's "fool the discriminator" term (the paper's lambda_2 = 1)
KL_WEIGHT = 1.0
SCORE_ROWS = 65_536  # unlabeled rows scored per block


def _nets(d: int):
    import torch
    from torch import nn

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(d, HIDDEN), nn.ReLU())
            self.mu, self.logvar = nn.Linear(HIDDEN, LATENT), nn.Linear(HIDDEN, LATENT)
            self.dec = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, d))

        def forward(self, x, gen):
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h).clamp(-8, 8)
            eps = torch.randn(mu.shape, generator=gen)
            return self.dec(mu + eps * (0.5 * logvar).exp()), mu, logvar

    disc = nn.Sequential(
        nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1)
    )
    return VAE(), disc


def vaal_scores(
    X: np.ndarray,
    labeled: np.ndarray,
    rng: np.random.Generator,
    steps: int = STEPS,
    progress: Callable[[float, str], None] | None = None,
) -> np.ndarray:
    """(N,) the discriminator's probability that each item is *unlabeled* (NaN for labeled items)."""
    import torch

    lab, unl = np.flatnonzero(labeled), np.flatnonzero(~labeled)
    sample = np.asarray(X[np.sort(rng.choice(len(X), min(len(X), 10_000), replace=False))], np.float32)
    mean = sample.mean(axis=0)
    scale = float(np.sqrt(((sample - mean) ** 2).mean())) or 1.0  # one scale for all features, as the learner

    def batch(rows: np.ndarray):
        return torch.from_numpy((np.asarray(X[np.sort(rows)], np.float32) - mean) / scale)

    seed = int(rng.integers(2**31))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # nets this small lose to thread hand-offs
    try:
        return _train_and_score(X, lab, unl, batch, seed, rng, steps, progress)
    finally:
        torch.set_num_threads(threads)


def _train_and_score(X, lab, unl, batch, seed, rng, steps, progress) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's torch state
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        vae, disc = _nets(X.shape[1])
        opt_v = torch.optim.Adam(vae.parameters(), lr=1e-3)
        opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
        ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
        for step in range(steps):
            xl = batch(rng.choice(lab, BATCH, replace=True))  # few labels: drawn with replacement
            xu = batch(rng.choice(unl, BATCH, replace=len(unl) < BATCH))
            x = torch.cat([xl, xu])
            recon, mu, logvar = vae(x, gen)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1).mean()
            fool = F.binary_cross_entropy_with_logits(disc(mu), torch.cat([ones, ones]))
            loss = F.mse_loss(recon, x) + KL_WEIGHT * kl / X.shape[1] + ADVERSARIAL * fool
            opt_v.zero_grad()
            loss.backward()
            opt_v.step()
            d_loss = F.binary_cross_entropy_with_logits(disc(mu.detach()), torch.cat([ones, zeros]))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            if progress and (step + 1) % 25 == 0:
                progress((step + 1) / steps, f"VAAL step {step + 1}/{steps}")
        out = np.full(len(X), np.nan, dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(unl), SCORE_ROWS):
                rows = unl[start : start + SCORE_ROWS]
                mu = vae.mu(vae.enc(batch(rows)))
                out[rows] = torch.sigmoid(-disc(mu)).squeeze(1).numpy()  # P(unlabeled)
    return out


@register(
    "vaal",
    description="items a discriminator is surest your labels do not cover (trains a small VAE, a second or two)",
    rank=150,
)
def vaal(ctx: QueryContext, k: int, rng: np.random.Generator) -> np.ndarray:
    """The k items VAAL's discriminator is surest are unlabeled (random before the first label)."""
    if not ctx.labeled.any():
        return random(ctx, k, rng)
    return top_k_unlabeled(vaal_scores(ctx.X, ctx.labeled, rng), ctx.labeled, k, rng)
