"""Flip consistency and loss prediction: the select contract, the mirrored view through the same fitted embedder,
zero disagreement on a mirror-symmetric image, loss prediction finding a planted hard region, and clear refusals
where there are no images to mirror.

Real data: the bundled sample (Fashion-MNIST images) and scikit-learn's digits, embedded with pixels_pca.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from alviz import datasets
from alviz.cli import main as cli_main
from alviz.embed import EMBEDDERS, Embedding, embed, embed_view
from alviz.model import Learner
from alviz.pool import Pool
from alviz.scores import symmetric_kl
from alviz.session import COLOR_SCORES, Session
from alviz.simulate import load_sim_data, load_xy, run
from alviz.store import Store
from alviz.strategies import NEEDS_FLIP, REGISTRY, QueryContext, select
from alviz.strategies.consistency import NeedsImages
from alviz.strategies.loss_prediction import MIN_PER_CLASS, fallback_reason, out_of_fold, predicted_loss

NAMES = ["consistency", "loss_prediction"]


@pytest.fixture(scope="module")
def digits():
    """(pool, X, X_flip) of the digits pool embedded with pixels_pca, and its mirrored view."""
    pool = datasets.load_digits_pool()
    return pool, embed(pool, "pixels_pca").X, embed(pool, "pixels_pca", view="hflip").X


def digits_context(digits, n_labeled: int = 200, seed: int = 0, y: np.ndarray | None = None) -> QueryContext:
    pool, X, X_flip = digits
    y = pool.y_true if y is None else y
    labeled = np.zeros(len(X), dtype=bool)
    labeled[np.random.default_rng(seed).choice(len(X), n_labeled, replace=False)] = True
    model = Learner(10).fit(X[labeled], y[labeled])
    y_known = np.where(labeled, y, -1)
    return QueryContext(X=X, labeled=labeled, y=y_known, proba=model.predict_proba(X), model=model, X_flip=X_flip)


@pytest.fixture(scope="module")
def planted() -> Pool:
    """The bundled sample's 2,000 images plus two planted ones: the last but one mirror-symmetric (the left half
    of a trouser image mirrored onto its right half), the last one strongly asymmetric (its right half blanked);
    and a mirrored pair: row 0's mirror image appended as row 2,000 (before the planted two)."""
    s = datasets.load_sample()
    src = s.images[0]
    sym = src.copy()
    sym[:, 14:] = src[:, :14][:, ::-1]
    asym = src.copy()
    asym[:, 14:] = 0
    images = np.concatenate([s.images, src[None, :, ::-1], sym[None], asym[None]])
    y = np.concatenate([s.y_true, [-1, -1, -1]])
    ids = [f"img-{i:04d}" for i in range(len(images))]
    return Pool(name="planted", ids=ids, images=images, y_true=y, class_names=s.class_names)


# ---------------------------------------------------------------------------------------------- the contract


def test_both_are_registered_and_consistency_asks_for_the_mirrored_view():
    assert set(NAMES) <= set(REGISTRY)
    assert NEEDS_FLIP == {"consistency"}
    assert "consistency" in COLOR_SCORES


@pytest.mark.parametrize("name", NAMES)
def test_k_distinct_unlabeled_indices_repeatable_for_a_seed(digits, name):
    ctx = digits_context(digits)
    picked = select(name, ctx, 25, rng=3)
    assert len(picked) == 25 and len(set(picked.tolist())) == 25 and not ctx.labeled[picked].any()
    assert select(name, ctx, 25, rng=3).tolist() == picked.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_before_the_first_model_they_still_pick(digits, name):
    pool, X, X_flip = digits
    labeled = np.zeros(len(X), dtype=bool)
    ctx = QueryContext(X=X, labeled=labeled, y=np.full(len(X), -1), X_flip=X_flip)
    picked = select(name, ctx, 10, rng=0)
    assert len(set(picked.tolist())) == 10


