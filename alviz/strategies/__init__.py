"""Query strategies: plain functions ``(ctx, k, rng) -> k pool indices``, registered by name.

``select`` is the public entry: it checks the request, calls the strategy and checks the answer
(k distinct unlabeled indices). Strategies never see ground truth of unlabeled items.

Adding a strategy touches one file: a module in this package whose function carries
``@register(name, needs=..., description=..., rank=...)``. Every module here is imported below, so it
registers itself; ``INFO`` then says what it needs (``COMMITTEE``, ``NEEDS_FLIP``) and ``ordered()`` where the
UI lists it.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

from alviz.strategies.base import (
    INFO,
    NEEDS,
    REGISTRY,
    NeedsCommittee,
    QueryContext,
    Strategy,
    StrategyInfo,
    register,
    require_committee,
    top_k_unlabeled,
)

__all__ = [
    "COMMITTEE",
    "INFO",
    "NEEDS",
    "NEEDS_FLIP",
    "REGISTRY",
    "NeedsCommittee",
    "QueryContext",
    "Strategy",
    "StrategyInfo",
    "ordered",
    "register",
    "require_committee",
    "select",
    "top_k_unlabeled",
]

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")  # registers the module's strategies

COMMITTEE = frozenset(name for name, info in INFO.items() if "committee" in info.needs)  # need ctx.committee_proba
NEEDS_FLIP = frozenset(name for name, info in INFO.items() if "flip" in info.needs)  # need ctx.X_flip (image pools)
random = REGISTRY["random"]


def ordered() -> list[StrategyInfo]:
    """Every registered strategy, in the order the UI lists them (rank, then name)."""
    return sorted(INFO.values(), key=lambda info: (info.rank, info.name))


def select(name: str, ctx: QueryContext, k: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """k distinct unlabeled pool indices picked by strategy ``name`` (all that is left if fewer)."""
    if name not in REGISTRY:
        raise ValueError(f"Unknown strategy {name!r}; valid names are: {', '.join(sorted(REGISTRY))}.")
    if not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive whole number of items; got {k!r}.")
    n_left = int((~ctx.labeled).sum())
    if n_left == 0:
        raise ValueError("Nothing left to label: every item in the pool is labeled.")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if k >= n_left:
        return np.flatnonzero(~ctx.labeled)
    picked = np.asarray(REGISTRY[name](ctx, int(k), rng), dtype=np.int64)
    if len(picked) != k or len(np.unique(picked)) != k or ctx.labeled[picked].any():
        raise RuntimeError(f"strategy {name!r} broke its contract: it must return {k} distinct unlabeled indices")
    return picked
