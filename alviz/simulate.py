"""Oracle simulation of the active-learning loop, and learning curves to compare strategies.

Every strategy in one repeat starts from the same random initial labels; the oracle answers with the
ground truth; after each round the model is refit and scored on the held-out test part.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from alviz.model import Learner, committee_proba, fit_committee
from alviz.strategies import COMMITTEE, NEEDS_FLIP, REGISTRY, QueryContext, select

Progress = Callable[[float, str], None]


def check_strategies(names: Sequence[str]) -> list[str]:
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ValueError(f"Name at least one strategy; valid names are: {', '.join(REGISTRY)}.")
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"Unknown strategy {', '.join(map(repr, unknown))}; valid names are: {', '.join(REGISTRY)}.")
    return names


def _fit_and_score(X, y, labeled, X_test, y_test, n_classes, model, seed, committee: bool, X_flip=None):
    """(test accuracy, context for the next query)."""
    ys = y[labeled]
    present = np.unique(ys)
    y_known = np.where(labeled, y, -1)
    if len(present) < 2:  # one class so far: the only possible model predicts it
        acc = float((y_test == present[0]).mean()) if len(present) else 0.0
        return acc, QueryContext(X=X, labeled=labeled, y=y_known, X_flip=X_flip)
    learner = Learner(n_classes, random_state=seed, kind=model).fit(X[labeled], ys)
    acc = float((learner.predict(X_test) == y_test).mean())
    cp = committee_proba(fit_committee(X[labeled], ys, n_classes, seed=seed, kind=model), X) if committee else None
    return acc, QueryContext(
        X=X,
        labeled=labeled,
        y=y_known,
        proba=learner.predict_proba(X),
        committee_proba=cp,
        model=learner,
        X_flip=X_flip,
    )


def simulate_strategy(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    strategy: str,
    initial_rows: np.ndarray,
    batch: int,
    rounds: int,
    seed: int = 0,
    model: str = "logreg",
    on_round: Callable[[], None] | None = None,
    X_flip: np.ndarray | None = None,
) -> tuple[list[int], list[float], float]:
    """One learning curve: (n_labeled per point, accuracy per point, seconds per round). ``X_flip``: the
    embedding of the mirrored pool images, for strategies in NEEDS_FLIP (image pools only)."""
    n_classes = int(max(y.max(), y_test.max()) + 1)
    labeled = np.zeros(len(X), dtype=bool)
    labeled[initial_rows] = True
    rng = np.random.default_rng(seed)
    sizes, accs, times = [], [], []
    for r in range(rounds + 1):
        t0 = time.perf_counter()
        acc, ctx = _fit_and_score(X, y, labeled, X_test, y_test, n_classes, model, seed, strategy in COMMITTEE, X_flip)
        sizes.append(int(labeled.sum()))
        accs.append(acc)
        if r == rounds or labeled.all():
            break
        labeled = labeled.copy()
        labeled[select(strategy, ctx, batch, rng)] = True
        times.append(time.perf_counter() - t0)
        if on_round:
            on_round()
    return sizes, accs, float(np.mean(times)) if times else 0.0


def run(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    strategies: Sequence[str],
    initial: int = 20,
    batch: int = 20,
    rounds: int = 10,
    repeats: int = 3,
    model: str = "logreg",
    seed: int = 0,
    data_name: str = "",
    progress: Progress | None = None,
    X_flip: np.ndarray | None = None,
) -> dict:
    """Simulate each strategy ``repeats`` times; returns the result.json structure of DESIGN.md §4.

    ``X_flip`` (N, d): the pool's mirrored images through the same embedder (``load_sim_data(..., flip=True)``);
    needed by ``consistency``, which is refused up front without it."""
    strategies = check_strategies(strategies)
    flip_needed = [s for s in strategies if s in NEEDS_FLIP]
    if flip_needed and X_flip is None:
        raise ValueError(
            f"{', '.join(flip_needed)} needs an image pool: it compares predictions on each image and its mirror "
            f"image, and {data_name or 'this data'} comes without mirrored images (vectors or text)."
        )
    if X_flip is not None:
        X_flip = np.asarray(X_flip, np.float32)
        if X_flip.shape != np.shape(X):
            raise ValueError(f"X_flip has shape {X_flip.shape}, X has {np.shape(X)}: they must match row for row.")
    X, y = np.asarray(X, np.float32), np.asarray(y, np.int64)
    X_test, y_test = np.asarray(X_test, np.float32), np.asarray(y_test, np.int64)
    if len(X) != len(y) or len(X_test) != len(y_test):
        raise ValueError(f"X has {len(X)} rows and y {len(y)}; X_test {len(X_test)} and y_test {len(y_test)}.")
    for name, v in (("initial", initial), ("batch", batch), ("rounds", rounds), ("repeats", repeats)):
        if v < 1:
            raise ValueError(f"{name} must be at least 1; got {v}.")
    if initial >= len(X):
        raise ValueError(f"initial ({initial}) must be smaller than the pool ({len(X)} items).")
    total = len(strategies) * repeats * rounds
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0] / total, f"{done[0]}/{total} rounds")

    runs: dict[str, list] = {s: [] for s in strategies}
    secs: dict[str, list] = {s: [] for s in strategies}
    sizes: dict[str, list[int]] = {}
    for rep in range(repeats):
        init = np.random.default_rng(seed + 1000 * rep).choice(len(X), initial, replace=False)
        for s in strategies:
            n, acc, sec = simulate_strategy(
                X,
                y,
                X_test,
                y_test,
                s,
                init,
                batch,
                rounds,
                seed + rep,
                model,
                tick,
                X_flip if s in NEEDS_FLIP else None,
            )
            runs[s].append(acc)
            secs[s].append(sec)
            sizes[s] = n
    out = {
        "data": data_name,
        "n_pool": len(X),
        "n_test": len(X_test),
        "initial": initial,
        "batch": batch,
        "rounds": rounds,
        "repeats": repeats,
        "model": model,
        "seed": seed,
        "strategies": {},
    }
    for s in strategies:
        width = min(len(r) for r in runs[s])
        arr = np.array([r[:width] for r in runs[s]])
        out["strategies"][s] = {
            "n_labeled": sizes[s][:width],
            "accuracy_mean": arr.mean(axis=0).round(5).tolist(),
            "accuracy_std": arr.std(axis=0).round(5).tolist(),
            "runs": arr.round(5).tolist(),
            "auc": round(float(arr.mean()), 5),
            "seconds_per_round": round(float(np.mean(secs[s])), 5),
        }
    return out


def load_xy(data: str, seed: int = 0, n_pool: int | None = None, n_test: int | None = None, test_fraction: float = 0.2):
    """(X, y, X_test, y_test, name) for a dataset name (embedded with pixels_pca) or an .npz with X and y."""
    d = load_sim_data(data, seed, n_pool, n_test, test_fraction)
    return d.X, d.y, d.X_test, d.y_test, d.name


@dataclass(frozen=True)
class SimData:
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    X_flip: np.ndarray | None = None  # row i: pool item i mirrored, same embedder (image data with flip=True)


def load_sim_data(
    data: str,
    seed: int = 0,
    n_pool: int | None = None,
    n_test: int | None = None,
    test_fraction: float = 0.2,
    flip: bool = False,
    method: str | None = None,
    params: dict | None = None,
    progress: Progress | None = None,
) -> SimData:
    """``load_xy``'s data, and with ``flip`` (image data only; else X_flip stays None) the embedding of the mirrored
    pool images through the same PCA, split row for row with X. ``method``/``params``: another embedder for a
    named image dataset (default pixels_pca), e.g. simsiam for the SSL study; ``progress`` follows its work."""
    from alviz import datasets
    from alviz.embed import embed

    X_flip = None
    if data.endswith(".npz"):
        pool = datasets.load_npz_xy(data)
        X, y = pool.vectors, pool.y_true
        X_test = pool.test.vectors if pool.test is not None else None
    else:
        kwargs = {"n_pool": n_pool, "n_test": n_test} if data == "fashion-mnist" else {}
        pool = datasets.load(data, **kwargs)
        if not pool.has_ground_truth:
            raise ValueError(f"{data!r} has no ground truth: a simulation needs labels to play the oracle.")
        method = method or ("pixels_pca" if pool.images is not None else "precomputed")
        emb = embed(pool, method, params, progress=progress)
        X, y, X_test = emb.X, pool.y_true, emb.X_test
        if flip and pool.images is not None:
            X_flip = embed(pool, method, params, view="hflip").X
    y_test = pool.test.y_true if pool.test is not None else None
    return oracle_split(X, y, X_test, y_test, X_flip, test_fraction=test_fraction, seed=seed, name=pool.name)


def oracle_split(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    X_flip: np.ndarray | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    name: str = "",
) -> SimData:
    """What an oracle simulation plays on: the items with ground truth (``y`` >= 0; ``X_flip`` row for row), and as
    test set the given one's items with ground truth, else a stratified ``test_fraction`` of them held out.

    The held-out split depends on ``y``, the number of items and ``seed`` only, so it is the same with or without
    ``X_flip``."""
    keep = np.asarray(y) >= 0
    if not keep.any():
        raise ValueError(f"{name or 'The data'} has no ground truth: a simulation needs labels to play the oracle.")
    X, y = X[keep], y[keep]
    X_flip = X_flip[keep] if X_flip is not None else None
    if X_test is not None and y_test is not None and (y_test >= 0).any():
        test_keep = y_test >= 0
        return SimData(X, y, X_test[test_keep], y_test[test_keep], name, X_flip)
    arrays = (X, y) if X_flip is None else (X, y, X_flip)
    parts = train_test_split(*arrays, test_size=test_fraction, stratify=y, random_state=seed)
    return SimData(parts[0], parts[2], parts[1], parts[3], name, parts[4] if X_flip is not None else None)


def random_baseline(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    sizes: Sequence[int],
    repeats: int = 3,
    seed: int = 0,
    model: str = "logreg",
) -> tuple[list[float], list[float]]:
    """Mean and std test accuracy of a model trained on ``n`` random oracle labels, for each n in sizes:
    the curve a session's own learning curve should rise above."""
    n_classes = int(max(y.max(), y_test.max()) + 1)
    accs = np.zeros((repeats, len(sizes)))
    for rep in range(repeats):
        order = np.random.default_rng(seed + rep).permutation(len(X))
        for j, n in enumerate(sizes):
            rows = order[: min(int(n), len(X))]
            labeled = np.zeros(len(X), dtype=bool)
            labeled[rows] = True
            accs[rep, j], _ = _fit_and_score(X, y, labeled, X_test, y_test, n_classes, model, seed, False)
    return accs.mean(axis=0).tolist(), accs.std(axis=0).tolist()