@pytest.mark.parametrize("name", NAMES)
def test_asking_for_more_than_is_left_returns_all_that_is_left(digits, name):
    pool, X, X_flip = digits
    ctx = digits_context(digits)
    labeled = np.ones(len(X), dtype=bool)
    labeled[[5, 50, 500]] = False
    ctx = dataclasses.replace(ctx, labeled=labeled, y=np.where(labeled, pool.y_true, -1))
    assert sorted(select(name, ctx, 10, rng=0).tolist()) == [5, 50, 500]


# ----------------------------------------------------------------------------------- the mirrored view (embed)


def test_the_mirrored_view_uses_the_pca_basis_fit_on_the_originals(planted):
    E = embed(planted, "pixels_pca")
    F = embed(planted, "pixels_pca", view="hflip")
    n = len(planted) - 3  # row n is row 0 mirrored
    # flipping a flip gives back the original vectors: row 0's view is row n's embedding, and the other way round
    np.testing.assert_allclose(F.X[0], E.X[n], atol=1e-5)
    np.testing.assert_allclose(F.X[n], E.X[0], atol=1e-5)
    np.testing.assert_allclose(F.X[n + 1], E.X[n + 1], atol=1e-5)  # a mirror-symmetric image is its own view
    assert np.abs(F.X[n + 2] - E.X[n + 2]).max() > 0.5  # an asymmetric one is not
    assert F.X_test is None and F.view == "hflip" and E.view is None


def test_the_mirrored_view_is_cached_apart_and_computed_once(planted, _private_cache):
    embed(planted, "pixels_pca")
    first = embed(planted, "pixels_pca", view="hflip")
    again = embed(planted, "pixels_pca", view="hflip")
    assert (first.from_cache, again.from_cache) == (False, True)
    assert len(list(_private_cache.glob("pixels_pca-*.npz"))) == 1  # the plain embedding's file is its own
    assert len(list(_private_cache.glob("pixels_pca.hflip-*.npz"))) == 1
    np.testing.assert_array_equal(first.X, again.X)


NETWORKS = {  # tiny settings: one short epoch where there is training
    "simsiam": ({"epochs": 1, "batch_size": 32, "size": 16, "width": 8}, "reusing the backbone trained earlier"),
    "autoencoder": ({"epochs": 1, "batch_size": 32, "size": 16, "width": 8, "dim": 8}, "reusing the encoder"),
    "efficientnet_lite0": ({"size": 32, "batch_size": 32}, None),
}


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(m, marks=pytest.mark.skipif(not EMBEDDERS[m].installed, reason=EMBEDDERS[m].install_command))
        for m in NETWORKS
    ],
)
def test_a_network_embeds_the_view_with_the_network_of_the_originals(planted, method):
    n = len(planted) - 3
    rows = np.r_[0:61, n, n + 1, n + 2]  # 64 images: row 0, its mirror image (61), a symmetric one (62), asymmetric
    small = Pool(name="p64", ids=planted.ids[rows], images=planted.images[rows])
    params, reuse = NETWORKS[method]
    E = embed(small, method, params)
    messages = []
    F = embed(small, method, params, progress=lambda f, m: messages.append(m), view="hflip")
    if reuse:
        assert any(reuse in m for m in messages)  # the trained network, not one retrained on the mirror images
    np.testing.assert_allclose(F.X[0], E.X[61], rtol=1e-4, atol=1e-4)  # flipping a flip: the original vector
    np.testing.assert_allclose(F.X[61], E.X[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(F.X[62], E.X[62], rtol=1e-4, atol=1e-4)  # mirror-symmetric: the same vector
    assert not np.allclose(F.X[63], E.X[63], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(embed_view(small, E), F.X)  # from the cache now


# ------------------------------------------------------------------------------------------- flip consistency


def test_symmetric_kl_is_zero_for_equal_predictions_and_symmetric():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    q = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    d = symmetric_kl(p, q)
    assert d[1] == 0.0 and d[0] > 1.0
    np.testing.assert_allclose(d, symmetric_kl(q, p))


def test_consistency_is_zero_for_a_mirror_symmetric_image_and_high_for_an_asymmetric_one(planted, tmp_path):
    emb = embed(planted, "pixels_pca")
    sess = Session(planted, emb, Store(tmp_path / "l.db"))
    rows = np.arange(600)
    sess.label_each(rows, [planted.class_names[c] for c in planted.y_true[rows]], "bulk")
    assert sess.score("consistency") is None  # no model yet
    sess.retrain()
    score = sess.score("consistency")
    n = len(planted) - 3
    assert score.shape == (len(planted),) and np.isfinite(score).all() and (score >= 0).all()
    assert score[n + 1] < 1e-6  # mirror-symmetric: the same prediction both ways
    assert score[n + 2] > 1.0 and score[n + 2] > np.median(score)  # half blanked: the mirror image is another item
    ranked = sess.query("consistency", 20)  # the 20 most flip-unstable unlabeled items
    assert score[ranked].min() >= np.sort(score[~sess.labeled])[-20] and n + 1 not in ranked


# -------------------------------------------------------------------------------------------- loss prediction


def hard_region(digits, seed: int):
    """A planted hard region: the 150 items nearest a random one get random labels (noise the model cannot fit)."""
    pool, X, _ = digits
    rng = np.random.default_rng(seed)
    center = rng.integers(len(X))
    region = np.zeros(len(X), dtype=bool)
    region[np.argsort(((X - X[center]) ** 2).sum(axis=1))[:150]] = True
    noisy = pool.y_true.copy()
    noisy[region] = rng.integers(0, 10, int(region.sum()))
    return region, noisy


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_prediction_ranks_a_planted_hard_region_above_easy_items(digits, seed):
    region, noisy = hard_region(digits, seed)
    ctx = digits_context(digits, n_labeled=400, seed=seed, y=noisy)
    assert fallback_reason(ctx) is None
    score = predicted_loss(ctx, np.random.default_rng(0))
    un = ~ctx.labeled
    assert roc_auc_score(region[un], score[un]) > 0.8  # random ranking: 0.5
    picked = select("loss_prediction", ctx, 40, rng=0)
    assert region[picked].mean() > 1.5 * region[un].mean()  # more hard items than a random batch holds


def test_out_of_fold_losses_are_higher_than_in_sample_ones(digits):
    pool, X, _ = digits
    rows = np.random.default_rng(0).choice(len(X), 150, replace=False)
    loss, P = out_of_fold(X[rows], pool.y_true[rows], 10)
    in_sample = Learner(10).fit(X[rows], pool.y_true[rows]).predict_proba(X[rows])
    in_loss = -np.log(np.clip(in_sample[np.arange(len(rows)), pool.y_true[rows]], 1e-4, 1))
    assert loss.mean() > 2 * in_loss.mean() and P.shape == (150, 10)


def test_loss_prediction_falls_back_to_margin_while_a_class_has_few_labels(digits):
    pool, X, X_flip = digits
    ctx = digits_context(digits, n_labeled=200)
    y = ctx.y.copy()
    sevens = np.flatnonzero(y == 7)
    y[sevens[MIN_PER_CLASS - 1 :]] = -1  # only MIN_PER_CLASS - 1 labeled sevens left
    labeled = y >= 0
    few = QueryContext(X=X, labeled=labeled, y=y, proba=ctx.proba, model=ctx.model, X_flip=X_flip)
    assert "margin" in fallback_reason(few)
    assert select("loss_prediction", few, 10, rng=0).tolist() == select("margin", few, 10, rng=0).tolist()


# ------------------------------------------------------------------------------- pools without images to mirror


TEXTS = ["the cat sat on the mat", "a cat purred on a mat", "my cat sleeps", "the car roared", "a fast car", "cars"]


@pytest.fixture
def text_session(tmp_path) -> Session:
    pool = Pool(name="pets-and-cars", ids=[f"t{i}" for i in range(6)], texts=TEXTS)
    sess = Session(pool, embed(pool, "tfidf"), Store(tmp_path / "t.db"))
    sess.label([0, 1], "cat")
    sess.label([3, 4], "car")
    sess.retrain()
    return sess


def test_a_text_pool_gets_a_clear_message_for_consistency(text_session):
    with pytest.raises(NeedsImages, match="consistency needs an image pool: 'pets-and-cars' holds texts"):
        text_session.score("consistency")
    with pytest.raises(ValueError, match="consistency needs an image pool"):
        text_session.query("consistency", 1)
    assert len(text_session.query("loss_prediction", 1)) == 1  # loss prediction needs no images


def test_select_without_a_mirrored_view_says_why(digits):
    ctx = digits_context(digits)
    bare = QueryContext(X=ctx.X, labeled=ctx.labeled, y=ctx.y, proba=ctx.proba, model=ctx.model)
    with pytest.raises(NeedsImages, match="consistency needs an image pool: .*no images to mirror"):
        select("consistency", bare, 5, rng=0)


def test_an_image_pool_with_precomputed_vectors_cannot_be_mirrored(planted, tmp_path):
    vectors = embed(planted, "pixels_pca").X
    pool = Pool(name="with-vectors", ids=planted.ids, images=planted.images, vectors=vectors)
    sess = Session(pool, embed(pool, "precomputed"), Store(tmp_path / "v.db"))
    with pytest.raises(NeedsImages, match="came with the data"):
        sess.score("consistency")
    with pytest.raises(ValueError, match="came with the data"):
        embed_view(pool, Embedding(vectors, None, "precomputed"))


# ---------------------------------------------------------------------------------------------- the simulator


def test_load_sim_data_splits_the_mirrored_view_row_for_row(tmp_path):
    """An image folder has no test part: the simulation splits one off, and the mirrored view the same way."""
    s = datasets.load_sample()
    for c in (1, 7):  # trousers and sneakers, 40 of each
        (tmp_path / s.class_names[c]).mkdir()
        for i in np.flatnonzero(s.y_true == c)[:40]:
            Image.fromarray(s.images[i]).save(tmp_path / s.class_names[c] / f"{i}.png")
    d = load_sim_data(str(tmp_path), flip=True)
    X, y, X_test, y_test, name = load_xy(str(tmp_path))
    np.testing.assert_array_equal(d.X, X)  # the same data and split as without the view
    np.testing.assert_array_equal(d.X_test, X_test)
    assert d.X_flip.shape == d.X.shape and len(d.X) + len(d.X_test) == 80
    pool = datasets.load(str(tmp_path))
    E, F = embed(pool, "pixels_pca").X, embed(pool, "pixels_pca", view="hflip").X
    for r in (0, 7, len(d.X) - 1):
        row = np.flatnonzero((E == d.X[r]).all(axis=1))[0]  # the pool row that became simulation row r
        np.testing.assert_array_equal(d.X_flip[r], F[row])
    assert load_sim_data(str(tmp_path)).X_flip is None


def test_simulate_runs_both_and_refuses_consistency_without_images(digits):
    d = load_sim_data("digits", flip=True)
    res = run(d.X, d.y, d.X_test, d.y_test, NAMES, initial=20, batch=10, rounds=2, repeats=1, X_flip=d.X_flip)
    assert set(res["strategies"]) == set(NAMES)
    assert all(v["n_labeled"] == [20, 30, 40] for v in res["strategies"].values())
    with pytest.raises(ValueError, match="consistency needs an image pool"):
        run(d.X, d.y, d.X_test, d.y_test, ["consistency"], rounds=1, repeats=1, data_name="vectors.npz")


def test_simulate_cli_runs_consistency_on_digits(tmp_path):
    out = tmp_path / "r.json"
    args = ["--data", "digits", "--strategies", "consistency,loss_prediction", "--rounds", "2", "--repeats", "1"]
    assert cli_main(["simulate", *args, "--batch", "10", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["strategies"]) == set(NAMES)
